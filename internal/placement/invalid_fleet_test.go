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

// TestTenantsSelectorBrokenOnARunningFleet: the same typo in a Fleet's
// tenants.namespaceSelector (the platform onboards teams by a namespace
// label) admitted no namespace. Team-a, a tenant of prod-eu by label and of
// dev by name, was placed on dev alone: its Works on every prod-eu cluster
// were deleted and the agents pruned its production workloads, for a typo,
// while the Fleet read Ready. An instance the Fleet may admit is held where
// it is, as for a broken cluster selector.
func TestTenantsSelectorBrokenOnARunningFleet(t *testing.T) {
	clusters := []Cluster{
		{Name: "eu-1", Labels: map[string]string{"env": "prod", "region": "eu"}},
		{Name: "dev-1", Labels: map[string]string{"env": "dev"}},
	}
	ns := Namespace{Name: "team-a", Labels: map[string]string{"tier": "gold"}}
	dev := Fleet{Name: "dev", Selector: sel(map[string]string{"env": "dev"}), Tenants: &fleetv1alpha1.Tenants{Namespaces: []string{"team-a"}}}
	prod := func(s metav1.LabelSelector) Fleet {
		return Fleet{Name: "prod-eu", Selector: sel(map[string]string{"region": "eu"}), Tenants: &fleetv1alpha1.Tenants{NamespaceSelector: &s}}
	}
	good := NewView(clusters, []Fleet{dev, prod(sel(map[string]string{"tier": "gold"}))})
	if got := good.Place(Request{Namespace: ns}); len(got.Clusters) != 2 {
		t.Fatalf("before the edit: %+v", got)
	}
	for _, broken := range []metav1.LabelSelector{
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "in", Values: []string{"gold"}}}},
		{MatchLabels: map[string]string{"tier": "gold plated"}},
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}},
	} {
		v := NewView(clusters, []Fleet{dev, prod(broken)})
		got := v.Place(Request{Namespace: ns})
		if len(got.Violations) == 0 {
			t.Errorf("tenants selector %v: placed on %v with no violation: the Works on prod-eu's clusters would be deleted", broken, got.Clusters)
			continue
		}
		if got.Violations[0].Reason != ReasonInvalidSpec || !strings.Contains(got.Violations[0].Message, "Fleet prod-eu") {
			t.Errorf("tenants selector %v: violations %+v, want InvalidSpec naming Fleet prod-eu", broken, got.Violations)
		}
		// A namespace the Fleet alone admitted (by label) is held naming it.
		if got := NewView(clusters, []Fleet{prod(broken)}).Place(Request{Namespace: ns}); len(got.Violations) == 0 ||
			got.Violations[0].Reason != ReasonInvalidSpec || !strings.Contains(got.Violations[0].Message, "Fleet prod-eu") {
			t.Errorf("tenants selector %v, prod-eu alone: %+v", broken, got)
		}
		// An instance narrowed to dev is placed there as before.
		if got := v.Place(Request{Namespace: ns, Instance: &fleetv1alpha1.ClusterSelector{Fleets: []string{"dev"}}}); len(got.Violations) != 0 || len(got.Clusters) != 1 {
			t.Errorf("tenants selector %v, instance narrowed to dev: %+v", broken, got)
		}
	}
}
