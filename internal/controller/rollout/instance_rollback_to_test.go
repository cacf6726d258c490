package rollout_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// unapproved is a site whose team made a change (an Override) that it
// rolled back at the canary and deleted, then a spec change that the
// general wave approved and every cluster is admitted to (second).
type unapproved struct {
	*story
	name, team string
	revision   string                 // the first change's: only the canary ran it
	second     *fleetv1alpha1.Rollout // the approved change's
}

func givenAnUnapprovedRevision(t *testing.T, name string) *unapproved {
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite(name, name)
	u := &unapproved{story: s, name: name, team: name + "-team"}
	// An Override the general wave never approves; the team rolls it back.
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: u.team},
		Spec: fleetv1alpha1.OverrideSpec{Promise: name, Type: fleetv1alpha1.PatchJSONMerge,
			Patch: promisetest.Raw(map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "gold"}}})},
	})
	first := u.get("site-shop-1", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	u.revision = first.Spec.TargetRevision
	u.mustPatch(first, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	u.get("site-shop-1", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack })
	if err := s.C.Delete(s.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: u.team}}); err != nil {
		t.Fatal(err)
	}
	// The hub reads Overrides from its cache: until it has seen the
	// deletion, a spec change would render with the Override and be
	// superseded by the render without it (a Rollout site-shop-2-2).
	s.WaitInstance(s.group, "Site", u.team, "shop", "the Override gone", func(st fleetv1alpha1.InstanceStatus) bool {
		return st.InstanceRevision != "" && st.InstanceRevision != u.revision && st.InstanceRevision == st.AppliedInstanceRevision
	})
	// An approved spec change.
	s.editShop(u.team, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, "large", "spec", "size") })
	u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.ReportReady(s.Work(name, u.team, "shop", name+"-c1"))
	second := u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
	})
	u.mustPatch(second, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	u.second = u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 3 })
	return u
}

// get waits until the team's Rollout name exists and check passes.
func (u *unapproved) get(name string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
	u.TB.Helper()
	ro := &fleetv1alpha1.Rollout{}
	promisetest.Eventually(u.TB, time.Minute, "rollout "+name, func() (bool, string) {
		if err := u.C.Get(u.Ctx, client.ObjectKey{Namespace: u.team, Name: name}, ro); err != nil {
			return false, err.Error()
		}
		return check(ro), fmt.Sprintf("%s %+v", ro.Status.Phase, ro.Status.Counts)
	})
	return ro
}

// patch merge-patches ro with what f changes.
func (u *unapproved) patch(ro *fleetv1alpha1.Rollout, f func(*fleetv1alpha1.Rollout)) error {
	base := ro.DeepCopy()
	f(ro)
	return u.C.Patch(u.Ctx, ro, client.MergeFrom(base))
}

func (u *unapproved) mustPatch(ro *fleetv1alpha1.Rollout, f func(*fleetv1alpha1.Rollout)) {
	u.TB.Helper()
	if err := u.patch(ro, f); err != nil {
		u.TB.Fatal(err)
	}
}

// neverRendered fails the test if a cluster renders the unapproved
// revision within two seconds.
func (u *unapproved) neverRendered() {
	u.TB.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range u.clusters(u.name) {
			if w := u.Work(u.name, u.team, "shop", c); w.Spec.InstanceRevision == u.revision {
				u.TB.Fatalf("%s renders %s (overrides %v), the revision the general wave never approved", c, w.Spec.InstanceRevision, w.Spec.Overrides)
			}
		}
	}
}

// The attack: a team may ask its instance's Rollouts for a rollback to any
// earlier revision of the instance, and a rollback admits every cluster at
// once. It makes a change (an Override, here) whose canary it rolls back,
// then a harmless change the general wave approves, then rolls that back to
// the first change's revision: every cluster took a change the general wave
// never approved (and an Override since deleted). A rollback of an
// instance's Rollout now returns only to a revision the fleet ran in full.
func TestARollbackReturnsOnlyToARevisionTheFleetRan(t *testing.T) {
	u := givenAnUnapprovedRevision(t, "rbto")
	u.mustPatch(u.second, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: u.revision, ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue)
	})
	u.neverRendered()
}

// The same attack through fromRevision, which the rollback check trusts on a
// Rollout the hub started and a rollback without toRevision returns to: it
// was immutable only while set, so the team removed it in one patch and set
// it to the unapproved revision in the next, then asked for a rollback.
// fromRevision can no longer be removed or added after creation.
func TestARolloutsFromRevisionCannotBeRewritten(t *testing.T) {
	u := givenAnUnapprovedRevision(t, "rbfrom")
	removed := u.patch(u.second, func(ro *fleetv1alpha1.Rollout) { ro.Spec.FromRevision = "" })
	set := u.patch(u.second, func(ro *fleetv1alpha1.Rollout) { ro.Spec.FromRevision = u.revision })
	if removed == nil || set == nil {
		t.Errorf("fromRevision removed (refused: %v), then set to %s (refused: %v)", removed, u.revision, set)
	}
	ro := u.get("site-shop-2", func(*fleetv1alpha1.Rollout) bool { return true })
	u.mustPatch(ro, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	if ro = u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.RollbackRevision != "" }); ro.Status.RollbackRevision == u.revision {
		t.Errorf("rolling back to %s, the revision the general wave never approved", u.revision)
	}
	u.neverRendered()
}

// givenARevert is a site whose team changed its instance (the unapproved
// revision) and, while only the canary runs that change, changed it back:
// the hub starts the revert from the canary's revision.
func givenARevert(t *testing.T, name string) (*unapproved, *fleetv1alpha1.Rollout) {
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite(name, name)
	u := &unapproved{story: s, name: name, team: name + "-team"}
	setSize := func(size string) {
		s.editShop(u.team, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, size, "spec", "size") })
	}
	setSize("large")
	change := u.get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	u.revision = change.Spec.TargetRevision
	setSize("small")
	revert := u.get("site-shop-3", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.StartedAt != nil })
	if revert.Spec.FromRevision != u.revision {
		t.Fatalf("the revert runs from %s, want %s (the canary's)", revert.Spec.FromRevision, u.revision)
	}
	return u, revert
}

// generalNeverRenders fails the test if a general cluster renders the
// unapproved revision within two seconds (the canary may: it took it).
func (u *unapproved) generalNeverRenders() {
	u.TB.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range []string{u.name + "-g1", u.name + "-g2"} {
			if w := u.Work(u.name, u.team, "shop", c); w.Spec.InstanceRevision == u.revision {
				u.TB.Fatalf("%s renders %s, the change the general wave never approved", c, w.Spec.InstanceRevision)
			}
		}
	}
}

// The same attack through a revert: the team changes its instance and,
// while the canary alone runs the change, changes it back. The rollback
// check trusted every fromRevision of a Rollout the hub started: a rollback
// of the revert, asked for without toRevision, moved every cluster to the
// change at once.
func TestARollbackOfARevertDoesNotReturnToTheUnapprovedChange(t *testing.T) {
	u, revert := givenARevert(t, "rbrevert")
	u.mustPatch(revert, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	u.get("site-shop-3", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) ||
			ro.Status.RollbackRevision != ""
	})
	u.generalNeverRenders()
}

// A Rollback FleetFreeze, pulled during a revert, rolled the revert back to
// its fromRevision: every cluster took the change only the canary had, the
// kill switch spreading the change it was pulled to stop. It holds the
// revert instead.
func TestARollbackFreezeDoesNotSpreadWhatARevertUndoes(t *testing.T) {
	u, _ := givenARevert(t, "frzrevert")
	u.Create(&fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "frzrevert-incident"},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "incident", Action: fleetv1alpha1.FreezeRollback, FrozenBy: "oncall"},
	})
	t.Cleanup(func() {
		_ = u.C.Delete(u.Ctx, &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "frzrevert-incident"}})
	})
	ro := u.get("site-shop-3", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Freeze != nil })
	if ro.Status.RollbackRevision != "" {
		t.Errorf("the freeze rolls the revert back to %s", ro.Status.RollbackRevision)
	}
	u.generalNeverRenders()
}
