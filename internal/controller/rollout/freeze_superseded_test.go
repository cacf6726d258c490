package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The kill switch takes back a change that a newer change superseded on
// its way. The canary takes r2; the Promise changes again (a fix forward,
// in the incident) before the canary wave of r3 is approved, so the Rollout
// of r2 is Superseded and the one of r3 has admitted nothing yet. A
// Rollback FleetFreeze then held the Rollout of r3 ("it touched nothing")
// and the canary kept r2 for as long as the freeze stood. It rolls back to
// fromRevision, r1, which every other cluster runs.
func TestARollbackFreezeTakesBackASupersededChange(t *testing.T) {
	s := newStory(t, "frzsup.example.com")
	approval := func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }
	s.strategy("frzsup", fleetv1alpha1.FailureHalt, wave("canary", approval), wave("general", approval))
	r1 := s.givenSite("frzsup", "frzsup")
	a, r2 := s.release("frzsup", "2", r1)
	s.waitRollout(a, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.patchRollout(a, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "canary",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves("frzsup", r2, "frzsup-c1")

	b, _ := s.release("frzsup", "3", r2)
	s.waitRollout(a, "superseded", phaseIs(fleetv1alpha1.RolloutPhaseSuperseded))
	s.waitRollout(b, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.stays("frzsup", r2, "frzsup-c1")

	freeze := s.freeze("frzsup-incident", fleetv1alpha1.FreezeRollback)
	ro := s.waitRollout(b, "rolled back by the freeze", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
	})
	if ro.Status.RollbackRevision != r1 || ro.Status.RolledBackBy() != freeze.Name {
		t.Fatalf("rollbackRevision %q, rolled back by %q", ro.Status.RollbackRevision, ro.Status.RolledBackBy())
	}
	s.moves("frzsup", r1, "frzsup-c1")
	s.reportReady("frzsup", "frzsup-team", "frzsup-c1")
	s.waitRollout(b, "rolled back", phaseIs(fleetv1alpha1.RolloutPhaseRolledBack))
	s.stays("frzsup", r1, s.clusters("frzsup")...)
}
