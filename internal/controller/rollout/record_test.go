package rollout

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

func TestRollbackCause(t *testing.T) {
	requested := fleetv1alpha1.RolloutSpec{Rollback: &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob"}}}
	held := &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "f"}
	back := &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "f", RolledBackBy: "f"}
	const (
		progressing = fleetv1alpha1.RolloutPhaseProgressing
		rollingBack = fleetv1alpha1.RolloutPhaseRollingBack
		rolledBack  = fleetv1alpha1.RolloutPhaseRolledBack
	)
	for _, tt := range []struct {
		name     string
		spec     fleetv1alpha1.RolloutSpec
		freeze   *fleetv1alpha1.RolloutFreezeStatus
		from, to fleetv1alpha1.RolloutPhase
		want     metrics.RollbackCause
		started  bool
	}{
		{name: "failure budget", from: progressing, to: rollingBack, want: metrics.RollbackFailure, started: true},
		{name: "failure budget during a halting freeze", freeze: held, from: progressing, to: rollingBack, want: metrics.RollbackFailure, started: true},
		{name: "requested", spec: requested, from: fleetv1alpha1.RolloutPhaseHalted, to: rollingBack, want: metrics.RollbackManual, started: true},
		{name: "requested during a Rollback freeze", spec: requested, freeze: held, from: progressing, to: rollingBack, want: metrics.RollbackManual, started: true},
		{name: "Rollback freeze", freeze: back, from: fleetv1alpha1.RolloutPhaseBaking, to: rollingBack, want: metrics.RollbackFreeze, started: true},
		{name: "Rollback freeze over a request that cannot proceed", spec: requested, freeze: back, from: progressing, to: rollingBack,
			want: metrics.RollbackFreeze, started: true},
		{name: "still rolling back", spec: requested, from: rollingBack, to: rollingBack},
		{name: "rolled back", spec: requested, from: rollingBack, to: rolledBack},
		{name: "no rollback", freeze: held, from: progressing, to: fleetv1alpha1.RolloutPhasePaused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := &fleetv1alpha1.RolloutStatus{Phase: tt.from}
			st := &fleetv1alpha1.RolloutStatus{Phase: tt.to, Freeze: tt.freeze}
			got, started := rollbackCause(tt.spec, old, st)
			if got != tt.want || started != tt.started {
				t.Errorf("rollbackCause = %q, %v; want %q, %v", got, started, tt.want, tt.started)
			}
		})
	}
}

// A step that a freeze holds or rolls back records one Event on the
// FleetFreeze and counts the transition and the rollback.
func TestRecordFreezeEvents(t *testing.T) {
	frozenCond := []metav1.Condition{{Type: fleetv1alpha1.ConditionFrozen, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonFleetFrozen}}
	for _, tt := range []struct {
		name         string
		action       fleetv1alpha1.FreezeAction
		from, to     fleetv1alpha1.RolloutPhase
		wasFrozen    bool
		event        string
		rollbacks    float64
		transitioned float64
	}{
		{name: "held", action: fleetv1alpha1.FreezeHalt, from: fleetv1alpha1.RolloutPhaseProgressing, to: fleetv1alpha1.RolloutPhasePaused,
			event: "Normal RolloutHeld holds Rollout flotilla-system/web-2 (Paused, wave canary)", transitioned: 1},
		{name: "rolled back", action: fleetv1alpha1.FreezeRollback, from: fleetv1alpha1.RolloutPhaseProgressing, to: fleetv1alpha1.RolloutPhaseRollingBack,
			event: "Warning RolloutRolledBack rolls back Rollout flotilla-system/web-2 to web-1", rollbacks: 1, transitioned: 1},
		{name: "held before", action: fleetv1alpha1.FreezeHalt, from: fleetv1alpha1.RolloutPhasePaused, to: fleetv1alpha1.RolloutPhasePaused, wasFrozen: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "incident"}, Spec: fleetv1alpha1.FleetFreezeSpec{Action: tt.action}}
			c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(f).Build()
			rec := events.NewFakeRecorder(10)
			reg := prometheus.NewRegistry()
			m, err := metrics.NewHub(reg, c, clocktesting.NewFakePassiveClock(t0), make(chan struct{}))
			if err != nil {
				t.Fatal(err)
			}
			r := &Reconciler{Client: c, Recorder: rec, Metrics: m}
			old := fleetv1alpha1.RolloutStatus{Phase: tt.from, CurrentWave: "canary"}
			if tt.wasFrozen {
				old.Conditions = frozenCond
				old.Freeze = &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "incident"}
			}
			ro := &fleetv1alpha1.Rollout{
				ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "web-2"},
				Spec:       fleetv1alpha1.RolloutSpec{FromRevision: "web-1", TargetRevision: "web-2"},
				Status: fleetv1alpha1.RolloutStatus{Phase: tt.to, CurrentWave: "canary", Conditions: frozenCond,
					Freeze: &fleetv1alpha1.RolloutFreezeStatus{HeldBy: "incident"}},
			}
			if tt.to == fleetv1alpha1.RolloutPhaseRollingBack {
				ro.Status.RollbackRevision = "web-1"
				ro.Status.Freeze.RolledBackBy = "incident"
			}
			r.record(context.Background(), ro, old, rollout.Decision{})

			var got []string
			for len(rec.Events) > 0 {
				got = append(got, <-rec.Events)
			}
			if tt.event == "" && len(got) != 0 || tt.event != "" && (len(got) != 1 || got[0] != tt.event) {
				t.Errorf("events %q, want %q", got, tt.event)
			}
			if n := counterValue(t, reg, "flotilla_rollout_rollbacks_total", "freeze", "platform"); n != tt.rollbacks {
				t.Errorf("freeze rollbacks %v, want %v", n, tt.rollbacks)
			}
			if n := counterValue(t, reg, "flotilla_rollout_transitions_total", "platform", string(tt.to)); n != tt.transitioned {
				t.Errorf("transitions to %s: %v, want %v", tt.to, n, tt.transitioned)
			}
		})
	}
}

// counterValue is the value of the series of counter name with these label
// values, in the order of the labels' names (as Prometheus sorts them).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, values ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%q", name, values)
	return 0
}

func TestNewFailures(t *testing.T) {
	f := func(cluster, reason string) fleetv1alpha1.ClusterFailure {
		return fleetv1alpha1.ClusterFailure{Cluster: cluster, Wave: "pilot", Reason: reason, Message: "team/web: Pod web-1 container app: Back-off"}
	}
	before := []fleetv1alpha1.ClusterFailure{f("a", "ImagePullBackOff"), f("b", "ImagePullBackOff")}
	now := []fleetv1alpha1.ClusterFailure{f("a", "ImagePullBackOff"), f("b", "ProgressDeadlineExceeded"), f("c", "CrashLoopBackOff")}
	got := newFailures(before, now)
	if len(got) != 2 || got[0].Cluster != "b" || got[1].Cluster != "c" {
		t.Errorf("newFailures = %+v", got)
	}
	if msg := failureEvent(now[2]); msg != "cluster c (wave pilot) failed: CrashLoopBackOff: team/web: Pod web-1 container app: Back-off" {
		t.Errorf("event message %q", msg)
	}
	long := f("d", "X")
	long.Message = string(make([]byte, 2000))
	if msg := failureEvent(long); len(msg) > 1024 {
		t.Errorf("event message of %d bytes", len(msg))
	}
}

// The attack: a team rolls back its own instance's Rollout (the how-to's
// patch lets it) and makes its instance fail on a cluster, as often as it
// likes. The counters did not say whose Rollout it was, so the platform's
// alert on flotilla_rollout_rollbacks_total fired and
// flotilla_rollout_cluster_failures_total{reason="OOMKilled"} read as the
// platform's release failing. They now carry owner: a team's count as team.
func TestATeamsRolloutCountsAsTheTeams(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).Build()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewHub(reg, c, clocktesting.NewFakePassiveClock(t0), make(chan struct{}))
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: c, Recorder: events.NewFakeRecorder(10), Metrics: m}
	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "shop-7"},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web", Instance: &fleetv1alpha1.LocalObjectReference{Name: "shop"}},
			FromRevision: "shop-6", TargetRevision: "shop-7",
			Rollback: &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "mallory"}}},
		Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseRollingBack, RollbackRevision: "shop-6",
			Failures: []fleetv1alpha1.ClusterFailure{{Cluster: "eu-1", Reason: "OOMKilled"}}},
	}
	r.record(context.Background(), ro, fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing}, rollout.Decision{})

	for _, s := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"flotilla_rollout_rollbacks_total", []string{"manual", "platform"}, 0},
		{"flotilla_rollout_rollbacks_total", []string{"manual", "team"}, 1},
		{"flotilla_rollout_cluster_failures_total", []string{"platform", "OOMKilled"}, 0},
		{"flotilla_rollout_cluster_failures_total", []string{"team", "OOMKilled"}, 1},
		{"flotilla_rollout_transitions_total", []string{"platform", "RollingBack"}, 0},
		{"flotilla_rollout_transitions_total", []string{"team", "RollingBack"}, 1},
	} {
		if got := counterValue(t, reg, s.name, s.labels...); got != s.want {
			t.Errorf("%s%q = %v, want %v", s.name, s.labels, got, s.want)
		}
	}
}
