package rollout_test

import (
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The kill switch: a Rollback FleetFreeze rolls back every Rollout in
// flight. A Rollout whose requested rollback could not proceed (a typo in
// the revision, in the incident the freeze was pulled for) was passed over:
// it kept the change on the canary, neither rolled back nor held, while
// the freeze rolled back every other Rollout. The freeze rolls it back to
// its fromRevision.
func TestARollbackFreezeRollsBackARolloutWhoseRollbackIsStalled(t *testing.T) {
	s := newStory(t, "frzstuck.example.com")
	s.strategy("frzstuck", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 := s.givenSite("frzstuck", "frzstuck")
	name, r2 := s.release("frzstuck", "2", r1)
	s.moves("frzstuck", r2, "frzstuck-c1")
	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "frzstuck-0000000000", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "oncall"}}
	})
	s.waitRollout(name, "stalled on its rollback", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonRevisionNotFound
	})

	freeze := s.freeze("frzstuck-incident", fleetv1alpha1.FreezeRollback)
	ro := s.waitRollout(name, "rolled back by the freeze", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
	})
	if ro.Status.RollbackRevision != r1 || ro.Status.RolledBackBy() != freeze.Name {
		t.Fatalf("rollbackRevision %q, rolled back by %q", ro.Status.RollbackRevision, ro.Status.RolledBackBy())
	}
	s.moves("frzstuck", r1, "frzstuck-c1")
}
