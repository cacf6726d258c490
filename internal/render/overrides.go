package render

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	// The scheme is only a registry of Kubernetes' built-in Go types, which
	// strategic merge patches need for their merge keys; nothing talks to a cluster.
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func overrideName(o *v1alpha1.Override) string {
	return o.Namespace + "/" + o.Name
}

// forPromise says whether an Override may shape this Promise's render: one
// that names another Promise never does. (Cluster, namespace and instance
// selection are the caller's.)
func forPromise(o *v1alpha1.Override, promise string) bool {
	return o.Spec.Promise == "" || o.Spec.Promise == promise
}

// applyValuesOverrides merges every Values Override's patch over vals (an
// RFC 7386 merge patch: null removes a key; with keepNull it stays null, for
// Helm) and marks them applied.
func applyValuesOverrides(vals map[string]any, in Input, applied []bool, keepNull bool) (map[string]any, error) {
	for i := range in.Overrides {
		o := &in.Overrides[i]
		if o.Spec.Type != v1alpha1.PatchValues || !forPromise(o, in.Promise) {
			continue
		}
		patch, err := rawObject(&o.Spec.Patch)
		if err != nil {
			return nil, fmt.Errorf("override %s: patch: %w", overrideName(o), err)
		}
		vals = merge(vals, patch, keepNull)
		applied[i] = true
	}
	return vals, nil
}

// applyPatchOverrides applies every JSONMerge and StrategicMerge Override to
// the objects its resource selectors match, in order, and marks those that
// matched something applied.
func applyPatchOverrides(objs []*unstructured.Unstructured, in Input, applied []bool) ([]*unstructured.Unstructured, error) {
	for i := range in.Overrides {
		o := &in.Overrides[i]
		switch o.Spec.Type {
		case v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge:
		case v1alpha1.PatchValues:
			continue
		default:
			return nil, fmt.Errorf("override %s: unknown patch type %q", overrideName(o), o.Spec.Type)
		}
		if !forPromise(o, in.Promise) {
			continue
		}
		patch, err := patchJSON(o)
		if err != nil {
			return nil, err
		}
		for j, obj := range objs {
			if !selects(o.Spec.Resources, obj) {
				continue
			}
			patched, err := patchObject(obj, o.Spec.Type, patch)
			if err != nil {
				return nil, fmt.Errorf("override %s: patching %s: %w", overrideName(o), keyOf(obj), err)
			}
			objs[j] = patched
			applied[i] = true
		}
	}
	return objs, nil
}

func patchJSON(o *v1alpha1.Override) ([]byte, error) {
	m, err := rawObject(&o.Spec.Patch)
	if err == nil {
		var j []byte
		if j, err = json.Marshal(m); err == nil {
			return j, nil
		}
	}
	return nil, fmt.Errorf("override %s: patch: %w", overrideName(o), err)
}

// selects says whether any selector matches obj; no selectors match everything.
func selects(sels []v1alpha1.ResourceSelector, obj *unstructured.Unstructured) bool {
	if len(sels) == 0 {
		return true
	}
	gvk := obj.GroupVersionKind()
	for _, s := range sels {
		if (s.Group == "*" || s.Group == gvk.Group) &&
			s.Kind == gvk.Kind &&
			(s.Namespace == "" || s.Namespace == obj.GetNamespace()) &&
			(s.Name == "" || s.Name == obj.GetName()) {
			return true
		}
	}
	return false
}

// patchObject applies one patch to a copy of obj. A strategic merge patch on a
// kind that is not one of Kubernetes' built-in types (a CRD's kind, say) has
// no merge keys to go by and is applied as a JSON merge patch instead.
func patchObject(obj *unstructured.Unstructured, typ v1alpha1.PatchType, patch []byte) (*unstructured.Unstructured, error) {
	orig, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out []byte
	if typ == v1alpha1.PatchStrategicMerge {
		if typed, terr := scheme.Scheme.New(obj.GroupVersionKind()); terr == nil {
			out, err = strategicpatch.StrategicMergePatch(orig, patch, typed)
		} else {
			out, err = jsonpatch.MergePatch(orig, patch)
		}
	} else {
		out, err = jsonpatch.MergePatch(orig, patch)
	}
	if err != nil {
		return nil, err
	}
	patched, err := decodeObject(out)
	if err != nil {
		return nil, err
	}
	if err := checkObject(patched); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	return patched, nil
}
