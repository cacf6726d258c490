package rollout_test

import (
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A Rollout of 11,000 clusters in two waves switched to Immediate: merged,
// its one wave would hold more clusters than a wave's status can, a status
// the API server refuses at every write. The API server refuses the switch
// now (TestASwitchToImmediateOfMoreClustersThanAWaveHoldsIsRefused in
// internal/controller/rollout); a Rollout switched before it did is not
// merged, and its plan says why instead of a status no write can store.
func TestAnImmediateSwitchOfMoreClustersThanAWaveHoldsIsNotMerged(t *testing.T) {
	cs := append(clusters("eu", 6000, "ring", "eu"), clusters("us", 5000, "ring", "us")...)
	f := newFixture(t, strategy(wave("eu"), wave("us")), cs...)
	f.plan()
	if n := len(f.d.Status.Waves); n != 2 {
		t.Fatalf("%d waves at the start, want 2", n)
	}
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "incident 42"}
	d, err := rollout.Plan(f.in)
	if err == nil {
		t.Fatalf("merged into an Immediate wave of %d clusters", len(d.Status.Waves[0].Clusters))
	}
	if !strings.Contains(err.Error(), "at most 10000 clusters") || !strings.Contains(err.Error(), "has 11000") {
		t.Fatalf("the plan does not say why: %v", err)
	}
}
