package rollout_test

import (
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The platform's Promise change (r1 → r2) is baking on its canary, healthy
// there on the team's unchanged spec. The team then changes its instance;
// the instance's own Rollout admits the canary to the new spec, which fails
// there. The Work fails on (r2, new spec): the failure is the team's change,
// which the Promise's Rollout did not make. The Promise's Rollout counted it
// as r2's own failure and rolled r2 back for every team, its failures
// naming r2 as the revision that failed.
func TestATeamsInstanceChangeFailingOnTheCanaryIsNotThePromisesFailure(t *testing.T) {
	const name = "iattr"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureRollback, wave("canary", func(w *fleetv1alpha1.Wave) {
		w.BakeTime = &metav1.Duration{Duration: time.Hour}
	}), wave("general", func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }))
	r1 := s.givenSite(name, name)
	team, canary := name+"-team", name+"-c1"

	// The platform's change reaches the canary, healthy there on the team's spec.
	pr, r2 := s.release(name, "2", r1)
	s.moves(name, r2, canary)
	s.ReportReady(s.Work(name, team, "shop", canary))
	s.waitRollout(pr, "baking on the canary", phaseIs(fleetv1alpha1.RolloutPhaseBaking))

	// The team changes its instance; its own Rollout admits the canary.
	inst := s.editShop(team, func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, "large", "spec", "size"); err != nil {
			t.Fatal(err)
		}
	})
	ir := "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)
	iro := s.waitTeamRollout(team, ir, "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	w := s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == iro.Spec.TargetRevision && w.Spec.Revision == r2, w.Spec.Revision + " " + w.Spec.InstanceRevision
	})

	// The new spec fails on the canary.
	now := metav1.Now()
	s.UpdateWorkStatus(w, func(w *fleetv1alpha1.Work) {
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: r2, AppliedInstanceRevision: iro.Spec.TargetRevision,
			Conditions: []metav1.Condition{
				{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
				{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: "CrashLoopBackOff",
					Message: "Deployment shop: container web: CrashLoopBackOff", LastTransitionTime: now},
			}}
	})
	s.waitTeamRollout(team, ir, "rolling the team's change back", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
	})

	// The Promise's change is not what failed: it neither fails nor bakes
	// while the canary is not healthy (observe_test has how the failure is
	// listed apart, as the instance change's).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		ro := s.rollout(pr)
		if p := ro.Status.Phase; (p != fleetv1alpha1.RolloutPhaseBaking && p != fleetv1alpha1.RolloutPhaseProgressing) || ro.Status.FailureCount != 0 {
			t.Fatalf("the Promise's Rollout %s: phase %s, failures %+v (rollback revision %q): the team's instance change, "+
				"which it did not make, counted as %s failing", pr, ro.Status.Phase, ro.Status.Failures, ro.Status.RollbackRevision, r2)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The team's change rolled back and healthy again, the Promise's bake
	// goes on with the canary healthy.
	s.ReportReady(s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == iro.Spec.FromRevision && w.Spec.Revision == r2, w.Spec.Revision + " " + w.Spec.InstanceRevision
	}))
	ro := s.waitRollout(pr, "baking, the canary healthy", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseBaking && ro.Status.Counts.Healthy == 1
	})
	if ro.Status.FailureCount != 0 {
		t.Errorf("the Promise's Rollout counts failures: %+v", ro.Status.Failures)
	}
}
