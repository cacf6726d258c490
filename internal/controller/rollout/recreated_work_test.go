package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// A platform engineer deleting a Work mid-wave (`kubectl delete work`, to
// have a stuck apply retried). The canary runs two instances of the
// Promise; the hub writes the deleted one's Work again, at the revision the
// canary was admitted to, and the change fails there. The Rollout judged a
// cluster only by the Works older than its start (a newer one is a new
// instance's, not its to judge), so it counted the canary healthy on the
// other instance alone: the canary read Succeeded, "0 failed", and the
// general wave took the change. A Work written again for an instance that
// was there at the start is the Rollout's as the one it replaces was.
func TestAWorkDeletedMidWaveIsStillJudged(t *testing.T) {
	s := newStory(t, "rewrk.example.com")
	s.strategy("rewrk", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite("rewrk", "rewrk")
	s.Create(promisetest.Instance(s.group, "Site", "rewrk-team", "cart", map[string]any{"size": "small"}))
	for _, c := range s.clusters("rewrk") {
		s.WaitWork("rewrk", "rewrk-team", "cart", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == r1, w.Spec.Revision })
		s.ReportReady(s.Work("rewrk", "rewrk-team", "cart", c))
	}

	name, r2 := s.release("rewrk", "2", r1)
	s.moves("rewrk", r2, "rewrk-c1")
	// Later than the start: creation times count in seconds.
	started := s.waitRollout(name, "started", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.StartedAt != nil }).Status.StartedAt
	time.Sleep(time.Until(started.Add(1100 * time.Millisecond)))
	old := s.WaitWork("rewrk", "rewrk-team", "cart", "rewrk-c1", func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == r2, w.Spec.Revision })
	if err := s.C.Delete(s.Ctx, old); err != nil {
		t.Fatal(err)
	}
	again := s.WaitWork("rewrk", "rewrk-team", "cart", "rewrk-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.UID != old.UID && w.Spec.Revision == r2, w.Spec.Revision
	})
	now := metav1.Now()
	s.UpdateWorkStatus(again, func(w *fleetv1alpha1.Work) {
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: r2, Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
			{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: fleetv1alpha1.ReasonUnhealthy,
				Message: "Deployment cart: CrashLoopBackOff", LastTransitionTime: now},
		}}
	})
	s.reportReady("rewrk", "rewrk-team", "rewrk-c1")

	ro := s.waitRollout(name, "halted or past the canary", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseHalted || ro.Status.CurrentWave == "general" ||
			ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded
	})
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseHalted || ro.Status.FailureCount != 1 || ro.Status.Failures[0].Cluster != "rewrk-c1" {
		t.Fatalf("the canary's change fails on the Work written again, yet the Rollout reads %s in wave %s, failures %+v, unattributed %+v",
			ro.Status.Phase, ro.Status.CurrentWave, ro.Status.Failures, ro.Status.UnattributedFailures)
	}
	s.stays("rewrk", r1, "rewrk-g1", "rewrk-g2")
}
