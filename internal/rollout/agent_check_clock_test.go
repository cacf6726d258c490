package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// agentCheckCanary is a canary of the given clusters baking 10 minutes
// (from 1m to 11m) under an agent-placed check that failed at 2m and that
// a team member re-ran at 10m30s: its window is a whole bake again, to
// 20m30s.
func agentCheckCanary(t *testing.T, canary ...string) *fixture {
	t.Helper()
	s := strategy(wave("canary", bake(10*time.Minute), failures("100%")), wave("general", catchAll, approval))
	s.Waves[0].Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 0.05",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}}}
	var obs []rollout.ClusterObservation
	for _, c := range canary {
		obs = append(obs, cluster(c, "ring", "canary"))
	}
	f := newFixture(t, s, append(obs, cluster("g-1"))...)
	f.plan()
	f.at(time.Minute).healthy(canary...).plan()
	failed := &verify.Measurement{At: t0.Add(2 * time.Minute), Outcome: verify.Failed, Value: "[0.3]"}
	f.agentReports(canary[0], 0, verify.State{Since: t0.Add(time.Minute), Measurements: 1, Failures: 1, Last: failed, Decisive: failed})
	f.at(2 * time.Minute).plan()
	if v := f.wave("canary").Checks[0].Verdict; v != fleetv1alpha1.CheckFailed {
		t.Fatalf("check %s, want failed", v)
	}
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckRerun,
		ChangeRecord: record("alice", t0.Add(10*time.Minute+30*time.Second), "flaky")}}
	f.at(10*time.Minute + 30*time.Second).plan()
	return f
}

// agentReports sets cluster's report of check errors, run run.
func (f *fixture) agentReports(cluster string, run int32, s verify.State) {
	f.update(cluster, func(o *rollout.ClusterObservation) {
		o.Checks = []rollout.AgentCheck{{Name: "errors", Run: run, State: s}}
	})
}

// passing is an agent's state of a check passing since since, last
// measured at last.
func passing(since, last time.Time) verify.State {
	return verify.State{Since: since, Measurements: 20, Last: &verify.Measurement{At: last, Outcome: verify.Passed, Value: "[0.01]"}}
}

// The attack: the hub believes an agent's measurement dated up to
// MaxClockSkew ahead of its own clock. An agent whose clock runs ahead (or
// a hostile one) reported, at 19m35s by the hub's clock, a passing
// measurement dated 20m34s: "at or after the window's end" (20m30s), so the
// re-run check passed and the canary completed a minute early. A
// measurement passes a window only once the hub's clock has reached its
// end too; then the canary completes.
func TestAnAgentsMeasurementDatedAheadDoesNotEndTheWindowEarly(t *testing.T) {
	f := agentCheckCanary(t, "c-1")
	f.agentReports("c-1", 1, passing(t0.Add(10*time.Minute+31*time.Second), t0.Add(20*time.Minute+34*time.Second)))
	f.at(19*time.Minute + 35*time.Second).plan()
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseBaking {
		t.Fatalf("canary %s at 19m35s by the hub's clock, check %+v: a measurement dated ahead ended the re-run's window early", w.Phase, w.Checks[0])
	}
	if ck := f.wave("canary").Checks[0]; ck.Verdict != fleetv1alpha1.CheckPassing {
		t.Errorf("check %s, want Passing before the window's end", ck.Verdict)
	}
	if f.d.RequeueAfter <= 0 || f.d.RequeueAfter > 55*time.Second {
		t.Errorf("wakes in %s, want at the window's end (55 s)", f.d.RequeueAfter)
	}
	f.at(20*time.Minute + 30*time.Second).plan()
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("canary %s at the window's end, check %+v", w.Phase, w.Checks[0])
	}
}
