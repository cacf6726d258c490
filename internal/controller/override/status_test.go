package override

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render"
)

func TestNewStatus(t *testing.T) {
	now := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	works := []fleetv1alpha1.Work{
		{Spec: fleetv1alpha1.WorkSpec{Cluster: "a"}},
		{Spec: fleetv1alpha1.WorkSpec{Cluster: "a"}},
		{Spec: fleetv1alpha1.WorkSpec{Cluster: "b"}},
	}
	for _, tc := range []struct {
		name, ns, patch, reason, message string
		ready                            metav1.ConditionStatus
	}{
		{"platform", fleetv1alpha1.PlatformNamespace, `{"data":{"a":"b"}}`, fleetv1alpha1.ReasonSucceeded, "any instance", metav1.ConditionTrue},
		{"team", "team-a", `{"data":{"a":"b"}}`, fleetv1alpha1.ReasonSucceeded, "instances in namespace team-a only", metav1.ConditionTrue},
		{"team moving resources", "team-a", `{"metadata":{"namespace":"kube-system"}}`, fleetv1alpha1.ReasonOutOfScope, "may not move or rename", metav1.ConditionFalse},
		{"invalid patch", "team-a", `"x"`, fleetv1alpha1.ReasonInvalidSpec, "spec.patch", metav1.ConditionFalse},
		{"team changing kind", "team-a", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding"}`, fleetv1alpha1.ReasonPatchNotAllowed,
			"override team-a/o: the patch sets apiVersion", metav1.ConditionFalse},
		{"team using $retainKeys", "team-a", `{"metadata":{"$retainKeys":["name"]}}`, fleetv1alpha1.ReasonPatchNotAllowed,
			`the patch uses "$retainKeys" at patch.metadata`, metav1.ConditionFalse},
		{"platform using $retainKeys", fleetv1alpha1.PlatformNamespace, `{"metadata":{"$retainKeys":["name"]}}`, fleetv1alpha1.ReasonSucceeded,
			"any instance", metav1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &fleetv1alpha1.Override{
				ObjectMeta: metav1.ObjectMeta{Namespace: tc.ns, Name: "o", Generation: 4},
				Spec:       fleetv1alpha1.OverrideSpec{Type: fleetv1alpha1.PatchJSONMerge, Patch: runtime.RawExtension{Raw: []byte(tc.patch)}},
			}
			st := newStatus(o, works, 0, render.CheckTeamPatch(o), now)
			if st.AffectedWorks != 3 || st.AffectedClusters != 2 || st.ObservedGeneration != 4 {
				t.Errorf("counts %+v", st)
			}
			c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
			if c == nil || c.Status != tc.ready || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) {
				t.Errorf("Ready = %+v", c)
			}
			stalled := meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionStalled)
			if stalled != (tc.ready == metav1.ConditionFalse) {
				t.Errorf("Stalled = %v", stalled)
			}
		})
	}
}

// A team Override whose instances' Rollouts have not moved every Work on
// says how many render an earlier spec of it.
func TestNewStatusCountsWorksAtAnEarlierSpec(t *testing.T) {
	o := &fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "o", Generation: 2},
		Spec:       fleetv1alpha1.OverrideSpec{Type: fleetv1alpha1.PatchValues, Patch: runtime.RawExtension{Raw: []byte(`{"size":"large"}`)}},
	}
	works := []fleetv1alpha1.Work{{Spec: fleetv1alpha1.WorkSpec{Cluster: "a"}}, {Spec: fleetv1alpha1.WorkSpec{Cluster: "b"}}, {Spec: fleetv1alpha1.WorkSpec{Cluster: "c"}}}
	st := newStatus(o, works, 2, nil, time.Now())
	c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
	if st.PendingWorks != 2 || st.AffectedWorks != 3 || c == nil || c.Status != metav1.ConditionTrue ||
		!strings.Contains(c.Message, "; 2 of the 3 Works it shapes render an earlier spec of it until their instances' Rollouts move them on") {
		t.Errorf("status %+v, Ready %+v", st, c)
	}
	if st := newStatus(o, works, 0, nil, time.Now()); strings.Contains(meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady).Message, "earlier") {
		t.Errorf("with none pending: %+v", st)
	}
}
