package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// offlineSince takes a cluster away: its last heartbeat was lastSeen, and the
// hub sees it offline now.
func (f *fixture) offlineSince(lastSeen time.Duration, names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) { o.LastSeen = t0.Add(lastSeen) })
	}
	return f.online(false, names...)
}

// A hostile agent of a canary cluster (or a change that makes its member's
// network flap) stops heartbeating just past its grace once per bake, and is
// back, healthy, well within the progress deadline: each time away stopped
// the bake, and each return started it over, so the canary (and every later
// wave) was held for ever without its cluster ever counting as failed. An
// offline episode is a relapse: the one past MaxRelapses fails the cluster
// as Flapping, naming that it went offline.
func TestAnAgentGoingOfflineOncePerBakeCannotHoldTheWave(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	episodes := 0
	for m := time.Minute; m < 24*time.Hour && f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted; m += 30 * time.Minute {
		// Healthy for 25 minutes of its 30-minute bake, then away for 4.
		f.at(m+26*time.Minute).offlineSince(m+25*time.Minute, "c-1").plan()
		episodes++
		if f.d.Status.Phase == fleetv1alpha1.RolloutPhaseHalted {
			break
		}
		f.at(m+30*time.Minute).online(true, "c-1").plan()
		if f.d.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
			f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
		}
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if episodes != fleetv1alpha1.MaxRelapses+1 {
		t.Fatalf("halted after %d times offline, want %d", episodes, fleetv1alpha1.MaxRelapses+1)
	}
	fs := f.d.Status.Failures
	if len(fs) != 1 || fs[0].Cluster != "c-1" || fs[0].Reason != fleetv1alpha1.ReasonFlapping || !strings.Contains(fs[0].Message, "the cluster is offline since") {
		t.Fatalf("failures %+v, want c-1 Flapping, saying it went offline", fs)
	}
	if !hasEvent(f.d.Events, fleetv1alpha1.ReasonFlapping, "cluster c-1") {
		t.Fatalf("events %+v, want a Flapping event naming c-1", f.d.Events)
	}
}

// Times away the hub saw only as a later return (the cluster went offline
// and came back between two plans) restart the bake, and count too.
func TestOfflineEpisodesBetweenPlansCount(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	for i := 1; i <= fleetv1alpha1.MaxRelapses+1; i++ {
		f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
		f.at(time.Duration(i)*25*time.Minute).update("c-1", func(o *rollout.ClusterObservation) { o.OnlineSince = f.in.Now })
		f.plan()
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if fs := f.d.Status.Failures; len(fs) != 1 || fs[0].Reason != fleetv1alpha1.ReasonFlapping {
		t.Fatalf("failures %+v, want c-1 Flapping", fs)
	}
}

// An honest cluster away once (a member's network blip) is back in time and
// bakes again: one time away is no flap.
func TestOneTimeOfflineIsNoFlap(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.at(20*time.Minute).offlineSince(15*time.Minute, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(22*time.Minute).online(true, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if got := f.wave("canary").Relapses; got != "1" {
		t.Fatalf("relapses %q, want \"1\"", got)
	}
	f.at(52 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Fatalf("canary %s", w.Phase)
	}
}
