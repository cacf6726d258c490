package driftexception

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

// matchedResources counts only what the exception accepts right now: on a
// Work the hub gave it to, while it is in force. A member's agent naming
// team b's exception on team a's Work (which never carried it) counted on
// team b's exception; and after expiry, the report of an agent gone offline
// before kept it counting drift it no longer accepts. And drift it accepts
// beside unexplained fields was never indexed, so never listed to count.
func TestStatusCountsOnlyWhatItAcceptsNow(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := &fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "legacy", Generation: 1},
		Spec:       fleetv1alpha1.DriftExceptionSpec{Owner: "bob", ExpiresAt: metav1.NewTime(now.Add(time.Hour))},
	}
	report := func(spec ...string) fleetv1alpha1.Work {
		w := fleetv1alpha1.Work{Status: fleetv1alpha1.WorkStatus{Resources: []fleetv1alpha1.ResourceStatus{{Kind: "ConfigMap", Name: "x",
			Drift: &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted, Fields: []string{"data.size"}, Exception: "team-b/legacy"}}}}}
		for _, n := range spec {
			w.Spec.DriftExceptions = append(w.Spec.DriftExceptions, fleetv1alpha1.WorkDriftException{Name: n,
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: e.Spec.ExpiresAt})
		}
		return w
	}
	if got := Status(e, []fleetv1alpha1.Work{report()}, now).MatchedResources; got != 0 {
		t.Errorf("a Work the hub never gave team-b/legacy counts %d on it, want 0", got)
	}
	if got := Status(e, []fleetv1alpha1.Work{report("team-b/legacy")}, now).MatchedResources; got != 1 {
		t.Errorf("a Work that carries it counts %d, want 1", got)
	}
	if got := Status(e, []fleetv1alpha1.Work{report("team-b/legacy")}, now.Add(time.Hour)).MatchedResources; got != 0 {
		t.Errorf("expired, a stale report counts %d, want 0", got)
	}
	// The Work carries it, but it does not cover what the agent names it for.
	for _, rs := range []fleetv1alpha1.ResourceStatus{
		{Group: "apps", Kind: "Deployment", Name: "x", Drift: &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted,
			Fields: []string{"spec.replicas"}, Exception: "team-b/legacy"}},
		{Kind: "ConfigMap", Name: "x", Drift: &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted,
			Fields: []string{"data.size", "data.color"}, Exception: "team-b/legacy"}},
	} {
		w := report("team-b/legacy")
		w.Spec.DriftExceptions[0].Paths = []string{"data.size"}
		w.Status.Resources = []fleetv1alpha1.ResourceStatus{rs}
		if got := Status(e, []fleetv1alpha1.Work{w}, now).MatchedResources; got != 0 {
			t.Errorf("drift it does not cover (%s %v) counts %d, want 0", rs.Kind, rs.Drift.Fields, got)
		}
	}
	partial := fleetv1alpha1.Work{Status: fleetv1alpha1.WorkStatus{Resources: []fleetv1alpha1.ResourceStatus{{Kind: "ConfigMap", Name: "x",
		Drift: &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained, Fields: []string{"data.color"},
			AcceptedFields: []string{"data.size"}, Exception: "team-b/legacy"}}}}}
	if got := controller.AcceptingExceptions(&partial); !slices.Equal(got, []string{"team-b/legacy"}) {
		t.Errorf("a Work with fields accepted beside unexplained ones is indexed under %v, want team-b/legacy", got)
	}
}
