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

// The attack: a team may ask its instance's Rollouts for a rollback to any
// earlier revision of the instance, and a rollback admits every cluster at
// once. It makes a change (an Override, here) whose canary it rolls back,
// then a harmless change the general wave approves, then rolls that back to
// the first change's revision: every cluster took a change the general wave
// never approved (and an Override since deleted). A rollback of an
// instance's Rollout now returns only to a revision the fleet ran in full.
func TestARollbackReturnsOnlyToARevisionTheFleetRan(t *testing.T) {
	s := newStory(t, "rbto.example.com")
	s.strategy("rbto", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite("rbto", "rbto")
	const team = "rbto-team"
	canary, general := "rbto-c1", []string{"rbto-g1", "rbto-g2"}
	get := func(name string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
		ro := &fleetv1alpha1.Rollout{}
		promisetest.Eventually(t, time.Minute, "rollout "+name, func() (bool, string) {
			if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: name}, ro); err != nil {
				return false, err.Error()
			}
			return check(ro), fmt.Sprintf("%s %+v", ro.Status.Phase, ro.Status.Counts)
		})
		return ro
	}
	patch := func(ro *fleetv1alpha1.Rollout, f func(*fleetv1alpha1.Rollout)) {
		base := ro.DeepCopy()
		f(ro)
		if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
	}
	// An Override the general wave never approves; the team rolls it back.
	s.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{Promise: "rbto", Type: fleetv1alpha1.PatchJSONMerge,
			Patch: promisetest.Raw(map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "gold"}}})},
	})
	first := get("site-shop-1", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	unapproved := first.Spec.TargetRevision
	patch(first, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	get("site-shop-1", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack })
	if err := s.C.Delete(s.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "labelled", Namespace: team}}); err != nil {
		t.Fatal(err)
	}
	// An approved spec change.
	inst := &unstructured.Unstructured{}
	inst.SetAPIVersion(s.group + "/v1alpha1")
	inst.SetKind("Site")
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: "shop"}, inst); err != nil {
		t.Fatal(err)
	}
	s.UpdateInstance(inst, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, "large", "spec", "size") })
	get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.ReportReady(s.Work("rbto", team, "shop", canary))
	second := get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval
	})
	patch(second, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	second = get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 3 })
	// The rollback to the revision the general wave never approved.
	patch(second, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: unapproved, ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner"}}
	})
	get("site-shop-2", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionIs(ro.Status.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue)
	})
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range append([]string{canary}, general...) {
			if w := s.Work("rbto", team, "shop", c); w.Spec.InstanceRevision != second.Spec.TargetRevision {
				t.Fatalf("%s renders %s (overrides %v), the revision the general wave never approved", c, w.Spec.InstanceRevision, w.Spec.Overrides)
			}
		}
	}
}
