package agent

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// fakeMember is an in-memory member: objects by key, a table of known kinds
// (CRDs add theirs once applied and kinds are reset), and hooks to fail calls.
type fakeMember struct {
	mu sync.Mutex
	// kinds maps known kinds to whether they are namespaced.
	kinds   map[schema.GroupKind]bool
	pending map[schema.GroupKind]bool // defined by applied CRDs, known after resetKinds
	objects map[refKey]*unstructured.Unstructured
	calls   []string
	// foreignObjects answers foreign() per Namespace/CRD name.
	foreignObjects map[string][]string
	// failApply and failDelete fail calls for these object names.
	failApply, failDelete map[string]error
	// onApply runs before each apply (to observe the inventory saved so far).
	onApply func(obj *unstructured.Unstructured)
}

func newFakeMember() *fakeMember {
	return &fakeMember{
		kinds: map[schema.GroupKind]bool{
			{Kind: "Namespace"}: false, {Kind: "ConfigMap"}: true, {Group: "apps", Kind: "Deployment"}: true,
			{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: false,
			{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:  false,
			{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:         true,
		},
		pending:        map[schema.GroupKind]bool{},
		objects:        map[refKey]*unstructured.Unstructured{},
		foreignObjects: map[string][]string{},
		failApply:      map[string]error{},
		failDelete:     map[string]error{},
	}
}

func (f *fakeMember) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeMember) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.kinds[gvk.GroupKind()]
	if !ok {
		return false, &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
	}
	return ns, nil
}

func (f *fakeMember) get(_ context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, ok := f.objects[ref.key()]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: ref.Group, Resource: ref.Kind}, ref.Name)
	}
	return obj.DeepCopy(), nil
}

func (f *fakeMember) apply(_ context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if f.onApply != nil {
		f.onApply(obj)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := refOf(obj)
	f.record("apply %s", ref)
	if err := f.failApply[ref.Name]; err != nil {
		return nil, err
	}
	if _, ok := f.kinds[ref.gvk().GroupKind()]; !ok {
		return nil, &meta.NoKindMatchError{GroupKind: ref.gvk().GroupKind()}
	}
	live := obj.DeepCopy()
	if old, ok := f.objects[ref.key()]; ok {
		live.SetUID(old.GetUID())
	} else {
		live.SetUID(uuid.NewUUID())
	}
	if ref.isCRD() {
		group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(obj.Object, "spec", "scope")
		f.pending[schema.GroupKind{Group: group, Kind: kind}] = scope == "Namespaced"
		_ = unstructured.SetNestedSlice(live.Object, []any{
			map[string]any{"type": "Established", "status": "True"},
		}, "status", "conditions")
	}
	f.objects[ref.key()] = live
	return live.DeepCopy(), nil
}

func (f *fakeMember) delete(_ context.Context, ref objectRef, uid types.UID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("delete %s", ref)
	if err := f.failDelete[ref.Name]; err != nil {
		return err
	}
	obj, ok := f.objects[ref.key()]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: ref.Kind}, ref.Name)
	}
	if obj.GetUID() != uid {
		return apierrors.NewConflict(schema.GroupResource{Resource: ref.Kind}, ref.Name, fmt.Errorf("uid precondition failed"))
	}
	delete(f.objects, ref.key())
	return nil
}

func (f *fakeMember) foreign(_ context.Context, ref objectRef, _ string, limit int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := f.foreignObjects[ref.Name]
	return names[:min(limit, len(names))], nil
}

func (f *fakeMember) facts(context.Context) (clusterFacts, error) {
	return clusterFacts{KubernetesVersion: "v1.36.3", NodeCount: 1}, nil
}

func (f *fakeMember) resetKinds() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("resetKinds")
	for gk, ns := range f.pending {
		f.kinds[gk] = ns
	}
}

// put stores an object as if someone created it on the member.
func (f *fakeMember) put(obj *unstructured.Unstructured) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj = obj.DeepCopy()
	obj.SetUID(uuid.NewUUID())
	f.objects[refOf(obj).key()] = obj
}

func (f *fakeMember) has(ref objectRef) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.objects[ref.key()]
	return ok
}
