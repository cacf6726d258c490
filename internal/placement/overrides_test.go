package placement

import (
	"errors"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func override(ns, name string, mutate func(*fleetv1alpha1.OverrideSpec)) fleetv1alpha1.Override {
	o := fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: fleetv1alpha1.OverrideSpec{
			Type:  fleetv1alpha1.PatchJSONMerge,
			Patch: runtime.RawExtension{Raw: []byte(`{"data":{"k":"v"}}`)},
		},
	}
	if mutate != nil {
		mutate(&o.Spec)
	}
	return o
}

func TestSelectOverrides(t *testing.T) {
	v := testView()
	const platform = fleetv1alpha1.PlatformNamespace
	overrides := []fleetv1alpha1.Override{
		override(platform, "all", nil),
		override(platform, "eu-only", func(s *fleetv1alpha1.OverrideSpec) {
			s.ClusterSelector.Fleets = []string{"prod-eu"}
		}),
		override(platform, "edge-high", func(s *fleetv1alpha1.OverrideSpec) {
			s.Priority = 10
			s.ClusterSelector.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}
		}),
		override(platform, "edge-low", func(s *fleetv1alpha1.OverrideSpec) {
			s.Priority = -10
			s.ClusterSelector.Names = []string{"eu-2"}
		}),
		override(platform, "other-promise", func(s *fleetv1alpha1.OverrideSpec) { s.Promise = "redis" }),
		override(platform, "gold-instances", func(s *fleetv1alpha1.OverrideSpec) {
			s.Promise = "postgres"
			s.InstanceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}
		}),
		override("team-a", "team-a-own", nil),
		override("team-b", "team-b-own", nil),
		override("team-a", "moves-things", func(s *fleetv1alpha1.OverrideSpec) {
			s.Patch = runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"kube-system"}}`)}
		}),
	}
	deleting := override(platform, "deleting", nil)
	deleting.DeletionTimestamp = &metav1.Time{}
	overrides = append(overrides, deleting)

	names := func(os []fleetv1alpha1.Override) []string {
		out := []string{}
		for i := range os {
			out = append(out, OverrideKey(&os[i]))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		s    Subject
		want []string
	}{
		{"team-a instance on eu-2: the team's first, then the platform's by priority then name",
			Subject{Promise: "postgres", Cluster: "eu-2", Instance: &Instance{Namespace: "team-a", Name: "orders"}},
			[]string{"team-a/team-a-own", platform + "/edge-low", platform + "/all", platform + "/eu-only", platform + "/edge-high"}},
		{"team-b instance on us-1 sees only its own team's and the platform's",
			Subject{Promise: "postgres", Cluster: "us-1", Instance: &Instance{Namespace: "team-b", Name: "billing"}},
			[]string{"team-b/team-b-own", platform + "/all"}},
		{"instance selector",
			Subject{Promise: "postgres", Cluster: "us-1", Instance: &Instance{Namespace: "team-b", Name: "gold", Labels: map[string]string{"tier": "gold"}}},
			[]string{"team-b/team-b-own", platform + "/all", platform + "/gold-instances"}},
		{"fleet resources: platform Overrides without an instance selector only",
			Subject{Promise: "postgres", Cluster: "eu-1"},
			[]string{platform + "/all", platform + "/eu-only"}},
		{"unknown cluster", Subject{Promise: "postgres", Cluster: "nope"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := names(v.SelectOverrides(overrides, tc.s))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestCheckOverride(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     fleetv1alpha1.Override
		want  string
		scope bool
	}{
		{name: "platform may rename", o: override(fleetv1alpha1.PlatformNamespace, "x", func(s *fleetv1alpha1.OverrideSpec) {
			s.Patch = runtime.RawExtension{Raw: []byte(`{"metadata":{"name":"y"}}`)}
		})},
		{name: "team may patch data", o: override("team-a", "x", nil)},
		{name: "team may not move", o: override("team-a", "x", func(s *fleetv1alpha1.OverrideSpec) {
			s.Patch = runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"kube-system"}}`)}
		}), want: "spec.patch.metadata.namespace", scope: true},
		{name: "team Values patches are render input", o: override("team-a", "x", func(s *fleetv1alpha1.OverrideSpec) {
			s.Type = fleetv1alpha1.PatchValues
			s.Patch = runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"anything"}}`)}
		})},
		{name: "patch not an object", o: override("team-a", "x", func(s *fleetv1alpha1.OverrideSpec) {
			s.Patch = runtime.RawExtension{Raw: []byte(`[1]`)}
		}), want: "spec.patch"},
		{name: "bad cluster selector", o: override("team-a", "x", func(s *fleetv1alpha1.OverrideSpec) {
			s.ClusterSelector.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}
		}), want: "spec.clusterSelector.selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOverride(&tc.o)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			var se *ScopeError
			if isScope := errors.As(err, &se); isScope != tc.scope {
				t.Errorf("scope error = %v, want %v", se != nil, tc.scope)
			}
		})
	}
}
