package instanceapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
)

func api(schema string) *fleetv1alpha1.PromiseAPI {
	return &fleetv1alpha1.PromiseAPI{Group: "platform.example.com", Kind: "Postgres", Schema: runtime.RawExtension{Raw: []byte(schema)}}
}

// The plural defaults to the lower-cased kind plus "s", as the API documents
// ("postgress"): set spec.api.plural for anything better.
func TestGenerateCRD(t *testing.T) {
	got, err := GenerateCRD("postgres", api(`{"type":"object","required":["size"],"properties":{"size":{"type":"string","enum":["small","large"]}},
		"x-kubernetes-validations":[{"rule":"self.size != 'large' || true"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "postgress.platform.example.com" || got.Spec.Group != "platform.example.com" {
		t.Errorf("name %s group %s", got.Name, got.Spec.Group)
	}
	n := got.Spec.Names
	if n.Kind != "Postgres" || n.ListKind != "PostgresList" || n.Plural != "postgress" || n.Singular != "postgres" || !slices.Equal(n.Categories, []string{"flotilla"}) {
		t.Errorf("names %+v", n)
	}
	if got.Spec.Scope != apiextensionsv1.NamespaceScoped {
		t.Errorf("scope %s", got.Spec.Scope)
	}
	if got.Labels[fleetv1alpha1.LabelPromise] != "postgres" || got.Labels[fleetv1alpha1.LabelManagedBy] != fleetv1alpha1.ManagedByValue {
		t.Errorf("labels %v", got.Labels)
	}
	if len(got.Spec.Versions) != 1 {
		t.Fatalf("versions %d", len(got.Spec.Versions))
	}
	v := got.Spec.Versions[0]
	if v.Name != DefaultAPIVersion || !v.Served || !v.Storage || v.Subresources == nil || v.Subresources.Status == nil {
		t.Errorf("version %s served=%v storage=%v subresources=%+v", v.Name, v.Served, v.Storage, v.Subresources)
	}
	cols := []string{}
	for _, c := range v.AdditionalPrinterColumns {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"Ready", "Clusters", "Healthy", "Failing", "Offline", "Revision", "Reason", "Spec-Applied", "Age"}) {
		t.Errorf("printer columns %v", cols)
	}
	spec := v.Schema.OpenAPIV3Schema.Properties["spec"]
	if _, ok := spec.Properties["size"]; !ok || !slices.Equal(spec.Required, []string{"size"}) || len(spec.XValidations) != 1 {
		t.Errorf("the Promise's schema was not kept: %+v", spec)
	}
	if _, ok := spec.Properties[fleetv1alpha1.InstancePlacementField]; !ok {
		t.Error("spec.placement was not added")
	}
	if !slices.Equal(v.Schema.OpenAPIV3Schema.Required, []string{"spec"}) {
		t.Errorf("required %v", v.Schema.OpenAPIV3Schema.Required)
	}
}

func TestGenerateCRDVersionAndPlural(t *testing.T) {
	a := api(`{"type":"object","x-kubernetes-preserve-unknown-fields":true}`)
	a.Version, a.Plural = "v2beta1", "pgs"
	got, err := GenerateCRD("postgres", a)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "pgs.platform.example.com" || got.Spec.Versions[0].Name != "v2beta1" {
		t.Errorf("name %s version %s", got.Name, got.Spec.Versions[0].Name)
	}
}

func TestGenerateCRDRefusesBadSchemas(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"type":"object","properties":{"placement":{"type":"string"}}}`, "properties.placement is reserved"},
		{`{"type":"string"}`, "type must be object"},
		{`{"type":"object"}`, "declare properties"},
		{`{"type":"object","propertees":{}}`, "not an OpenAPI v3 schema"},
	} {
		_, err := GenerateCRD("p", api(tc.schema))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("schema %s: error %v, want %q", tc.schema, err, tc.want)
		}
	}
}

// The generated status schema must hold every field of InstanceStatus, or
// the API server would prune what the hub writes.
func TestInstanceStatusSchemaCoversInstanceStatus(t *testing.T) {
	schema := InstanceStatusSchema()
	var check func(path string, typ reflect.Type, s apiextensionsv1.JSONSchemaProps)
	check = func(path string, typ reflect.Type, s apiextensionsv1.JSONSchemaProps) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			prop, ok := s.Properties[name]
			if !ok {
				t.Errorf("%s.%s is not in the schema", path, name)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeFor[fleetv1alpha1.InstanceStatus]().PkgPath() {
				check(path+"."+name, f.Type, prop)
			}
		}
	}
	check("status", reflect.TypeFor[fleetv1alpha1.InstanceStatus](), schema)
}

// ConditionSchema must match what controller-gen writes for Flotilla's own kinds.
func TestConditionSchemaMatchesControllerGen(t *testing.T) {
	crds, err := crd.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range crds {
		if c.Name != "promises.fleet.flotilla.dev" {
			continue
		}
		want := *c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["conditions"].Items.Schema
		stripDescriptions(&want)
		got := ConditionSchema()
		stripDescriptions(&got)
		if !equality.Semantic.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("condition schema differs:\n got %s\nwant %s", g, w)
		}
		return
	}
	t.Fatal("no Promise CRD")
}

func stripDescriptions(s *apiextensionsv1.JSONSchemaProps) {
	s.Description = ""
	for k, p := range s.Properties {
		stripDescriptions(&p)
		s.Properties[k] = p
	}
}

func TestKeepStoredVersions(t *testing.T) {
	versions := []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v2", Served: true, Storage: true}}
	got := KeepStoredVersions(versions, []string{"v1", "v2"})
	if len(got) != 2 || got[1].Name != "v1" || !got[1].Served || got[1].Storage || !got[0].Storage {
		t.Errorf("versions %+v", got)
	}
}
