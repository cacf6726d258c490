package rollout_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: the platform's first change of a Promise runs on the canary
// alone, waiting for the general wave's approval, and a platform engineer
// deletes its Rollout (`kubectl delete rollout`, to "cancel" it; or, once
// aborted or rolled back, to tidy up). With no Rollout left, the hub
// rendered a new Work at the Promise's latest revision: a team's new
// instance, and every cluster that joined, landed with the change no one
// approved (or that was rolled back), and the next change's Rollout started
// from it, so its rollback (or a Rollback freeze) would have moved every
// general cluster to it. A person's deletion of a Rollout is now refused,
// saying to abort it; the hub's own (past the history limit) and the
// garbage collector's, which carry the Rollout's UID, pass.
func TestARolloutIsNotDeletedByHand(t *testing.T) {
	const name = "rodel"
	s := newStory(t, name+".example.com")
	change, r1, _ := s.changeOnTheCanary(name)

	refused := func(when string) {
		t.Helper()
		err := s.C.Delete(s.Ctx, s.rollout(change))
		if !apierrors.IsForbidden(err) {
			t.Fatalf("deleting the Rollout %s: %v, want it refused", when, err)
		}
		if !strings.Contains(err.Error(), "abort") {
			t.Errorf("the refusal does not say how to stop the Rollout: %v", err)
		}
	}
	refused("in flight")

	// The gates still hold for what comes next: a new instance on the
	// general clusters starts on the revision the fleet runs.
	team := name + "-team"
	s.Create(promisetest.Instance(s.group, "Site", team, "late", map[string]any{"size": "small"}))
	for _, c := range []string{name + "-g1", name + "-g2"} {
		w := s.WaitWork(name, team, "late", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision != "", w.Spec.Revision })
		if w.Spec.Revision != r1 {
			t.Errorf("a new instance on %s renders %s, the change only the canary ran; want %s", c, w.Spec.Revision, r1)
		}
	}

	// Aborted, it still says what new Works start on.
	s.patchRollout(change, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.DesiredState = fleetv1alpha1.RolloutAborted
		ro.Spec.StateChange = &fleetv1alpha1.ChangeRecord{By: "ops@example.com", Message: "stop here"}
	})
	s.waitRollout(change, "aborted", phaseIs(fleetv1alpha1.RolloutPhaseAborted))
	refused("once aborted")

	// The hub's history and the garbage collector delete with the UID.
	ro := s.rollout(change)
	if err := s.C.Delete(s.Ctx, ro, client.Preconditions{UID: &ro.UID}); err != nil {
		t.Fatalf("deleting the Rollout with its UID as a precondition: %v", err)
	}
}

// changeOnTheCanary is a Promise name's change (r1 to r2) that ran on the
// canary alone, healthy there, and waits for the general wave's approval.
func (s *story) changeOnTheCanary(name string) (change, r1, r2 string) {
	s.TB.Helper()
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	r1 = s.givenSite(name, name)
	change, r2 = s.release(name, "2", r1)
	s.moves(name, r2, name+"-c1")
	s.reportReady(name, name+"-team", name+"-c1")
	s.waitRollout(change, "waiting for the general wave's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	return change, r1, r2
}
