package rollout_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// The agent-placed checks of an admitted cluster's wave go onto its Work,
// rendered for the cluster and with their run; hub checks, skipped ones,
// clusters not admitted and waves not at work get none.
func TestWorkChecksFor(t *testing.T) {
	agentMetric := metricCheck("local-errors", "result[0] < 0.05")
	agentMetric.Metric.Placement = fleetv1alpha1.CheckOnAgent
	agentMetric.Metric.Query = `errors{region={{ quote .Labels.region }},rev="{{ .Revision }}"}`
	smoke := fleetv1alpha1.Check{Name: "smoke", Condition: "result.code == 200", HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://shop.team-a.svc/healthz"}}
	hub := metricCheck("errors", "result[0] < 0.05")
	s := fleetv1alpha1.RolloutStrategySpec{Checks: []fleetv1alpha1.Check{hub, agentMetric, smoke},
		Waves: []fleetv1alpha1.Wave{{Name: "canary"}, {Name: "rest"}}}
	started := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web-7"},
		Spec: fleetv1alpha1.RolloutSpec{FromRevision: "web-r1", TargetRevision: "web-r2"},
		Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseBaking, Waves: []fleetv1alpha1.WaveStatus{
			{Name: "canary", Phase: fleetv1alpha1.WavePhaseBaking, StartedAt: &started, Clusters: []string{"eu-1", "eu-2"}, Admitted: "T.",
				Checks: []fleetv1alpha1.WaveCheckStatus{{Name: "local-errors", Run: 2}}},
			{Name: "rest", Phase: fleetv1alpha1.WavePhasePending, Clusters: []string{"us-1"}},
		}}}

	got, err := rollout.WorkChecksFor(ro, s, nil, nil, "eu-1", map[string]string{"region": "eu"})
	if err != nil || len(got) != 2 {
		t.Fatalf("eu-1: %+v, %v", got, err)
	}
	if c := got[0]; c.Name != "local-errors" || c.Run != 2 || c.Wave != "canary" || c.Rollout != "web-7" ||
		c.Metric.Query != `errors{region="eu",rev="web-r2"}` {
		t.Errorf("metric check %+v (query %s)", c, c.Metric.Query)
	}
	if c := got[1]; c.Name != "smoke" || c.Run != 0 || c.HTTP == nil {
		t.Errorf("http check %+v", c)
	}
	if s.Checks[1].Metric.Query == got[0].Metric.Query {
		t.Error("the strategy's query template was rendered in place")
	}

	// A label the cluster lacks leaves that check out, said in the error.
	got, err = rollout.WorkChecksFor(ro, s, nil, nil, "eu-1", nil)
	if len(got) != 1 || got[0].Name != "smoke" || err == nil || !strings.Contains(err.Error(), "check local-errors") {
		t.Errorf("without labels: %+v, %v", got, err)
	}
	// Skipped by the Promise, or by a person for the wave.
	if got, _ := rollout.WorkChecksFor(ro, s, nil, []string{"smoke"}, "eu-1", map[string]string{"region": "eu"}); len(got) != 1 {
		t.Errorf("skipChecks: %+v", got)
	}
	skipped := ro.DeepCopy()
	skipped.Status.Waves[0].Checks[0].Skipped = &fleetv1alpha1.ChangeRecord{By: "alice", Message: "no prometheus there"}
	if got, _ := rollout.WorkChecksFor(skipped, s, nil, nil, "eu-1", map[string]string{"region": "eu"}); len(got) != 1 || got[0].Name != "smoke" {
		t.Errorf("skipped for the wave: %+v", got)
	}
	for name, tc := range map[string]struct {
		ro      *fleetv1alpha1.Rollout
		cluster string
	}{
		"not admitted":       {ro, "eu-2"},
		"wave not started":   {ro, "us-1"},
		"not in the rollout": {ro, "ap-1"},
		"rolling back": {func() *fleetv1alpha1.Rollout {
			r := ro.DeepCopy()
			r.Status.Phase = fleetv1alpha1.RolloutPhaseRollingBack
			return r
		}(), "eu-1"},
		"wave completed": {func() *fleetv1alpha1.Rollout {
			r := ro.DeepCopy()
			r.Status.Waves[0].Phase = fleetv1alpha1.WavePhaseSucceeded
			return r
		}(), "eu-1"},
		"no rollout": {nil, "eu-1"},
	} {
		if got, err := rollout.WorkChecksFor(tc.ro, s, nil, nil, tc.cluster, map[string]string{"region": "eu"}); len(got) != 0 || err != nil {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
}

// ChecksMoved names every cluster whose Work's checks change between two
// statuses (a wave starting or ending, a re-run, a skip, the Rollout
// ending or rolling back), and no cluster of a wave that did not change.
func TestChecksMoved(t *testing.T) {
	smoke := fleetv1alpha1.Check{Name: "smoke", Condition: "result.code == 200", HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://x/healthz"}}
	s := fleetv1alpha1.RolloutStrategySpec{Checks: []fleetv1alpha1.Check{smoke}, Waves: []fleetv1alpha1.Wave{{Name: "canary"}, {Name: "rest"}}}
	started := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	base := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "web-7"},
		Spec: fleetv1alpha1.RolloutSpec{FromRevision: "web-r1", TargetRevision: "web-r2"},
		Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseBaking, Waves: []fleetv1alpha1.WaveStatus{
			{Name: "canary", Phase: fleetv1alpha1.WavePhaseBaking, StartedAt: &started, Clusters: []string{"eu-1", "eu-2"}, Admitted: "TT",
				Checks: []fleetv1alpha1.WaveCheckStatus{{Name: "smoke", Run: 0}}},
			{Name: "rest", Phase: fleetv1alpha1.WavePhasePending, Clusters: []string{"us-1"}, Admitted: "T"},
		}}}
	clusters := []string{"eu-1", "eu-2", "us-1"}
	for name, tc := range map[string]struct {
		change func(*fleetv1alpha1.Rollout)
		want   string
	}{
		"nothing":  {func(*fleetv1alpha1.Rollout) {}, ""},
		"a re-run": {func(r *fleetv1alpha1.Rollout) { r.Status.Waves[0].Checks[0].Run = 1 }, "eu-1,eu-2"},
		"a skip": {func(r *fleetv1alpha1.Rollout) {
			r.Status.Waves[0].Checks[0].Skipped = &fleetv1alpha1.ChangeRecord{By: "alice"}
		}, "eu-1,eu-2"},
		"the next wave starts": {func(r *fleetv1alpha1.Rollout) {
			r.Status.Waves[0].Phase = fleetv1alpha1.WavePhaseSucceeded
			r.Status.Waves[1].Phase, r.Status.Waves[1].StartedAt = fleetv1alpha1.WavePhaseProgressing, &started
		}, "eu-1,eu-2,us-1"},
		"the bake starts": {func(r *fleetv1alpha1.Rollout) { r.Status.Waves[0].Phase = fleetv1alpha1.WavePhaseProgressing }, ""},
		"rolling back":    {func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutPhaseRollingBack }, "eu-1,eu-2"},
		"it ends":         {func(r *fleetv1alpha1.Rollout) { r.Status.Phase = fleetv1alpha1.RolloutPhaseAborted }, "eu-1,eu-2"},
	} {
		t.Run(name, func(t *testing.T) {
			next := base.DeepCopy()
			tc.change(next)
			got := rollout.ChecksMoved(base, next)
			if strings.Join(got, ",") != tc.want {
				t.Errorf("ChecksMoved = %v, want %s", got, tc.want)
			}
			// The invariant the watch relies on: any cluster whose checks
			// change is listed (or newly admitted).
			for _, c := range clusters {
				a, _ := rollout.WorkChecksFor(base, s, nil, nil, c, nil)
				b, _ := rollout.WorkChecksFor(next, s, nil, nil, c, nil)
				if !equality.Semantic.DeepEqual(a, b) && !slices.Contains(got, c) && !slices.Contains(rollout.NewAdmissions(base, next), c) {
					t.Errorf("%s: checks change (%v → %v) but the cluster is not listed", c, a, b)
				}
			}
		})
	}
	if got := rollout.ChecksMoved(nil, base); strings.Join(got, ",") != "eu-1,eu-2" {
		t.Errorf("first seen: %v", got)
	}
}
