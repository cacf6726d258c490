package rollout_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// t0 is when every test rollout starts.
var t0 = time.Date(2031, time.January, 1, 0, 0, 0, 0, time.UTC)

const (
	from   = "app-r1"
	target = "app-r2"
)

// fixture is a rollout under test: its input, replanned step by step the
// way the controller would (the status and admissions of one plan feed the
// next), with helpers to change the fleet in between.
type fixture struct {
	t  *testing.T
	in rollout.Input
	d  rollout.Decision
}

func newFixture(t *testing.T, s fleetv1alpha1.RolloutStrategySpec, clusters ...rollout.ClusterObservation) *fixture {
	t.Helper()
	return &fixture{t: t, in: rollout.Input{
		Now:      t0,
		Strategy: s,
		Spec:     fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: from, TargetRevision: target},
		Clusters: clusters,
	}}
}

// plan runs Plan, keeps its decision and status, and executes its admissions.
func (f *fixture) plan() {
	f.t.Helper()
	d, err := rollout.Plan(f.in)
	if err != nil {
		f.t.Fatalf("plan at %s: %v", f.in.Now.Sub(t0), err)
	}
	f.d = d
	f.in.Status = d.Status
	for _, a := range d.Admit {
		f.update(a.Cluster, func(o *rollout.ClusterObservation) {
			o.Revision, o.AdmittedAt = a.Revision, f.in.Now
			o.Health, o.HealthSince = rollout.HealthProgressing, f.in.Now
		})
	}
}

// at moves the clock to t0+d.
func (f *fixture) at(d time.Duration) *fixture {
	f.in.Now = t0.Add(d)
	return f
}

// healthy makes clusters healthy on what they render, now.
func (f *fixture) healthy(names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			o.AppliedRevision, o.Health, o.HealthSince = o.Revision, rollout.HealthHealthy, f.in.Now
		})
	}
	return f
}

// failing makes clusters fail on what they render, now.
func (f *fixture) failing(names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			o.AppliedRevision, o.Health, o.HealthSince = o.Revision, rollout.HealthFailed, f.in.Now
			o.Reason, o.Message = "ApplyFailed", "Deployment app: admission webhook denied"
		})
	}
	return f
}

// progressing makes clusters converge again, now.
func (f *fixture) progressing(names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			o.Health, o.HealthSince = rollout.HealthProgressing, f.in.Now
		})
	}
	return f
}

// online sets clusters' heartbeat; one that comes back online is online
// since now, as the hub dates it.
func (f *fixture) online(up bool, names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			if up && !o.Online {
				o.OnlineSince = f.in.Now
			}
			o.Online = up
		})
	}
	return f
}

func (f *fixture) update(name string, fn func(*rollout.ClusterObservation)) {
	f.t.Helper()
	i := slices.IndexFunc(f.in.Clusters, func(o rollout.ClusterObservation) bool { return o.Name == name })
	if i < 0 {
		f.t.Fatalf("no cluster %s", name)
	}
	fn(&f.in.Clusters[i])
}

// healthyAll makes every admitted cluster healthy, now.
func (f *fixture) healthyAll() *fixture {
	for _, o := range f.in.Clusters {
		if o.Revision != o.AppliedRevision || o.Health != rollout.HealthHealthy {
			f.healthy(o.Name)
		}
	}
	return f
}

// admitted names the clusters of the last decision's admissions.
func (f *fixture) admitted() []string {
	var names []string
	for _, a := range f.d.Admit {
		names = append(names, a.Cluster)
	}
	return names
}

// wantPhase checks the phase and current wave.
func (f *fixture) wantPhase(phase fleetv1alpha1.RolloutPhase, wave string) {
	f.t.Helper()
	st := f.d.Status
	if st.Phase != phase || st.CurrentWave != wave {
		f.t.Fatalf("at %s: phase %s wave %q, want %s wave %q (history: %s)", f.in.Now.Sub(t0), st.Phase, st.CurrentWave, phase, wave, history(st))
	}
}

// wantAdmitted checks the last plan's admissions, in order.
func (f *fixture) wantAdmitted(names ...string) {
	f.t.Helper()
	if got := f.admitted(); !slices.Equal(got, names) {
		f.t.Fatalf("at %s: admitted %v, want %v", f.in.Now.Sub(t0), got, names)
	}
}

// wave finds a wave's status.
func (f *fixture) wave(name string) fleetv1alpha1.WaveStatus {
	f.t.Helper()
	for _, w := range f.d.Status.Waves {
		if w.Name == name {
			return w
		}
	}
	f.t.Fatalf("no wave %s in %v", name, f.d.Status.Waves)
	return fleetv1alpha1.WaveStatus{}
}

// condition finds a condition of the last status.
func (f *fixture) condition(typ string) *metav1.Condition {
	return meta.FindStatusCondition(f.d.Status.Conditions, typ)
}

// lastHistory is the newest history entry.
func (f *fixture) lastHistory() fleetv1alpha1.HistoryEntry {
	f.t.Helper()
	h := f.d.Status.History
	if len(h) == 0 {
		f.t.Fatal("no history")
	}
	return h[len(h)-1]
}

func history(st fleetv1alpha1.RolloutStatus) string {
	s := ""
	for _, h := range st.History {
		s += fmt.Sprintf("[%s→%s %s by %s: %s] ", h.From, h.To, h.Wave, h.Actor, h.Message)
	}
	return s
}

// cluster is an online cluster healthy on fromRevision.
func cluster(name string, labels ...string) rollout.ClusterObservation {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return rollout.ClusterObservation{Name: name, Labels: l, Online: true, Revision: from, AppliedRevision: from,
		Health: rollout.HealthHealthy, HealthSince: t0.Add(-time.Hour)}
}

// clusters is n clusters named prefix-1 … prefix-n with the labels.
func clusters(prefix string, n int, labels ...string) []rollout.ClusterObservation {
	out := make([]rollout.ClusterObservation, n)
	for i := range out {
		out[i] = cluster(fmt.Sprintf("%s-%d", prefix, i+1), labels...)
	}
	return out
}

// names lists m-1 … m-n, the clusters of clusters("m", n).
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("m-%d", i+1)
	}
	return out
}

// wave builds a strategy wave selecting ring=name.
func wave(name string, opts ...func(*fleetv1alpha1.Wave)) fleetv1alpha1.Wave {
	w := fleetv1alpha1.Wave{Name: name, Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}}}
	for _, o := range opts {
		o(&w)
	}
	return w
}

func catchAll(w *fleetv1alpha1.Wave) { w.Selector = nil }

func concurrency(v string) func(*fleetv1alpha1.Wave) {
	return func(w *fleetv1alpha1.Wave) { w.MaxConcurrency = ptr(intstr.Parse(v)) }
}

func failures(v string) func(*fleetv1alpha1.Wave) {
	return func(w *fleetv1alpha1.Wave) { w.MaxFailures = ptr(intstr.Parse(v)) }
}

func bake(d time.Duration) func(*fleetv1alpha1.Wave) {
	return func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: d} }
}

func deadline(d time.Duration) func(*fleetv1alpha1.Wave) {
	return func(w *fleetv1alpha1.Wave) { w.ProgressDeadline = &metav1.Duration{Duration: d} }
}

func approval(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }

func strategy(waves ...fleetv1alpha1.Wave) fleetv1alpha1.RolloutStrategySpec {
	return fleetv1alpha1.RolloutStrategySpec{Waves: waves}
}

func record(by string, at time.Time, msg string) fleetv1alpha1.ChangeRecord {
	return fleetv1alpha1.ChangeRecord{By: by, At: ptr(metav1.NewTime(at)), Message: msg}
}

func ptr[T any](v T) *T { return &v }
