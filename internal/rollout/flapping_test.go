package rollout_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A team whose instance is all a Promise runs on a canary cluster makes its
// Deployment's readiness flap (ready for a minute, then not for five, under
// a progress deadline of ten minutes and a bake of thirty): every change
// of health started the cluster's progress deadline again and reset the
// bake, so the platform's Rollout neither completed the canary wave nor
// failed the cluster, for as long as the team wished. Now the fourth
// relapse (more than MaxRelapses) fails the cluster as Flapping, against
// the wave's failure budget.
func TestAFlappingClusterCannotHoldTheWaveForEver(t *testing.T) {
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	relapses := 0
	for m := time.Duration(0); m < 12*time.Hour && !f.d.Status.Phase.IsTerminal() && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted; m += 6 * time.Minute {
		f.at(m + time.Minute).healthy("m-1").plan()
		f.at(m + 2*time.Minute).progressing("m-1").plan()
		relapses++
		if relapses <= fleetv1alpha1.MaxRelapses {
			f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
		}
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if relapses != fleetv1alpha1.MaxRelapses+1 {
		t.Fatalf("halted after %d relapses, want %d", relapses, fleetv1alpha1.MaxRelapses+1)
	}
	wantFlapping(t, f)
	if !hasEvent(f.d.Events, fleetv1alpha1.ReasonFlapping, "cluster m-1 left Healthy 4 times") {
		t.Fatalf("events %+v, want a Flapping event naming m-1", f.d.Events)
	}
}

// A slow flap (healthy for 29 minutes, not for 9, under a progress deadline
// of ten minutes and a bake of thirty) never misses a deadline nor finishes
// a bake: it is bounded all the same.
func TestASlowFlapCannotHoldTheWaveForEver(t *testing.T) {
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	f.at(time.Minute).healthy("m-1").plan()
	for m := time.Minute; m < 24*time.Hour && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted; m += 38 * time.Minute {
		f.at(m + 29*time.Minute).progressing("m-1").plan()
		f.at(m + 38*time.Minute).healthy("m-1").plan()
		if f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
			f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
		}
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	wantFlapping(t, f)
	if got := f.in.Now.Sub(t0); got > 4*time.Hour {
		t.Fatalf("halted only after %s", got)
	}
}

// One relapse, recovered within the progress deadline, costs only the bake
// it restarts: the wave completes as before.
func TestASingleRelapseStillRecovers(t *testing.T) {
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	f.at(time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(20 * time.Minute).progressing("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if !hasEvent(f.d.Events, rollout.ReasonBakeReset, "") {
		t.Fatalf("events %+v, want a BakeReset", f.d.Events)
	}
	f.at(29 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(29 * time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(59 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	if f.d.Status.FailureCount != 0 || f.condition(fleetv1alpha1.ConditionReady).Reason != fleetv1alpha1.ReasonSucceeded {
		t.Fatalf("failures %+v, ready %+v", f.d.Status.Failures, f.condition(fleetv1alpha1.ConditionReady))
	}
}

// Flaps the hub sees only in the agent's health-since (the cluster left
// Healthy and came back between two plans) restart the bake, and count.
func TestFlapsBetweenPlansCount(t *testing.T) {
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	f.at(time.Minute).healthy("m-1").plan()
	for i := 1; i <= fleetv1alpha1.MaxRelapses+1; i++ {
		f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
		f.at(time.Duration(i) * 10 * time.Minute).healthy("m-1").plan()
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	wantFlapping(t, f)
}

// The count is in the Rollout's status: a hub that restarts (or a new
// leader) reads it back and goes on counting; a flap cannot outlast a
// restart.
func TestTheRelapseCountSurvivesARestart(t *testing.T) {
	f := newFixture(t, strategy(
		wave("canary", catchAll, bake(30*time.Minute), deadline(10*time.Minute)),
	), cluster("m-1"))
	f.plan()
	for i := range fleetv1alpha1.MaxRelapses {
		m := time.Duration(i) * 6 * time.Minute
		f.at(m + time.Minute).healthy("m-1").plan()
		f.at(m + 2*time.Minute).progressing("m-1").plan()
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if got := f.wave("canary").Relapses; got != "d" {
		t.Fatalf("relapses %q, want \"d\" (not healthy after 3)", got)
	}
	// The restarted hub knows only what the API server kept.
	raw, err := json.Marshal(f.d.Status)
	if err != nil {
		t.Fatal(err)
	}
	f.in.Status = fleetv1alpha1.RolloutStatus{}
	if err := json.Unmarshal(raw, &f.in.Status); err != nil {
		t.Fatal(err)
	}
	f.at(time.Hour).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(time.Hour + time.Minute).progressing("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	wantFlapping(t, f)
}

// wantFlapping checks that m-1 failed as Flapping, and the Rollout says so.
func wantFlapping(t *testing.T, f *fixture) {
	t.Helper()
	fs := f.d.Status.Failures
	if len(fs) != 1 || fs[0].Cluster != "m-1" || fs[0].Reason != fleetv1alpha1.ReasonFlapping ||
		!strings.Contains(fs[0].Message, "more than 3 times") || !strings.Contains(fs[0].Message, "its agent now reports") {
		t.Fatalf("failures %+v, want m-1 Flapping", fs)
	}
	if ready := f.condition(fleetv1alpha1.ConditionReady); !strings.Contains(ready.Message, "Flapping") {
		t.Fatalf("ready %q does not say the cluster flapped", ready.Message)
	}
}

func hasEvent(events []rollout.Event, reason, contains string) bool {
	for _, e := range events {
		if e.Reason == reason && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}
