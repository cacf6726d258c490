package rollout_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// A test Job runs once per run and revision (the agent does not run it
// again once it passed): its passing run passes the bake, whenever in the
// window it ran, and the wave completes at the bake's end.
func TestPassedJobPassesTheBake(t *testing.T) {
	s := strategy(wave("all", catchAll, concurrency("100%"), bake(10*time.Minute)), wave("next", bake(time.Minute)))
	s.Checks = []fleetv1alpha1.Check{{Name: "smoke", Job: &fleetv1alpha1.JobCheck{Template: runtime.RawExtension{Raw: []byte(`{}`)}}}}
	f := newFixture(t, s, cluster("c-1"), cluster("c-2"))
	f.plan() // starts, admits both
	f.at(time.Minute).healthyAll()
	f.plan() // baking until t0+11m
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "all")
	for _, c := range []string{"c-1", "c-2"} {
		f.update(c, func(o *rollout.ClusterObservation) {
			o.Checks = []rollout.AgentCheck{{Name: "smoke", State: verify.State{Since: t0.Add(time.Minute), Measurements: 1,
				Last: &verify.Measurement{At: t0.Add(2 * time.Minute), Outcome: verify.Passed, Value: "the Job succeeded"}}}}
		})
	}
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "all")
	if ck := f.wave("all").Checks[0]; ck.Verdict != fleetv1alpha1.CheckPassed || ck.Counts.Passed != 2 {
		t.Errorf("check %s %+v, want Passed on both clusters", ck.Verdict, ck.Counts)
	}
	f.at(11 * time.Minute).plan()
	if w := f.wave("all"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("wave all %s at the bake's end: %s", w.Phase, f.condition(fleetv1alpha1.ConditionReady).Message)
	}
}
