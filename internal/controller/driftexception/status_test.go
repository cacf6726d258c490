package driftexception

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// matchedResources counts the resources whose drift the exception accepts,
// in full or beside unexplained drift; Active follows expiresAt.
func TestStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := &fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sale", Generation: 2},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "alice", ExpiresAt: metav1.NewTime(now.Add(time.Hour))},
	}
	resource := func(d *fleetv1alpha1.ResourceDrift) fleetv1alpha1.ResourceStatus {
		return fleetv1alpha1.ResourceStatus{Kind: "ConfigMap", Name: "x", Drift: d}
	}
	const U, A = fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted
	works := []fleetv1alpha1.Work{{Spec: fleetv1alpha1.WorkSpec{DriftExceptions: []fleetv1alpha1.WorkDriftException{{Name: "team-a/sale",
		Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: e.Spec.ExpiresAt}}}, // as the hub gives it
		Status: fleetv1alpha1.WorkStatus{Resources: []fleetv1alpha1.ResourceStatus{
			resource(&fleetv1alpha1.ResourceDrift{State: A, Fields: []string{"data.size"}, Exception: "team-a/sale"}),                                         // counts
			resource(&fleetv1alpha1.ResourceDrift{State: U, Fields: []string{"data.color"}, AcceptedFields: []string{"data.size"}, Exception: "team-a/sale"}), // counts
			resource(&fleetv1alpha1.ResourceDrift{State: A, Fields: []string{"data.size"}, Exception: "team-b/sale"}),                                         // another exception
			resource(&fleetv1alpha1.ResourceDrift{State: U, Fields: []string{"data.color"}}),                                                                  // unexplained only
			resource(nil),
		}}}}

	st := Status(e, works, now)
	if st.MatchedResources != 2 || st.ObservedGeneration != 2 || st.Works != 1 {
		t.Errorf("matchedResources %d, observedGeneration %d, works %d; want 2, 2 and 1", st.MatchedResources, st.ObservedGeneration, st.Works)
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonInForce {
		t.Errorf("Active before expiry = %+v, want True/InForce", c)
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); strings.Contains(c.Message, "no Work carries it") {
		t.Errorf("Active on a Work = %q, want no word of no Work", c.Message)
	}

	// In force, but no Work carries it (it selects nothing delivered, or
	// the Works are full): Active says so, lest the owner think the drift
	// covered.
	st = Status(e, []fleetv1alpha1.Work{{}}, now)
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); st.Works != 0 || c == nil || c.Status != metav1.ConditionTrue ||
		!strings.Contains(c.Message, "no Work carries it") {
		t.Errorf("carried by no Work: works %d, Active = %+v; want 0 and a message saying so", st.Works, c)
	}

	st = Status(e, nil, now.Add(time.Hour))
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); c == nil || c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonExpired {
		t.Errorf("Active at expiry = %+v, want False/Expired", c)
	}
	if st.MatchedResources != 0 {
		t.Errorf("matchedResources without works = %d", st.MatchedResources)
	}
}
