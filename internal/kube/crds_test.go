package kube

import (
	"slices"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func TestKeepInstalledFields(t *testing.T) {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	object := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	list := func(item apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &item}}
	}
	labels := apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Schema: &str}}
	crd := func(root apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
		return &apiextensionsv1.CustomResourceDefinition{Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1alpha1",
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &root}}}}}
	}
	ours := crd(object(map[string]apiextensionsv1.JSONSchemaProps{
		"spec":   object(map[string]apiextensionsv1.JSONSchemaProps{"target": str, "labels": labels}),
		"status": object(map[string]apiextensionsv1.JSONSchemaProps{"waves": list(object(map[string]apiextensionsv1.JSONSchemaProps{"name": str}))}),
	}))
	labelsNewer := labels
	labelsNewer.Properties = map[string]apiextensionsv1.JSONSchemaProps{"odd": str}
	installed := crd(object(map[string]apiextensionsv1.JSONSchemaProps{
		"spec": object(map[string]apiextensionsv1.JSONSchemaProps{"target": str, "labels": labelsNewer,
			"gate": object(map[string]apiextensionsv1.JSONSchemaProps{"by": str})}),
		"status": object(map[string]apiextensionsv1.JSONSchemaProps{"waves": list(object(map[string]apiextensionsv1.JSONSchemaProps{"name": str, "relapses": str}))}),
	}))

	kept := KeepInstalledFields(ours, installed)
	if want := []string{"v1alpha1.spec.gate", "v1alpha1.status.waves[].relapses"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	root := ours.Spec.Versions[0].Schema.OpenAPIV3Schema
	if _, ok := root.Properties["spec"].Properties["gate"].Properties["by"]; !ok {
		t.Errorf("spec.gate.by not declared: %+v", root.Properties["spec"])
	}
	if _, ok := root.Properties["status"].Properties["waves"].Items.Schema.Properties["relapses"]; !ok {
		t.Errorf("status.waves[].relapses not declared")
	}
	if l := root.Properties["spec"].Properties["labels"]; l.Properties != nil {
		t.Errorf("a map got properties (the API server refuses them with additionalProperties): %+v", l)
	}
	if again := KeepInstalledFields(ours, installed); len(again) != 0 {
		t.Errorf("kept again %v, want nothing", again)
	}
}
