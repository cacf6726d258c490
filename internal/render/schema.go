package render

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
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

// specValidators keeps compiled schemas by their digest: every render checks
// its spec, and compiling a schema with its CEL rules costs more than many
// renders of a small Promise. A compiled validator is safe for concurrent
// use, as the API server's own per-CRD validators are.
var specValidators = struct {
	sync.Mutex
	byDigest map[[sha256.Size]byte]*specValidator
}{byDigest: map[[sha256.Size]byte]*specValidator{}}

// maxSpecValidators bounds specValidators: a hub serves a few revisions of
// each Promise at once; past the bound the cache starts again.
const maxSpecValidators = 256

// cachedSpecValidator is newSpecValidator, compiled once per schema.
func cachedSpecValidator(raw []byte) (*specValidator, error) {
	digest := sha256.Sum256(raw)
	specValidators.Lock()
	v, ok := specValidators.byDigest[digest]
	specValidators.Unlock()
	if ok {
		return v, nil
	}
	v, err := newSpecValidator(raw)
	if err != nil {
		return nil, err
	}
	specValidators.Lock()
	if len(specValidators.byDigest) >= maxSpecValidators {
		clear(specValidators.byDigest)
	}
	specValidators.byDigest[digest] = v
	specValidators.Unlock()
	return v, nil
}

// newErrors are the errors of after that before does not have.
func newErrors(before, after field.ErrorList) field.ErrorList {
	had := make(map[string]bool, len(before))
	for _, e := range before {
		had[e.Error()] = true
	}
	var out field.ErrorList
	for _, e := range after {
		if !had[e.Error()] {
			out = append(out, e)
		}
	}
	return out
}

// fieldErrors validates spec with the OpenAPI schema and for unknown fields,
// then, with rules and when that found nothing, the CEL rules.
func (v *specValidator) fieldErrors(spec map[string]any, rules bool) field.ErrorList {
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
	if rules && len(errs) == 0 && v.cel != nil {
		celErrs, _ := v.cel.Validate(context.Background(), path, v.structural, spec, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	return errs
}

// SpecError is an instance spec that the schema of the PromiseRevision being
// rendered refuses: one written before the Promise tightened its schema (the
// API server keeps stored instances as they are), or an older instance
// revision of it. A revision's templates were written for its schema, so
// they never render a spec it refuses; the render is refused and the Work
// keeps what it had.
type SpecError struct {
	// Revision is the PromiseRevision whose schema refuses the spec.
	Revision string
	// Reason lists the fields it refuses and why.
	Reason string
}

func (e *SpecError) Error() string {
	return "the instance's spec is not valid against the schema of PromiseRevision " + e.Revision +
		", whose templates would render it: " + e.Reason + "; change the spec to one the Promise accepts"
}

// checkSpec refuses (*SpecError) an instance spec that the Promise's
// api.schema of in refuses, as the API server would judge it now: with the
// schema's defaults applied and its CEL rules. Fields the schema does not
// declare are not refused: the API server prunes them, and a revision's
// templates do not read them.
func checkSpec(in Input, spec map[string]any) error {
	v, err := cachedSpecValidator(in.Content.API.Schema.Raw)
	if err != nil {
		return fmt.Errorf("the Promise's api.schema: %w", err)
	}
	spec = copyMap(spec)
	if v.structural != nil {
		defaulting.Default(spec, v.structural)
	}
	path := field.NewPath("spec")
	errs := apiservervalidation.ValidateCustomResource(path, spec, v.openapi)
	if len(errs) == 0 && v.cel != nil {
		errs, _ = v.cel.Validate(context.Background(), path, v.structural, spec, nil, celconfig.RuntimeCELCostBudget)
	}
	if len(errs) == 0 {
		return nil
	}
	return &SpecError{Revision: in.Revision, Reason: joinErrors(errs)}
}

func joinErrors(errs field.ErrorList) string {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}

// CheckValuesPatch judges a team's Values Override against a Promise from
// the patch alone, before any instance renders with it: every value it sets
// must have the type, format, enum and bounds the Promise's api.schema gives
// it, and every field must be one the schema declares. (Required fields and
// x-kubernetes-validations rules depend on the whole spec: the render checks
// them, per instance.) It returns nil for platform Overrides and other patch
// types, else an *OverrideError or nil.
func CheckValuesPatch(content *v1alpha1.PromiseContent, o *v1alpha1.Override) error {
	if content == nil || !teamOverride(o) || o.Spec.Type != v1alpha1.PatchValues {
		return nil
	}
	patch, err := rawObject(&o.Spec.Patch)
	if err != nil {
		return &OverrideError{Override: overrideName(o), Reason: "patch: " + err.Error()}
	}
	v, err := newSpecValidator(content.API.Schema.Raw)
	if err != nil {
		return fmt.Errorf("the Promise's api.schema: %w", err)
	}
	errs := v.fieldErrors(dropNulls(patch), false)
	kept := errs[:0]
	for _, e := range errs {
		if e.Type != field.ErrorTypeRequired {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &OverrideError{Override: overrideName(o), Reason: "the values it patches in break the Promise's schema: " + joinErrors(kept)}
}

// dropNulls copies m without its null values: in a merge patch they remove a
// key, which the schema cannot judge without the spec.
func dropNulls(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case map[string]any:
			out[k] = dropNulls(v)
		default:
			out[k] = copyValue(v)
		}
	}
	return out
}
