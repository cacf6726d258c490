package instanceapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// GenerateCRD returns the CustomResourceDefinition of the instance kind that
// Promise promise declares with api. Instances are namespaced; their spec is
// api.schema plus the reserved spec.placement (a ClusterSelector narrowing
// the Promise's placement); their status has the InstanceStatus shape and is
// a subresource. A schema that is not an object schema, or that declares
// spec.placement itself, is refused.
func GenerateCRD(promise string, api *fleetv1alpha1.PromiseAPI) (*apiextensionsv1.CustomResourceDefinition, error) {
	spec, err := specSchema(api)
	if err != nil {
		return nil, err
	}
	gvk := GVK(api)
	plural := Plural(api)
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name: CRDName(api),
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   promise,
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind:       gvk.Kind,
				ListKind:   gvk.Kind + "List",
				Plural:     plural,
				Singular:   strings.ToLower(gvk.Kind),
				Categories: []string{Category},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name:    gvk.Version,
				Served:  true,
				Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:        "object",
					Description: fmt.Sprintf("%s is an instance of the Promise %s, served by Flotilla.", gvk.Kind, promise),
					Required:    []string{"spec"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": {Type: "string"},
						"kind":       {Type: "string"},
						"metadata":   {Type: "object"},
						"spec":       *spec,
						"status":     InstanceStatusSchema(),
					},
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
					{Name: "Ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`},
					{Name: "Clusters", Type: "integer", JSONPath: ".status.clusters.placed"},
					{Name: "Healthy", Type: "integer", JSONPath: ".status.clusters.ready"},
					{Name: "Failing", Type: "integer", JSONPath: ".status.clusters.failing", Priority: 1},
					{Name: "Offline", Type: "integer", JSONPath: ".status.clusters.offline", Priority: 1},
					{Name: "Revision", Type: "string", JSONPath: ".status.revision"},
					{Name: "Reason", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].reason`, Priority: 1},
					// False after a rolled-back spec change: the fleet runs an earlier spec.
					{Name: "Spec-Applied", Type: "string", JSONPath: `.status.conditions[?(@.type=="SpecApplied")].status`, Priority: 1},
					{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
				},
			}},
		},
	}
	return crd, nil
}

// specSchema returns the instance's spec schema: api.schema with the reserved
// placement field added.
func specSchema(api *fleetv1alpha1.PromiseAPI) (*apiextensionsv1.JSONSchemaProps, error) {
	s := &apiextensionsv1.JSONSchemaProps{}
	if len(api.Schema.Raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(api.Schema.Raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(s); err != nil {
			return nil, fmt.Errorf("spec.api.schema: not an OpenAPI v3 schema: %w", err)
		}
	}
	if s.Type == "" {
		s.Type = "object"
	}
	if s.Type != "object" {
		return nil, fmt.Errorf("spec.api.schema: type must be object, not %q", s.Type)
	}
	if _, ok := s.Properties[fleetv1alpha1.InstancePlacementField]; ok {
		return nil, fmt.Errorf("spec.api.schema: properties.%s is reserved: every instance may narrow its placement with spec.%s",
			fleetv1alpha1.InstancePlacementField, fleetv1alpha1.InstancePlacementField)
	}
	if s.Properties == nil {
		if s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields {
			// An object with neither properties nor preserve-unknown-fields
			// would prune every field the team sets; say so instead.
			if s.AdditionalProperties == nil {
				return nil, errors.New("spec.api.schema: declare properties (or x-kubernetes-preserve-unknown-fields: true)")
			}
		}
		s.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
	}
	s.Properties[fleetv1alpha1.InstancePlacementField] = placementSchema()
	return s, nil
}

// placementSchema is the schema of spec.placement: fleetv1alpha1.ClusterSelector.
func placementSchema() apiextensionsv1.JSONSchemaProps {
	stringList := func(desc string, maxItems int64, maxLen int64) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{
			Type:        "array",
			Description: desc,
			MaxItems:    ptr.To(maxItems),
			XListType:   ptr.To("set"),
			Items:       &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string", MaxLength: ptr.To(maxLen)}},
		}
	}
	return apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Description: "placement narrows the Promise's placement for this instance (set by Flotilla, not the Promise): " +
			"every term set must match, and tenancy still applies.",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"names":    stringList("names lists clusters by name.", 256, 63),
			"fleets":   stringList("fleets lists Fleets; a cluster must be a member of at least one, and each must admit the instance's namespace.", 64, 253),
			"selector": labelSelectorSchema("selector matches Cluster labels."),
		},
	}
}

// labelSelectorSchema is the schema of a metav1.LabelSelector.
func labelSelectorSchema(desc string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: desc,
		XMapType:    ptr.To("atomic"),
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"matchLabels": {
				Type:                 "object",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}},
			},
			"matchExpressions": {
				Type:      "array",
				XListType: ptr.To("atomic"),
				Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
					Type:     "object",
					Required: []string{"key", "operator"},
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"key":      {Type: "string"},
						"operator": {Type: "string", Enum: jsonStrings("In", "NotIn", "Exists", "DoesNotExist")},
						"values": {
							Type:      "array",
							XListType: ptr.To("atomic"),
							Items:     &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}},
						},
					},
				}},
			},
		},
	}
}

// InstanceStatusSchema is the schema of fleetv1alpha1.InstanceStatus, the
// status every generated instance kind has.
func InstanceStatusSchema() apiextensionsv1.JSONSchemaProps {
	count := func(desc string) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "integer", Format: "int32", Minimum: ptr.To(0.0), Description: desc}
	}
	return apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "status is written by the Flotilla hub.",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"observedGeneration": {Type: "integer", Format: "int64", Description: "observedGeneration is the instance generation the hub last acted on."},
			"conditions": {
				Type:         "array",
				Description:  "conditions: Ready, Reconciling, Stalled, Placed, SpecApplied.",
				MaxItems:     ptr.To[int64](16),
				XListType:    ptr.To("map"),
				XListMapKeys: []string{"type"},
				Items:        &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptr.To(ConditionSchema())},
			},
			"revision":         {Type: "string", MaxLength: ptr.To[int64](253), Description: "revision is the PromiseRevision most of the instance's clusters are admitted to."},
			"instanceRevision": {Type: "string", MaxLength: ptr.To[int64](253), Description: "instanceRevision is the instance revision of the current spec and of the team's Overrides that select the instance."},
			"appliedInstanceRevision": {Type: "string", MaxLength: ptr.To[int64](253),
				Description: "appliedInstanceRevision is the instance revision most of the instance's clusters last applied: what the fleet runs. Condition SpecApplied says why it differs from instanceRevision."},
			"clusters": {
				Type:        "object",
				Description: "clusters counts the instance's clusters by state.",
				Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"placed":  count("placed is the number of clusters the instance is placed on."),
					"ready":   count("ready is the number whose Work is Ready, of clusters that are not Offline."),
					"failing": count("failing is the number whose Work failed to apply or is unhealthy."),
					"offline": count("offline is the number that are Offline: what runs there now is not known, and they are not counted ready."),
				},
			},
		},
	}
}

// ConditionSchema is the schema controller-gen writes for metav1.Condition.
func ConditionSchema() apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: "Condition contains details for one aspect of the current state of this API Resource.",
		Required:    []string{"lastTransitionTime", "message", "reason", "status", "type"},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"lastTransitionTime": {Type: "string", Format: "date-time"},
			"message":            {Type: "string", MaxLength: ptr.To[int64](32768)},
			"observedGeneration": {Type: "integer", Format: "int64", Minimum: ptr.To(0.0)},
			"reason": {
				Type: "string", MaxLength: ptr.To[int64](1024), MinLength: ptr.To[int64](1),
				Pattern: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`,
			},
			"status": {Type: "string", Enum: jsonStrings("True", "False", "Unknown")},
			"type": {
				Type: "string", MaxLength: ptr.To[int64](316),
				Pattern: `^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$`,
			},
		},
	}
}

func jsonStrings(values ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, 0, len(values))
	for _, v := range values {
		b, _ := json.Marshal(v)
		out = append(out, apiextensionsv1.JSON{Raw: b})
	}
	return out
}

// KeepStoredVersions adds, to a CRD's new versions, every version objects are
// still stored at, served with the same schema (no conversion is needed: the
// versions share one schema), so changing api.version keeps old instances readable.
func KeepStoredVersions(versions []apiextensionsv1.CustomResourceDefinitionVersion, stored []string) []apiextensionsv1.CustomResourceDefinitionVersion {
	out := versions
	for _, s := range stored {
		found := false
		for _, v := range out {
			found = found || v.Name == s
		}
		if !found {
			old := *versions[0].DeepCopy()
			old.Name, old.Storage = s, false
			out = append(out, old)
		}
	}
	return out
}
