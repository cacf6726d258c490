package rollout_test

import (
	"strconv"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: the platform's change reached the canary only, and the
// platform changed the Promise back (a revert, from the canary's revision).
// While the revert runs, or once it is aborted, a cluster that joins the
// fleet got the revert's fromRevision: the change only the canary took and
// the platform was taking back, on a cluster no wave ever admitted. A new
// Work now gets what the revert returns to, the revision the fleet ran.
func TestANewClusterDuringARevertGetsWhatTheFleetRan(t *testing.T) {
	const name = "nrevert"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 := s.givenSite(name, name)
	change, r2 := s.release(name, "2", r1)
	s.waitRollout(change, "the canary admitted", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.moves(name, r2, name+"-c1")

	revert := name + "-" + strconv.FormatInt(s.changePromise(name, template("1")), 10)
	ro := s.waitRollout(revert, "the revert started", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.StartedAt != nil })
	if ro.Spec.FromRevision != r2 || ro.Spec.TargetRevision != r1 {
		t.Fatalf("the revert runs %s → %s, want %s → %s", ro.Spec.FromRevision, ro.Spec.TargetRevision, r2, r1)
	}
	s.cluster(name+"-g3", map[string]string{"suite": name, "ring": "general"})
	s.moves(name, r1, name+"-g3")

	s.patchRollout(revert, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.DesiredState = fleetv1alpha1.RolloutAborted
		ro.Spec.StateChange = &fleetv1alpha1.ChangeRecord{By: "ops@example.com", Message: "stop here"}
	})
	s.waitRollout(revert, "aborted", phaseIs(fleetv1alpha1.RolloutPhaseAborted))
	s.cluster(name+"-g4", map[string]string{"suite": name, "ring": "general"})
	s.moves(name, r1, name+"-g4")
	s.stays(name, r1, name+"-g3", name+"-g4")
}
