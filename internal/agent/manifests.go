package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// objectRef identifies one object on the member. It is what the inventory
// stores and what Work status reports.
type objectRef struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// UID, in the inventory, is the UID of the object the Work created or
	// adopted; empty until known (and in stores written before UIDs were
	// recorded). In a result, the UID the object was applied as. It is not
	// part of the key: the same name is the same desired object.
	UID types.UID `json:"uid,omitempty"`
}

func refOf(obj *unstructured.Unstructured) objectRef {
	gvk := obj.GroupVersionKind()
	return objectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}
}

func (r objectRef) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// key identifies the object regardless of the API version it is served at:
// the same Deployment written as apps/v1beta2 and then apps/v1 is one object.
type refKey struct{ Group, Kind, Namespace, Name string }

func (r objectRef) key() refKey { return refKey{r.Group, r.Kind, r.Namespace, r.Name} }

// String renders the ref for messages and logs: Kind.group/namespace/name.
func (r objectRef) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return kind + "/" + r.Name
	}
	return kind + "/" + r.Namespace + "/" + r.Name
}

func (r objectRef) isCRD() bool {
	return r.Group == "apiextensions.k8s.io" && r.Kind == "CustomResourceDefinition"
}

func (r objectRef) isNamespace() bool { return r.Group == "" && r.Kind == "Namespace" }

// phase orders applies: CRDs, then Namespaces, then everything else, so that
// the kinds and namespaces the rest needs exist first. Prune runs the phases
// backwards.
type phase int

const (
	phaseCRDs phase = iota
	phaseNamespaces
	phaseRest
)

func phaseOf(r objectRef) phase {
	switch {
	case r.isCRD():
		return phaseCRDs
	case r.isNamespace():
		return phaseNamespaces
	default:
		return phaseRest
	}
}

// desiredObject is one manifest of a Work, decoded. When err is set the
// manifest is invalid and ref holds whatever identity could be read from it.
type desiredObject struct {
	index int
	ref   objectRef
	obj   *unstructured.Unstructured
	err   error
}

// errInvalidManifest marks manifests that can never apply as written.
var errInvalidManifest = errors.New("invalid manifest")

// decodeManifests decodes a Work's manifests, in order, and prepares each for
// server-side apply: Flotilla's labels are set and the fields only a server
// may set are dropped. A manifest that cannot be decoded, lacks apiVersion,
// kind or metadata.name, or repeats an earlier object gets an error wrapping
// errInvalidManifest; the others are unaffected.
func decodeManifests(workName string, manifests []fleetv1alpha1.Manifest) []desiredObject {
	out := make([]desiredObject, len(manifests))
	seen := map[refKey]int{}
	for i, m := range manifests {
		d := desiredObject{index: i}
		d.obj, d.err = decodeManifest(m.Raw)
		if d.obj != nil {
			d.ref = refOf(d.obj)
		}
		if d.err == nil {
			if first, dup := seen[d.ref.key()]; dup {
				d.err = fmt.Errorf("%w: %s repeats manifests[%d]", errInvalidManifest, d.ref, first)
			} else {
				seen[d.ref.key()] = i
				prepare(d.obj, workName)
			}
		}
		if d.err != nil {
			d.obj = nil
		}
		out[i] = d
	}
	return out
}

// decodeManifest returns the object and, when it is invalid, an error; the
// object is returned even then when it could be read, for its identity.
func decodeManifest(raw []byte) (*unstructured.Unstructured, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty", errInvalidManifest)
	}
	var content map[string]any
	if err := json.Unmarshal(raw, &content); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %w", errInvalidManifest, err)
	}
	id := safeIdentity(&unstructured.Unstructured{Object: content})
	if apiVersion, ok := content["apiVersion"].(string); !ok || apiVersion == "" {
		return id, fmt.Errorf("%w: apiVersion is required", errInvalidManifest)
	}
	if _, err := schema.ParseGroupVersion(id.GetAPIVersion()); err != nil {
		return id, fmt.Errorf("%w: apiVersion %q is not group/version", errInvalidManifest, id.GetAPIVersion())
	}
	if kind, ok := content["kind"].(string); !ok || kind == "" {
		return id, fmt.Errorf("%w: kind is required", errInvalidManifest)
	}
	metadata, ok := content["metadata"].(map[string]any)
	if !ok {
		return id, fmt.Errorf("%w: metadata is required", errInvalidManifest)
	}
	if name, _ := metadata["name"].(string); name == "" {
		msg := "metadata.name is required"
		if _, ok := metadata["generateName"]; ok {
			msg += " (generateName is not supported: every applied object needs a stable name)"
		}
		return id, fmt.Errorf("%w: %s", errInvalidManifest, msg)
	}
	for _, field := range []string{"namespace", "name"} {
		if v, ok := metadata[field]; ok {
			if _, isString := v.(string); !isString {
				return id, fmt.Errorf("%w: metadata.%s must be a string", errInvalidManifest, field)
			}
		}
	}
	for _, field := range []string{"labels", "annotations"} {
		if _, _, err := unstructured.NestedStringMap(content, "metadata", field); err != nil {
			return id, fmt.Errorf("%w: metadata.%s must map strings to strings", errInvalidManifest, field)
		}
	}
	obj := &unstructured.Unstructured{}
	// UnmarshalJSON reads integers as int64, as objects from an API server are.
	if err := obj.UnmarshalJSON(raw); err != nil {
		return id, fmt.Errorf("%w: %w", errInvalidManifest, err)
	}
	return obj, nil
}

// safeIdentity copies the parts of a malformed object that the accessors can
// read without panicking (they tolerate wrong types), for the status report.
func safeIdentity(obj *unstructured.Unstructured) *unstructured.Unstructured {
	id := &unstructured.Unstructured{Object: map[string]any{}}
	if v, ok := obj.Object["apiVersion"].(string); ok {
		id.SetAPIVersion(v)
	}
	if v, ok := obj.Object["kind"].(string); ok {
		id.SetKind(v)
	}
	if md, ok := obj.Object["metadata"].(map[string]any); ok {
		if v, ok := md["name"].(string); ok {
			id.SetName(v)
		}
		if v, ok := md["namespace"].(string); ok {
			id.SetNamespace(v)
		}
	}
	return id
}

// prepare readies a decoded manifest for server-side apply as workName.
func prepare(obj *unstructured.Unstructured, workName string) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[fleetv1alpha1.LabelWork] = fleetv1alpha1.WorkLabelValue(workName)
	labels[fleetv1alpha1.LabelManagedBy] = fleetv1alpha1.ManagedByValue
	obj.SetLabels(labels)
	// Server-side apply rejects managedFields, and the rest are the server's.
	for _, f := range []string{"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
}

// byPhase returns the valid objects of one phase, in manifest order.
func byPhase(objs []desiredObject, p phase) []*desiredObject {
	var out []*desiredObject
	for i := range objs {
		if objs[i].err == nil && phaseOf(objs[i].ref) == p {
			out = append(out, &objs[i])
		}
	}
	return out
}

// pruneOrder sorts refs for deletion: everything else first, then
// Namespaces, then CRDs last (deleting a CRD deletes its objects).
func pruneOrder(refs []objectRef) []objectRef {
	out := append([]objectRef(nil), refs...)
	sort.SliceStable(out, func(i, j int) bool { return phaseOf(out[i]) > phaseOf(out[j]) })
	return out
}
