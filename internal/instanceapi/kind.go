// Package instanceapi is the API a Promise generates for its instances: the
// group, version and kind from spec.api, and the CustomResourceDefinition the
// hub installs for it. It is pure: the Promise controller installs what
// GenerateCRD returns, and the instance and Rollout controllers, the CLI and
// the API docs read the same names from here.
package instanceapi

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultAPIVersion is the version of a generated kind when spec.api.version is unset.
const DefaultAPIVersion = "v1alpha1"

// Category is the kubectl category of every generated instance kind:
// `kubectl get flotilla` lists instances next to Flotilla's own objects.
const Category = "flotilla"

// Plural returns the plural resource name of api: spec.api.plural, or the
// lower-cased kind plus "s".
func Plural(api *fleetv1alpha1.PromiseAPI) string {
	if api.Plural != "" {
		return api.Plural
	}
	return strings.ToLower(api.Kind) + "s"
}

// GVK returns the group, version and kind of a Promise's instances.
func GVK(api *fleetv1alpha1.PromiseAPI) schema.GroupVersionKind {
	v := api.Version
	if v == "" {
		v = DefaultAPIVersion
	}
	return schema.GroupVersionKind{Group: api.Group, Version: v, Kind: api.Kind}
}

// CRDName returns the name of the CRD generated for api: <plural>.<group>.
func CRDName(api *fleetv1alpha1.PromiseAPI) string { return Plural(api) + "." + api.Group }

// NewInstance returns an empty instance of gvk, for watches and reads.
func NewInstance(gvk schema.GroupVersionKind) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u
}
