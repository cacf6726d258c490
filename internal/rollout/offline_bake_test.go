package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A change that cuts its member off (a NetworkPolicy or CNI setting a
// Promise ships, or an agent that stops reporting once it is healthy): the
// canary turns healthy on it, then goes offline a minute later. Its health
// was only last known, yet it counted healthy: the canary baked on it for
// its whole bake, read Succeeded ("every cluster healthy") and the general
// wave was asked to take the change. In the active wave an offline cluster
// is judged by the offline policy whatever it last reported: under Wait
// the wave waits for it, and fails it ClusterOffline once it has been away
// for the progress deadline.
func TestACanaryThatWentOfflineDoesNotBakeOnItsLastReport(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll, approval)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.wantAdmitted("c-1")
	f.at(time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")

	f.update("c-1", func(o *rollout.ClusterObservation) { o.LastSeen = t0.Add(2 * time.Minute) })
	f.at(3*time.Minute).online(false, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(5 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(12*time.Minute + 30*time.Second).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if fs := f.d.Status.Failures; len(fs) != 1 || fs[0].Cluster != "c-1" || fs[0].Reason != fleetv1alpha1.ReasonClusterOffline {
		t.Fatalf("failures %+v", fs)
	}
}

// Back before its deadline, it bakes again from when it came back: the
// time it was away is no time seen healthy.
func TestACanaryBackFromOfflineBakesAgain(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll, approval)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()

	f.update("c-1", func(o *rollout.ClusterObservation) { o.LastSeen = t0.Add(2 * time.Minute) })
	f.at(3*time.Minute).online(false, "c-1").plan()
	f.at(8*time.Minute).online(true, "c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(37 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(38 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Fatalf("canary %s", w.Phase)
	}
}

// A canary whose agent stops heartbeating for most of the bake, and is
// back just as it would end: its time away counted toward the bake, which
// completed a minute after the cluster came back, as if the change had been
// seen healthy there for the whole bakeTime. A cluster is healthy, as far
// as the hub knows, only since it came back: the bake counts from then.
func TestTimeOfflineDoesNotCountTowardTheBake(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute), deadline(time.Hour)), wave("general", catchAll, approval)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")

	f.update("c-1", func(o *rollout.ClusterObservation) { o.LastSeen = t0.Add(2 * time.Minute) })
	f.at(3*time.Minute).online(false, "c-1").plan()
	f.at(33*time.Minute).online(true, "c-1").plan()
	f.at(34 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(62 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(63 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
}
