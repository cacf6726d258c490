package crd

import (
	"context"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestCRDsDecodeAndValidate(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) < 10 {
		t.Fatalf("got %d CRDs, want at least 10", len(crds))
	}
	for i, crd := range crds {
		if i > 0 && crds[i-1].Name >= crd.Name {
			t.Errorf("CRDs not sorted by name: %s before %s", crds[i-1].Name, crd.Name)
		}
		if crd.Spec.Group != v1alpha1.Group {
			t.Errorf("%s: group %q, want %q", crd.Name, crd.Spec.Group, v1alpha1.Group)
		}
		if !hasCategory(crd, "flotilla") {
			t.Errorf("%s: missing category flotilla", crd.Name)
		}
		// The same validation the API server runs on create: structural
		// schema, CEL compilation and CEL cost budgets.
		var internal apiextensions.CustomResourceDefinition
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, &internal, nil); err != nil {
			t.Fatalf("%s: converting: %v", crd.Name, err)
		}
		internal.Status.StoredVersions = []string{v1alpha1.GroupVersion.Version} // set by the API server on create
		if errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) > 0 {
			t.Errorf("%s: invalid CRD:\n%v", crd.Name, errs.ToAggregate())
		}
	}
}

func TestCRDsCoverEveryKind(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, crd := range crds {
		kinds[crd.Spec.Names.Kind] = true
	}
	for _, want := range []string{"Cluster", "Fleet", "Promise", "PromiseRevision", "Work",
		"RolloutStrategy", "Rollout", "Override", "DriftException", "FleetFreeze"} {
		if !kinds[want] {
			t.Errorf("no CRD for kind %s", want)
		}
	}
}

func TestCRDsReturnsFreshObjects(t *testing.T) {
	a, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	a[0].Name = "changed"
	b, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if b[0].Name == "changed" {
		t.Fatal("CRDs shares objects between calls")
	}
}

func hasCategory(crd *apiextensionsv1.CustomResourceDefinition, want string) bool {
	for _, c := range crd.Spec.Names.Categories {
		if c == want {
			return true
		}
	}
	return false
}
