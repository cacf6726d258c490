package rollout_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// After the Rollout of an instance change is rolled back the fleet runs the
// old spec while the instance still shows the new one: its status says so
// (SpecApplied=False/RolledBack, Ready=False, Stalled=True, the two instance
// revisions side by side) until the owner applies the old spec again, which
// brings it back to Ready without another Rollout.
func TestInstanceStatusAfterRollback(t *testing.T) {
	s := newStory(t, "irollback.example.com")
	s.strategy("irollback", fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}))
	s.givenSite("irollback", "irollback")
	const team = "irollback-team"
	status := func(what string, check func(fleetv1alpha1.InstanceStatus) bool) fleetv1alpha1.InstanceStatus {
		t.Helper()
		return s.WaitInstance(s.group, "Site", team, "shop", what, check)
	}
	before := status("ready on the first spec", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) &&
			promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionSpecApplied, metav1.ConditionTrue)
	})
	old := before.InstanceRevision
	if old == "" || before.AppliedInstanceRevision != old {
		t.Fatalf("instanceRevision %q, appliedInstanceRevision %q: want both set and equal", old, before.AppliedInstanceRevision)
	}

	// The owner changes the spec; the canary takes it, then they roll back.
	inst := promisetest.Instance(s.group, "Site", team, "shop", nil)
	if err := s.C.Patch(s.Ctx, inst, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"size":"large"}}`))); err != nil {
		t.Fatal(err)
	}
	ro := &fleetv1alpha1.Rollout{}
	key := client.ObjectKey{Namespace: team, Name: "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)}
	promisetest.Eventually(t, time.Minute, "the instance's Rollout admitting the canary", func() (bool, string) {
		if err := s.C.Get(s.Ctx, key, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Counts.Admitted == 1, string(ro.Status.Phase)
	})
	s.WaitWork("irollback", team, "shop", "irollback-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == ro.Spec.TargetRevision, w.Spec.InstanceRevision
	})
	s.ReportReady(s.Work("irollback", team, "shop", "irollback-c1"))
	rolling := status("rolling out the new spec", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionReason(st.Conditions, fleetv1alpha1.ConditionSpecApplied) == fleetv1alpha1.ReasonProgressing
	})
	if rolling.InstanceRevision != ro.Spec.TargetRevision || !promisetest.ConditionIs(rolling.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionFalse) {
		t.Errorf("while the change rolls out: %+v", rolling)
	}
	promisetest.Eventually(t, time.Minute, "waiting for the general wave's approval", func() (bool, string) {
		if err := s.C.Get(s.Ctx, key, ro); err != nil {
			return false, err.Error()
		}
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval, string(ro.Status.Phase)
	})
	base := ro.DeepCopy()
	ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "owner", Message: "size large was a mistake"}}
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		t.Fatal(err)
	}
	s.WaitWork("irollback", team, "shop", "irollback-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == old, w.Spec.InstanceRevision
	})
	s.ReportReady(s.Work("irollback", team, "shop", "irollback-c1"))

	// The fleet runs the old spec, healthy; the instance does not read Ready.
	after := status("rolled back", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionReason(st.Conditions, fleetv1alpha1.ConditionSpecApplied) == fleetv1alpha1.ReasonRolledBack
	})
	if after.InstanceRevision != ro.Spec.TargetRevision || after.AppliedInstanceRevision != old {
		t.Errorf("instanceRevision %q appliedInstanceRevision %q, want %q (the spec) and %q (what runs)",
			after.InstanceRevision, after.AppliedInstanceRevision, ro.Spec.TargetRevision, old)
	}
	for _, c := range []struct {
		typ    string
		status metav1.ConditionStatus
	}{
		{fleetv1alpha1.ConditionSpecApplied, metav1.ConditionFalse},
		{fleetv1alpha1.ConditionReady, metav1.ConditionFalse},
		{fleetv1alpha1.ConditionStalled, metav1.ConditionTrue},
		{fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse},
	} {
		cond := meta.FindStatusCondition(after.Conditions, c.typ)
		if cond == nil || cond.Status != c.status {
			t.Errorf("%s = %+v, want %s", c.typ, cond, c.status)
			continue
		}
		if c.status != metav1.ConditionTrue && c.typ != fleetv1alpha1.ConditionReconciling && cond.Reason != fleetv1alpha1.ReasonRolledBack {
			t.Errorf("%s reason %s, want %s", c.typ, cond.Reason, fleetv1alpha1.ReasonRolledBack)
		}
	}
	ready := meta.FindStatusCondition(after.Conditions, fleetv1alpha1.ConditionReady)
	for _, want := range []string{key.Namespace + "/" + key.Name, "the fleet runs instance revision " + old, "apply that spec and its Overrides again"} {
		if ready != nil && !strings.Contains(ready.Message, want) {
			t.Errorf("Ready message %q does not say %q", ready.Message, want)
		}
	}

	// The owner applies the old spec again: it is the revision the fleet
	// runs, so the instance is Ready with no new Rollout.
	if err := s.C.Patch(s.Ctx, inst, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"size":"small"}}`))); err != nil {
		t.Fatal(err)
	}
	inLine := status("back in line", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue)
	})
	if inLine.InstanceRevision != old || inLine.AppliedInstanceRevision != old ||
		!promisetest.ConditionIs(inLine.Conditions, fleetv1alpha1.ConditionSpecApplied, metav1.ConditionTrue) ||
		!promisetest.ConditionIs(inLine.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionFalse) {
		t.Errorf("after applying the old spec: %+v", inLine)
	}
	next := client.ObjectKey{Namespace: team, Name: "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)}
	if err := s.C.Get(s.Ctx, next, &fleetv1alpha1.Rollout{}); !apierrors.IsNotFound(err) {
		t.Errorf("Rollout %s: %v, want none: the fleet already runs that spec", next, err)
	}
}
