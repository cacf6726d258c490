package override

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	hubconfig "github.com/flotilla-dev/flotilla/config/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The admission policy config/hub/override-patch-policy.yaml, on a real API
// server: a team's Override that would change which object it patches, or
// use a $ directive, is refused when it is written; the same patch in
// flotilla-system, and a team's ordinary patch, are accepted.
func TestTeamOverridePolicy(t *testing.T) {
	hub := testenv.NewHubWithCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{fleetv1alpha1.PlatformNamespace, "team-a"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	policies, bindings, err := hubconfig.TeamOverridePolicies()
	if err != nil {
		t.Fatal(err)
	}
	if err := kube.InstallAdmissionPolicies(ctx, hub.RESTConfig, policies, bindings); err != nil {
		t.Fatal(err)
	}

	override := func(ns string, typ fleetv1alpha1.PatchType, patch string) *fleetv1alpha1.Override {
		return &fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "o-"},
			Spec:       fleetv1alpha1.OverrideSpec{Type: typ, Patch: runtime.RawExtension{Raw: []byte(patch)}},
		}
	}
	// The policy takes a moment to be enforced once installed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, override("team-a", fleetv1alpha1.PatchJSONMerge, `{"kind":"ClusterRoleBinding"}`), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "flotilla-team-overrides") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy is not enforced: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, tc := range []struct {
		name, ns  string
		typ       fleetv1alpha1.PatchType
		patch     string
		refusedBy string
	}{
		{"kind", "team-a", fleetv1alpha1.PatchJSONMerge, `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding"}`, "may not set apiVersion or kind"},
		{"rename", "team-a", fleetv1alpha1.PatchJSONMerge, `{"metadata":{"name":"other"}}`, "may not set or replace metadata"},
		{"drop metadata", "team-a", fleetv1alpha1.PatchJSONMerge, `{"metadata":null}`, "may not set or replace metadata"},
		{"$retainKeys", "team-a", fleetv1alpha1.PatchStrategicMerge, `{"metadata":{"$retainKeys":["name"]}}`, "may not use $ directives"},
		{"$patch deeper", "team-a", fleetv1alpha1.PatchStrategicMerge, `{"spec":{"template":{"$patch":"replace"}}}`, "may not use $ directives"},
		{"labels", "team-a", fleetv1alpha1.PatchStrategicMerge, `{"metadata":{"labels":{"a":"b"}},"spec":{"replicas":2}}`, ""},
		{"values", "team-a", fleetv1alpha1.PatchValues, `{"kind":"anything"}`, ""},
		{"the platform's", fleetv1alpha1.PlatformNamespace, fleetv1alpha1.PatchStrategicMerge, `{"kind":"Secret","metadata":{"$retainKeys":["name"]}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, override(tc.ns, tc.typ, tc.patch))
			switch {
			case tc.refusedBy == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refusedBy != "" && (err == nil || !strings.Contains(err.Error(), tc.refusedBy)):
				t.Fatalf("error %v, want one containing %q", err, tc.refusedBy)
			}
		})
	}
}
