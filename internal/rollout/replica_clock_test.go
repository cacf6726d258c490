package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Two hub replicas whose clocks differ by 40 seconds: the leader, ahead,
// saw a canary come back online (its Cluster's Available condition, dated
// by its clock) and started the bake from then; it lost its lease, and the
// new leader, whose clock is right, planned before its own clock reached
// that return. A return dated after now counted from now, a later time at
// each plan: each plan read the canary healthy again since after the bake
// began, a relapse, and the fourth failed the canary Flapping over one time
// away, halting the Rollout. The return counts once, when it was dated.
func TestAReturnDatedByAReplicaAheadIsOneRelapse(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(time.Hour)), wave("general", catchAll, approval)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(3*time.Minute).online(false, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")

	// The leader ahead sees it back at 8m by the right clock, 8m40s by its own.
	const skew = 40 * time.Second
	f.at(8*time.Minute+skew).online(true, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")

	// The new leader plans, its clock 40 s behind, as Work and Cluster
	// events come.
	for d := 8*time.Minute + 10*time.Second; d <= 8*time.Minute+35*time.Second; d += 5 * time.Second {
		f.at(d).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	}
	if got := f.wave("canary").Relapses; got != "1" {
		t.Errorf("relapse marks %q, want one relapse of c-1 (its one time away)", got)
	}
	// The bake runs its whole 30 minutes from the return as it was dated.
	f.at(38*time.Minute + 30*time.Second).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(38*time.Minute + skew).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
}
