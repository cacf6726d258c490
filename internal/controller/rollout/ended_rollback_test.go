package rollout_test

import (
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// A team's instance change fails its canary and is rolled back over the
// failure budget: the Rollout is RolledBack, Stalled (kstatus Failed: the
// change failed). The team then writes spec.rollback on the ended Rollout
// (the API server takes it; only the CLI refuses): the Rollout read as
// rolled back on request, Ready True, Stalled False (kstatus Current), as if
// nothing had failed.
func TestARollbackWrittenAfterTheEndLeavesAFailedChangeFailed(t *testing.T) {
	const name = "endedrb"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureRollback, wave("canary"), wave("general"))
	s.givenSite(name, name)
	team, canary := name+"-team", name+"-c1"

	inst := s.editShop(team, func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, "large", "spec", "size"); err != nil {
			t.Fatal(err)
		}
	})
	ir := "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)
	ro := s.waitTeamRollout(team, ir, "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	w := s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == ro.Spec.TargetRevision, w.Spec.InstanceRevision
	})
	now := metav1.Now()
	s.UpdateWorkStatus(w, func(w *fleetv1alpha1.Work) {
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: w.Spec.Revision,
			AppliedInstanceRevision: w.Spec.InstanceRevision, Conditions: []metav1.Condition{
				{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
				{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse, Reason: "CrashLoopBackOff", Message: "CrashLoopBackOff", LastTransitionTime: now},
			}}
	})
	s.waitTeamRollout(team, ir, "rolling back", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack })
	s.ReportReady(s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == ro.Spec.FromRevision, w.Spec.InstanceRevision
	}))
	ro = s.waitTeamRollout(team, ir, "rolled back, Stalled", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack &&
			promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue)
	})

	// The team writes a rollback request on the ended Rollout.
	base := ro.DeepCopy()
	ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", Message: "we meant to"}}
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		t.Fatalf("the API server refused the write: %v", err)
	}
	ro = s.waitTeamRollout(team, ir, "observing the edit", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.ObservedGeneration == ro.Generation
	})
	ready := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionReady)
	stalled := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionStalled)
	if ready == nil || ready.Status != metav1.ConditionFalse || stalled == nil || stalled.Status != metav1.ConditionTrue {
		t.Fatalf("after a rollback request written on the ended Rollout: Ready %+v, Stalled %+v; want Ready False, Stalled True "+
			"(rolled back over its failure budget)", ready, stalled)
	}
}
