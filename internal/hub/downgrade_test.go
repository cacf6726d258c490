package hub

import (
	"context"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// A hub downgraded to an older build for an hour (a rollback of its
// Deployment) installs its CRDs at start. They replaced the newer hub's,
// and the API server drops from every object the fields its CRD does not
// declare, at the next write of the object, whoever writes: the older hub's
// first status write of a Rollout erased what a person recorded in a field
// only the newer build knows (here a gate's "by"), and it was gone when the
// newer hub came back. The older hub keeps the fields it does not know in
// the CRDs it installs.
func TestAnOlderHubKeepsTheFieldsOfTheNewerHubsCRDs(t *testing.T) {
	ctx := context.Background()
	cp := testenv.NewHubWithCRDs(t)
	c, err := client.New(cp.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}

	// The newer hub's CRD: this build's, with spec.futureGate.
	crds, err := crd.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	var newer *apiextensionsv1.CustomResourceDefinition
	for _, x := range crds {
		if x.Spec.Names.Plural == "rollouts" {
			newer = x
		}
	}
	spec := newer.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	spec.Properties["futureGate"] = apiextensionsv1.JSONSchemaProps{Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{"by": {Type: "string"}}}
	newer.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	if err := kube.InstallCRDs(ctx, cp.RESTConfig, []*apiextensionsv1.CustomResourceDefinition{newer.DeepCopy()}); err != nil {
		t.Fatal(err)
	}
	ro := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "fleet.flotilla.dev/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"namespace": "default", "name": "web-7"},
		"spec": map[string]any{"subject": map[string]any{"promise": "web"}, "targetRevision": "web-r2",
			"futureGate": map[string]any{"by": "alice"}},
	}}
	if err := c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}

	// The older hub (this build) starts, and writes the Rollout's status.
	if _, err := installCRDs(ctx, cp.RESTConfig); err != nil {
		t.Fatal(err)
	}
	typed := &fleetv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ro), typed); err != nil {
		t.Fatal(err)
	}
	if err := controller.PatchStatus(ctx, c, nil, typed, func(r *fleetv1alpha1.Rollout) {
		r.Status.Phase = fleetv1alpha1.RolloutPhaseProgressing
	}); err != nil {
		t.Fatal(err)
	}

	// The newer hub is back.
	if err := kube.InstallCRDs(ctx, cp.RESTConfig, []*apiextensionsv1.CustomResourceDefinition{newer.DeepCopy()}); err != nil {
		t.Fatal(err)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(ro.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
		t.Fatal(err)
	}
	if by, _, _ := unstructured.NestedString(got.Object, "spec", "futureGate", "by"); by != "alice" {
		t.Errorf("spec.futureGate.by = %q after an hour of an older hub, want alice (spec %v)", by, got.Object["spec"])
	}
}
