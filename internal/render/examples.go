package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// Names used when rendering examples.
const (
	examplePromise   = "example"
	exampleRevision  = "example-0000000000"
	exampleNamespace = "example"
)

// SampleCluster is the cluster examples are rendered against: named
// "example", no labels, Kubernetes v1.36.0. Templates that read cluster labels
// should use dig, since real clusters differ.
func SampleCluster() ClusterFacts {
	return ClusterFacts{Name: "example", Labels: map[string]string{}, KubernetesVersion: "v1.36.0"}
}

// RenderExamples checks that content renders: its Go templates parse, its
// fleet resources are complete objects, and every example renders against
// SampleCluster without Overrides. Each example is an instance named after
// it in namespace "example", with the defaults of api.schema applied to its
// spec as the API server would. The error names every failing example, with
// the template and line. With spec.output set, every example must also stay
// inside it (see scope.ForInstance).
func RenderExamples(content *v1alpha1.PromiseContent, chart *LoadedChart) error {
	if content == nil {
		return errors.New("rendering examples: no promise content")
	}
	if t := content.Templates; t != nil && (t.Engine == v1alpha1.TemplateEngineGoTemplate || t.Engine == "") {
		if _, err := parseGoTemplates(t.GoTemplates); err != nil {
			return fmt.Errorf("parsing templates: %w", err)
		}
	}
	in := Input{Promise: examplePromise, Revision: exampleRevision, Content: content, Cluster: SampleCluster(), Chart: chart}
	if _, err := renderFleet(in); err != nil {
		return fmt.Errorf("fleet resources: %w", err)
	}
	if content.Templates == nil {
		return nil
	}
	schema, err := specSchema(content.API.Schema.Raw)
	if err != nil {
		return fmt.Errorf("api.schema: %w", err)
	}
	var errs []error
	for _, ex := range content.Examples {
		if err := renderExample(in, ex, schema); err != nil {
			errs = append(errs, fmt.Errorf("example %q: %w", ex.Name, err))
		}
	}
	return errors.Join(errs...)
}

func renderExample(in Input, ex v1alpha1.PromiseExample, schema *structuralschema.Structural) error {
	spec, err := rawObject(&ex.Spec)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if schema != nil {
		defaulting.Default(spec, schema)
	}
	api := in.Content.API
	version := api.Version
	if version == "" {
		version = "v1alpha1"
	}
	in.Instance = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": api.Group + "/" + version,
		"kind":       api.Kind,
		"metadata":   map[string]any{"name": ex.Name, "namespace": exampleNamespace},
		"spec":       spec,
	}}
	if in.Content.Output != nil {
		// The example must stay inside the Promise's output too, so a
		// Promise whose own examples leave it never rolls out.
		if in.Scope, err = scope.ForInstance(in.Content.Output, exampleNamespace, ex.Name); err != nil {
			return err
		}
	}
	_, err = renderInstance(in)
	return err
}

// specSchema turns the instance spec's OpenAPI schema into the structural
// schema the API server defaults with; nil when there is none. A schema that
// is not structural yields nil too (the generated CRD reports that).
func specSchema(raw []byte) (*structuralschema.Structural, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, nil
	}
	var v1 apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(raw, &v1); err != nil {
		return nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(&internal)
	if err != nil {
		// Not structural: render without defaults.
		return nil, nil
	}
	return s, nil
}
