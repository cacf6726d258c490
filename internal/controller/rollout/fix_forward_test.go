package rollout_test

import (
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: the platform's change ran on the canary alone; the platform
// reverted it (the revert waiting for the canary's approval, the canary
// still on the change), then fixed forward with a third revision before the
// revert settled. The fix's Rollout started from the revert's fromRevision,
// the change only the canary ran, so a team's new instance on the general
// clusters (and any cluster that joined) started on it while the fix ran,
// and stayed on it had the fix been aborted. A new Rollout now starts from
// what a revert returns to, the revision the rest of the fleet runs.
func TestAFixForwardOfARevertDoesNotStartFromTheRevertedChange(t *testing.T) {
	const name = "fixfwd"
	s := newStory(t, name+".example.com")
	approve := func(ro *fleetv1alpha1.Rollout, wave string) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: wave,
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	}
	required := func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary", required), wave("general", required))
	r1 := s.givenSite(name, name)
	change, r2 := s.release(name, "2", r1)
	s.waitRollout(change, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.patchRollout(change, func(ro *fleetv1alpha1.Rollout) { approve(ro, "canary") })
	s.moves(name, r2, name+"-c1")

	revert := name + "-" + strconv.FormatInt(s.changePromise(name, template("1")), 10)
	s.waitRollout(revert, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	fix, r3 := s.release(name, "3", r1)
	ro := s.waitRollout(fix, "started", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.StartedAt != nil })
	if ro.Spec.FromRevision != r1 {
		t.Errorf("the fix runs %s → %s, want it from %s, what the fleet runs (%s only the canary ran)", ro.Spec.FromRevision, r3, r1, r2)
	}

	team := name + "-team"
	s.Create(promisetest.Instance(s.group, "Site", team, "late", map[string]any{"size": "small"}))
	s.cluster(name+"-g3", map[string]string{"suite": name, "ring": "general"})
	for _, c := range []string{name + "-g1", name + "-g2", name + "-g3"} {
		w := s.WaitWork(name, team, "late", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision != "", w.Spec.Revision })
		if w.Spec.Revision != r1 {
			t.Errorf("a new instance on %s renders %s, the change only the canary ran; want %s", c, w.Spec.Revision, r1)
		}
	}
	s.moves(name, r1, name+"-g3")
	s.stays(name, r1, name+"-g1", name+"-g2", name+"-g3")
}

// The kill switch during the same incident: the canary took the change, the
// platform reverted it and fixed forward before the revert settled, then
// pulled a Rollback FleetFreeze. The fix starts from r1, the revert's
// target, which the fleet ran in full before the change, but the hub took
// it for a revision only some clusters ran (a Rollout had targeted it and
// not succeeded: the revert), so the freeze held the fix instead of rolling
// it back, and the canary kept the reverted change for as long as the
// freeze stood. The fix now rolls back to r1, and the canary with it.
func TestARollbackFreezeTakesBackAFixForwardOfARevert(t *testing.T) {
	const name = "fixfrz"
	s := newStory(t, name+".example.com")
	required := func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary", required), wave("general", required))
	r1 := s.givenSite(name, name)
	change, r2 := s.release(name, "2", r1)
	s.waitRollout(change, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.patchRollout(change, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "canary",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves(name, r2, name+"-c1")

	revert := name + "-" + strconv.FormatInt(s.changePromise(name, template("1")), 10)
	s.waitRollout(revert, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	fix, _ := s.release(name, "3", r1)
	s.waitRollout(fix, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.stays(name, r2, name+"-c1")

	s.freeze(name+"-incident", fleetv1alpha1.FreezeRollback)
	ro := s.waitRollout(fix, "rolled back by the freeze", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
	})
	if ro.Status.RollbackRevision != r1 {
		t.Fatalf("the fix rolls back to %q, want %s, what the fleet ran before the change", ro.Status.RollbackRevision, r1)
	}
	s.moves(name, r1, name+"-c1")
	s.reportReady(name, name+"-team", name+"-c1")
	s.waitRollout(fix, "rolled back", phaseIs(fleetv1alpha1.RolloutPhaseRolledBack))
	s.stays(name, r1, s.clusters(name)...)
}
