package render

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// specValidator checks an instance spec as the API server checks the
// instance: the OpenAPI schema (types, formats, enums, bounds, required,
// patterns), unknown fields (which the API server would prune, so no
// instance can carry them) and the x-kubernetes-validations CEL rules,
// within the API server's CEL cost budget.
type specValidator struct {
	openapi    apiservervalidation.SchemaValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// newSpecValidator compiles the schema of an instance's spec (a Promise's
// api.schema). An empty schema accepts nothing but an empty spec's absence
// of fields: every field is unknown to it.
func newSpecValidator(raw []byte) (*specValidator, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		raw = []byte(`{"type":"object"}`)
	}
	var v1 apiextensionsv1.JSONSchemaProps
	if err := json.Unmarshal(raw, &v1); err != nil {
		return nil, err
	}
	var internal apiextensions.JSONSchemaProps
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(&v1, &internal, nil); err != nil {
		return nil, err
	}
	openapi, _, err := apiservervalidation.NewSchemaValidator(&internal)
	if err != nil {
		return nil, err
	}
	v := &specValidator{openapi: openapi}
	// A schema that is not structural has no pruning nor CEL rules (the
	// generated CRD is refused for it anyway): the OpenAPI check is all.
	if s, err := structuralschema.NewStructural(&internal); err == nil {
		v.structural = s
		v.cel = cel.NewValidator(s, false, celconfig.PerCallLimit)
	}
	return v, nil
}

// validate returns why spec is not a valid instance spec, or nil.
func (v *specValidator) validate(spec map[string]any) error {
	path := field.NewPath("spec")
	errs := apiservervalidation.ValidateCustomResource(path, spec, v.openapi)
	if v.structural != nil {
		// Prune a copy: the unknown paths are what we want to know.
		unknown := pruning.PruneWithOptions(copyMap(spec), v.structural, false, structuralschema.UnknownFieldPathOptions{
			TrackUnknownFieldPaths: true, ParentPath: []string{"spec"},
		})
		for _, p := range unknown {
			errs = append(errs, field.Forbidden(field.NewPath(p), "not a field of the Promise's schema"))
		}
	}
	if len(errs) == 0 && v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), path, v.structural, spec, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}
