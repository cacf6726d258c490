package placement

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The fleet the table below places onto:
//
//	eu-1, eu-2  env=prod region=eu   fleet prod-eu (tenants team-a, and namespaces labelled tenant=eu)
//	us-1        env=prod region=us   fleet prod-us (tenants team-b)
//	dev-1       env=dev              fleet dev     (no tenants)
//	lone-1      env=prod region=ap   no fleet
//	gone-1      env=prod region=eu   being deleted
func testView() *View {
	return NewView([]Cluster{
		{Name: "us-1", Labels: map[string]string{"env": "prod", "region": "us"}},
		{Name: "eu-2", Labels: map[string]string{"env": "prod", "region": "eu", "tier": "edge"}},
		{Name: "eu-1", Labels: map[string]string{"env": "prod", "region": "eu"}},
		{Name: "dev-1", Labels: map[string]string{"env": "dev"}},
		{Name: "lone-1", Labels: map[string]string{"env": "prod", "region": "ap"}},
		{Name: "gone-1", Labels: map[string]string{"env": "prod", "region": "eu"}, Deleting: true},
	}, []Fleet{
		{Name: "prod-eu", Selector: sel(map[string]string{"env": "prod", "region": "eu"}), Tenants: &fleetv1alpha1.Tenants{
			Namespaces:        []string{"team-a"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "eu"}},
		}},
		{Name: "prod-us", Selector: sel(map[string]string{"region": "us"}), Tenants: &fleetv1alpha1.Tenants{Namespaces: []string{"team-b"}}},
		{Name: "dev", Selector: sel(map[string]string{"env": "dev"})},
		{Name: "broken", Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}},
			Tenants: &fleetv1alpha1.Tenants{Namespaces: []string{"team-z"}}},
	})
}

func sel(m map[string]string) metav1.LabelSelector { return metav1.LabelSelector{MatchLabels: m} }

func TestPlace(t *testing.T) {
	v := testView()
	teamA := Namespace{Name: "team-a"}
	for _, tc := range []struct {
		name      string
		req       Request
		want      []string
		violation string // substring of the violations' message; "" for none
		reason    string
	}{
		{name: "no placement: every cluster of the namespace's Fleets",
			req: Request{Namespace: teamA}, want: []string{"eu-1", "eu-2"}},
		{name: "platform namespace: every cluster, Fleet or not, except those being deleted",
			req:  Request{Namespace: Namespace{Name: fleetv1alpha1.PlatformNamespace}},
			want: []string{"dev-1", "eu-1", "eu-2", "lone-1", "us-1"}},
		{name: "Promise names two Fleets; the tenant gets its own",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu", "prod-us"}}, Namespace: Namespace{Name: "team-b"}},
			want: []string{"us-1"}},
		{name: "namespace admitted by label",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu"}}, Namespace: Namespace{Name: "team-z", Labels: map[string]string{"tenant": "eu"}}},
			want: []string{"eu-1", "eu-2"}},
		{name: "Promise selector ANDs with tenancy",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}}, Namespace: teamA},
			want: []string{"eu-1", "eu-2"}},
		{name: "Promise terms AND: fleet and names",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu"}, Names: []string{"eu-2", "us-1"}}, Namespace: teamA},
			want: []string{"eu-2"}},
		{name: "instance narrows with a selector",
			req: Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu"}},
				Instance: &fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}}, Namespace: teamA},
			want: []string{"eu-2"}},
		{name: "instance cannot widen: naming a cluster outside the Promise's placement gives nothing",
			req: Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu"}},
				Instance: &fleetv1alpha1.ClusterSelector{Names: []string{"lone-1"}}, Namespace: teamA},
			want: nil},
		{name: "no cluster matches: no violation, nothing placed",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"env": "staging"}}}, Namespace: teamA},
			want: nil},
		{name: "namespace of no Fleet",
			req: Request{Namespace: Namespace{Name: "team-c"}}, violation: "namespace team-c is not a tenant of any Fleet", reason: ReasonTenancyViolation},
		{name: "namespace of none of the Promise's Fleets",
			req:       Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-us", "dev"}}, Namespace: teamA},
			violation: "not a tenant of any Fleet of the Promise's placement (prod-us, dev)", reason: ReasonTenancyViolation},
		{name: "instance names a Fleet its namespace is not a tenant of",
			req: Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-eu", "prod-us"}},
				Instance: &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod-us"}}, Namespace: teamA},
			violation: "namespace team-a is not a tenant of Fleet prod-us", reason: ReasonTenancyViolation},
		{name: "instance names a Fleet that does not exist",
			req:       Request{Instance: &fleetv1alpha1.ClusterSelector{Fleets: []string{"nope"}}, Namespace: teamA},
			violation: `names Fleet "nope", which does not exist`, reason: ReasonNotFound},
		{name: "instance selector that does not parse",
			req: Request{Instance: &fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}},
				Namespace: teamA},
			violation: "spec.placement: invalid selector", reason: ReasonInvalidSpec},
		{name: "a Fleet with a broken selector holds the instances it admits where they are",
			req:       Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"broken", "prod-eu"}}, Namespace: Namespace{Name: "team-z"}},
			violation: `Fleet broken: "Bogus" is not a valid label selector operator`, reason: ReasonInvalidSpec},
		{name: "a broken Fleet that does not admit the namespace is not its concern",
			req:  Request{Promise: &fleetv1alpha1.ClusterSelector{Fleets: []string{"broken", "prod-eu"}}, Namespace: teamA},
			want: []string{"eu-1", "eu-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := v.Place(tc.req)
			if tc.violation != "" {
				if len(got.Violations) == 0 || !strings.Contains(got.Message(), tc.violation) || got.Violations[0].Reason != tc.reason {
					t.Fatalf("violations %+v, want %s containing %q", got.Violations, tc.reason, tc.violation)
				}
				if len(got.Clusters) != 0 {
					t.Errorf("placed on %v despite a violation", got.Clusters)
				}
				return
			}
			if len(got.Violations) > 0 {
				t.Fatalf("unexpected violations: %+v", got.Violations)
			}
			if !slices.Equal(got.Clusters, tc.want) {
				t.Errorf("clusters %v, want %v", got.Clusters, tc.want)
			}
		})
	}
}

func TestFleetMembers(t *testing.T) {
	v := testView()
	if got := v.FleetMembers("prod-eu"); !slices.Equal(got, []string{"eu-1", "eu-2", "gone-1"}) {
		t.Errorf("prod-eu members %v", got)
	}
	if got := v.FleetMembers("broken"); len(got) != 0 {
		t.Errorf("a Fleet with a broken selector has members %v", got)
	}
	if !v.InFleet("us-1", "prod-us") || v.InFleet("us-1", "prod-eu") || v.InFleet("us-1", "nope") {
		t.Error("InFleet")
	}
}

func TestAdmits(t *testing.T) {
	f := Fleet{Name: "f", Tenants: &fleetv1alpha1.Tenants{Namespaces: []string{"a"},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"t": "y"}}}}
	for _, tc := range []struct {
		ns   Namespace
		want bool
	}{
		{Namespace{Name: "a"}, true},
		{Namespace{Name: "b", Labels: map[string]string{"t": "y"}}, true},
		{Namespace{Name: "b", Labels: map[string]string{"t": "n"}}, false},
		{Namespace{Name: fleetv1alpha1.PlatformNamespace}, true},
	} {
		if got := Admits(f, tc.ns); got != tc.want {
			t.Errorf("Admits(%+v) = %v", tc.ns, got)
		}
	}
	if Admits(Fleet{Name: "closed"}, Namespace{Name: "a"}) {
		t.Error("a Fleet without tenants admitted a team")
	}
}
