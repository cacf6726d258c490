package plan_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/health"
)

func TestClip(t *testing.T) {
	if got := plan.Clip("héllo", 4); got != "h..." {
		t.Errorf("clip = %q", got)
	}
	if got := plan.Clip("éééé", 6); got != "é..." {
		t.Errorf("clip on rune boundary = %q", got)
	}
	if got := plan.Clip("abc", 2); got != "ab" {
		t.Errorf("clip tiny = %q", got)
	}
}

func TestInWords(t *testing.T) {
	for in, want := range map[string]string{
		"Available: 1/2": "1 of 2 replicas available",
		"Updated: 0/3; Pod web-1 container app waiting: ContainerCreating": "0 of 3 replicas updated; Pod web-1 container app waiting: ContainerCreating",
		"Pending termination: 1":            "1 old replicas terminating",
		"Deployment generation is 3, but …": "Deployment generation is 3, but …",
	} {
		if got := plan.InWords(in); got != want {
			t.Errorf("plan.InWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConditionReason(t *testing.T) {
	for in, want := range map[string]string{
		"ImagePullBackOff": "ImagePullBackOff", "": fleetv1alpha1.ReasonUnhealthy, "9 lives": "lives",
		"Odd-reason.v2": "Oddreasonv2", "---": fleetv1alpha1.ReasonUnhealthy, strings.Repeat("A", 300): strings.Repeat("A", 128),
	} {
		if got := plan.ConditionReason(in); got != want {
			t.Errorf("plan.ConditionReason(%q) = %q, want %q", in, got, want)
		}
	}
}

// An object left alone by reconcile: disabled on the live object applies no
// revision the Work did not run yet; on the revision it runs it stays
// Skipped, as before.
func TestAnUnmanagedObjectAppliesNoNewRevision(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	healthy := health.Result{Status: fleetv1alpha1.HealthCurrent}
	prev := fleetv1alpha1.WorkStatus{AppliedRevision: "r1"}
	rec := plan.Report{Generation: 2, Revision: "r2", At: now, Resources: []plan.Resource{
		{Kind: "ConfigMap", Namespace: "a", Name: "x", Result: fleetv1alpha1.ApplyResultApplied, Health: healthy},
		{Kind: "ConfigMap", Namespace: "a", Name: "y", Result: fleetv1alpha1.ApplyResultSkipped, Health: healthy, Unmanaged: true},
	}}
	st := plan.Status(prev, rec, now)
	applied := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApplied)
	if st.AppliedRevision != "r1" || applied == nil || applied.Status != metav1.ConditionFalse ||
		!strings.Contains(applied.Message, "ConfigMap/a/y") || meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) {
		t.Errorf("a new revision with an unmanaged object: appliedRevision %q, Applied %+v, Ready %v; want r1, False naming ConfigMap/a/y, not Ready",
			st.AppliedRevision, applied, meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady))
	}
	prev.AppliedRevision = "r2"
	st = plan.Status(prev, rec, now)
	if st.AppliedRevision != "r2" || !meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) {
		t.Errorf("the revision it runs: appliedRevision %q, conditions %+v; want r2, Ready", st.AppliedRevision, st.Conditions)
	}
}
