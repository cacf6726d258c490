package placement

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TestFleetSelectorBrokenOnARunningFleet: the API server takes any
// LabelSelector (an operator "in", a value with a space), and a Fleet's
// selector edited into one that does not parse holds no cluster. An instance
// that landed through it must then be held where it is (a violation: its
// Works are kept), not placed nowhere, which deletes its Works on every
// cluster and has the agents prune what runs there.
func TestFleetSelectorBrokenOnARunningFleet(t *testing.T) {
	clusters := []Cluster{
		{Name: "eu-1", Labels: map[string]string{"env": "prod", "region": "eu"}},
		{Name: "eu-2", Labels: map[string]string{"env": "prod", "region": "eu"}},
	}
	tenants := &fleetv1alpha1.Tenants{Namespaces: []string{"team-a"}}
	good := NewView(clusters, []Fleet{{Name: "prod-eu", Selector: sel(map[string]string{"region": "eu"}), Tenants: tenants}})
	req := Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu"}}, Namespace: Namespace{Name: "team-a"}}
	if got := good.Place(req); len(got.Clusters) != 2 {
		t.Fatalf("before the edit: %+v", got)
	}
	for _, broken := range []metav1.LabelSelector{
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "region", Operator: "in", Values: []string{"eu"}}}},
		{MatchLabels: map[string]string{"region": "eu west"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "region", Operator: metav1.LabelSelectorOpIn}}},
	} {
		v := NewView(clusters, []Fleet{{Name: "prod-eu", Selector: broken, Tenants: tenants}})
		got := v.Place(req)
		if len(got.Violations) == 0 {
			t.Errorf("selector %v: placed on %v with no violation: the instance's Works would be deleted on every cluster", broken, got.Clusters)
			continue
		}
		if got.Violations[0].Reason != ReasonInvalidSpec || !strings.Contains(got.Violations[0].Message, "Fleet prod-eu") {
			t.Errorf("selector %v: violations %+v, want InvalidSpec naming Fleet prod-eu", broken, got.Violations)
		}
		// Without naming Fleets in the Promise: the namespace's Fleets.
		if got := v.Place(Request{Namespace: Namespace{Name: "team-a"}}); len(got.Violations) == 0 {
			t.Errorf("selector %v, no Promise placement: placed on %v with no violation", broken, got.Clusters)
		}
	}
}
