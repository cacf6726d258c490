package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team whose instance is all a Promise runs on a canary cluster makes its
// Deployment's readiness flap (ready for a minute, then not for five, under
// a progress deadline of ten minutes and a bake of thirty): every change
// of health starts the cluster's progress deadline again and resets the
// bake, so the platform's Rollout neither completes the canary wave nor
// fails the cluster, for as long as the team wishes, for every team.
//
// Not closed: a bound on how long a cluster may take from its admission to
// a completed bake (a "wave deadline") is a change of the engine's
// semantics that needs a design decision.
func TestAFlappingClusterCannotHoldTheWaveForEver(t *testing.T) {
	t.Skip("open: a cluster whose health flaps between Healthy and Progressing holds its wave for ever (see the comment)")
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	for m := time.Duration(0); m < 12*time.Hour; m += 6 * time.Minute {
		f.at(m + time.Minute).healthy("m-1").plan()
		f.at(m + 2*time.Minute).progressing("m-1").plan()
	}
	if f.d.Status.Phase != fleetv1alpha1.RolloutPhaseProgressing && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseBaking {
		return
	}
	t.Fatalf("after 12 hours of flapping the Rollout is still %s, the cluster neither healthy through its bake nor failed: %+v",
		f.d.Status.Phase, f.d.Status.Counts)
}
