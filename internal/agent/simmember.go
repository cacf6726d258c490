package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
)

// SimMemberOptions shape an in-memory member of the fleet simulator.
type SimMemberOptions struct {
	// ApplyLatency is how long a workload (Deployment, StatefulSet,
	// DaemonSet) takes to become available after an apply changes its spec.
	ApplyLatency time.Duration
	// Failing makes the member unable to run a changed workload: a workload
	// becomes available only with the spec it was created with; any other
	// spec stays unavailable for ever (as a release that cannot start on
	// this cluster), so the rollout's progress deadline catches it.
	Failing bool
	// KubernetesVersion is reported as the member's version; v1.36.3 when empty.
	KubernetesVersion string
	// Nodes is the node count reported (and a DaemonSet's desired count); 3 when zero.
	Nodes int32
	// Now is the member's clock; time.Now when nil.
	Now func() time.Time
}

// SimMember is an in-memory member cluster for the fleet simulator: the
// agent applies to it as to an API server, with server-side-apply-like
// results (uid, resourceVersion, generation, status), a table of kinds that
// CRDs extend, and workload status that turns available after the apply
// latency. It runs no goroutine: status is settled when an object is read,
// so ten thousand of them cost only their objects. An agent that runs on it
// is also told when a workload settles (statusNotifier), as a drift watch
// on a real member sees a Deployment's status change: a timer per workload
// whose spec changed, from the apply until the apply latency has passed.
//
// Simplifications: namespaces exist implicitly (an object may be applied
// into a namespace never created), the agent is the only writer (an apply
// replaces the object's content, as a forced apply by its only field manager
// does), and a workload's replicas are all updated at once.
type SimMember struct {
	opts SimMemberOptions

	mu      sync.Mutex
	kinds   map[schema.GroupKind]bool // known kinds: namespaced or not
	objects map[refKey]*simObject
	rv      int64
	// notify, when set, is told the LabelWork value of a workload that
	// became available after an apply changed its spec.
	notify func(labelValue string)
}

// simObject is one stored object and what its status depends on.
type simObject struct {
	obj *unstructured.Unstructured
	// changedAt is when its spec last changed.
	changedAt time.Time
	// firstSpec is the hash of the spec it was created with.
	firstSpec [32]byte
	// available records that its status already shows the current spec available.
	available bool
}

// builtinKinds are the kinds every simulated member serves, namespaced or not.
var builtinKinds = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: false, {Kind: "Node"}: false, {Kind: "PersistentVolume"}: false,
	{Kind: "ConfigMap"}: true, {Kind: "Secret"}: true, {Kind: "Service"}: true, {Kind: "ServiceAccount"}: true,
	{Kind: "Pod"}: true, {Kind: "PersistentVolumeClaim"}: true, {Kind: "LimitRange"}: true, {Kind: "ResourceQuota"}: true,
	{Group: "apps", Kind: "Deployment"}: true, {Group: "apps", Kind: "StatefulSet"}: true, {Group: "apps", Kind: "DaemonSet"}: true,
	{Group: "batch", Kind: "Job"}: true, {Group: "batch", Kind: "CronJob"}: true,
	{Group: "networking.k8s.io", Kind: "Ingress"}: true, {Group: "networking.k8s.io", Kind: "NetworkPolicy"}: true,
	{Group: "policy", Kind: "PodDisruptionBudget"}: true, {Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}: true, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: false, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: false,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: false,
	{Group: "storage.k8s.io", Kind: "StorageClass"}:                   false, {Group: "scheduling.k8s.io", Kind: "PriorityClass"}: false,
}

// NewSimMember returns an empty in-memory member.
func NewSimMember(opts SimMemberOptions) *SimMember {
	if opts.KubernetesVersion == "" {
		opts.KubernetesVersion = "v1.36.3"
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	kinds := make(map[schema.GroupKind]bool, len(builtinKinds))
	for gk, ns := range builtinKinds {
		kinds[gk] = ns
	}
	return &SimMember{opts: opts, kinds: kinds, objects: map[refKey]*simObject{}}
}

var (
	_ member         = (*SimMember)(nil)
	_ statusNotifier = (*SimMember)(nil)
)

func (m *SimMember) notifyStatus(f func(labelValue string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify = f
}

// settleLater settles o once the apply latency has passed since its spec
// changed at changedAt (unless it changed again), and tells notify when it
// became available: a workload controller's status update. The caller
// holds m.mu.
func (m *SimMember) settleLater(key refKey, o *simObject) {
	if m.notify == nil || o.available || !workloadKind(o.obj.GroupVersionKind().GroupKind()) {
		return
	}
	changedAt := o.changedAt
	time.AfterFunc(m.opts.ApplyLatency, func() {
		m.mu.Lock()
		cur, ok := m.objects[key]
		if !ok || cur != o || o.changedAt != changedAt || o.available {
			m.mu.Unlock()
			return // gone, changed again, or read available already
		}
		m.settle(o)
		notify, label := m.notify, o.obj.GetLabels()[fleetv1alpha1.LabelWork]
		available := o.available
		m.mu.Unlock()
		if available && notify != nil && label != "" {
			notify(label)
		}
	})
}

func noKind(gvk schema.GroupVersionKind) error {
	return &meta.NoKindMatchError{GroupKind: gvk.GroupKind(), SearchedVersions: []string{gvk.Version}}
}

func notFound(ref objectRef) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: ref.Group, Resource: ref.Kind}, ref.Name)
}

func (m *SimMember) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, ok := m.kinds[gvk.GroupKind()]
	if !ok {
		return false, noKind(gvk)
	}
	return ns, nil
}

func (m *SimMember) get(_ context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[ref.key()]
	if !ok {
		return nil, notFound(ref)
	}
	m.settle(o)
	return o.obj.DeepCopy(), nil
}

// apply stores obj as a forced server-side apply by the only field manager
// would: the applied content replaces the old, the server keeps uid and
// creationTimestamp, bumps generation when anything but metadata and status
// changes and resourceVersion when anything changes.
func (m *SimMember) apply(_ context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ref := refOf(obj)
	m.mu.Lock()
	defer m.mu.Unlock()
	namespaced, ok := m.kinds[ref.gvk().GroupKind()]
	if !ok {
		return nil, noKind(ref.gvk())
	}
	if namespaced != (ref.Namespace != "") {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s: namespace %q does not match the kind's scope", ref, ref.Namespace))
	}
	if ref.Name == "" {
		return nil, apierrors.NewBadRequest(ref.String() + ": name is required")
	}
	now := m.opts.Now()
	live := obj.DeepCopy()
	unstructured.RemoveNestedField(live.Object, "status") // a status subresource ignores it
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "deletionTimestamp"} {
		unstructured.RemoveNestedField(live.Object, "metadata", f)
	}
	spec := specSum(live)

	old, exists := m.objects[ref.key()]
	if !exists {
		live.SetUID(uuid.NewUUID())
		live.SetCreationTimestamp(metav1.NewTime(now))
		live.SetGeneration(1)
		m.stamp(live)
		o := &simObject{obj: live, changedAt: now, firstSpec: spec}
		m.initStatus(o)
		m.objects[ref.key()] = o
		m.settle(o)
		m.settleLater(ref.key(), o)
		return o.obj.DeepCopy(), nil
	}

	prev := old.obj
	live.SetUID(prev.GetUID())
	live.SetCreationTimestamp(prev.GetCreationTimestamp())
	live.SetGeneration(prev.GetGeneration())
	live.SetResourceVersion(prev.GetResourceVersion())
	if status, ok := prev.Object["status"]; ok {
		live.Object["status"] = status
	}
	specChanged := specSum(prev) != spec
	if specChanged {
		live.SetGeneration(prev.GetGeneration() + 1)
	}
	if !equality.Semantic.DeepEqual(live.Object, prev.Object) {
		m.stamp(live)
		old.obj = live
	}
	if specChanged {
		old.changedAt, old.available = now, false
		m.initStatus(old)
	}
	m.settle(old)
	if specChanged {
		m.settleLater(ref.key(), old)
	}
	return old.obj.DeepCopy(), nil
}

func (m *SimMember) delete(_ context.Context, ref objectRef, uid types.UID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[ref.key()]
	if !ok {
		return notFound(ref)
	}
	if o.obj.GetUID() != uid {
		return apierrors.NewConflict(schema.GroupResource{Group: ref.Group, Resource: ref.Kind}, ref.Name,
			fmt.Errorf("precondition failed: uid %s, found %s", uid, o.obj.GetUID()))
	}
	delete(m.objects, ref.key())
	// What goes with it: a Namespace's objects, a CRD's custom resources.
	switch {
	case ref.isNamespace():
		for k := range m.objects {
			if k.Namespace == ref.Name {
				delete(m.objects, k)
			}
		}
	case ref.isCRD():
		gk := crdGroupKind(o.obj)
		for k := range m.objects {
			if k.Group == gk.Group && k.Kind == gk.Kind {
				delete(m.objects, k)
			}
		}
	}
	return nil
}

// foreign lists the objects deleting a Namespace or CRD would take along
// that prune would not delete (plan.TakenAlong) and, in a Namespace, have
// no owner.
func (m *SimMember) foreign(_ context.Context, ref objectRef, workLabel string, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gk schema.GroupKind
	switch {
	case ref.isNamespace():
	case ref.isCRD():
		o, ok := m.objects[ref.key()]
		if !ok {
			return nil, notFound(ref)
		}
		gk = crdGroupKind(o.obj)
	default:
		return nil, nil
	}
	var found []string
	for k, o := range m.objects {
		inScope := (ref.isNamespace() && k.Namespace == ref.Name) || (ref.isCRD() && k.Group == gk.Group && k.Kind == gk.Kind)
		if !inScope || !plan.TakenAlong(workLabel, o.obj.GetLabels(), o.obj.GetAnnotations()) || (ref.isNamespace() && len(o.obj.GetOwnerReferences()) > 0) {
			continue
		}
		name := k.Name
		if ref.isCRD() && k.Namespace != "" {
			name = k.Namespace + "/" + name
		}
		found = append(found, k.Kind+"/"+name)
		if len(found) >= limit {
			break
		}
	}
	return found, nil
}

func (m *SimMember) facts(context.Context) (clusterFacts, error) {
	return clusterFacts{KubernetesVersion: m.opts.KubernetesVersion, NodeCount: m.opts.Nodes}, nil
}

// resetKinds makes the kinds of stored CRDs known (and forgets those of
// deleted ones), as rediscovery would.
func (m *SimMember) resetKinds() {
	m.mu.Lock()
	defer m.mu.Unlock()
	kinds := make(map[schema.GroupKind]bool, len(builtinKinds))
	for gk, ns := range builtinKinds {
		kinds[gk] = ns
	}
	for k, o := range m.objects {
		if k.Group == "apiextensions.k8s.io" && k.Kind == "CustomResourceDefinition" {
			scope, _, _ := unstructured.NestedString(o.obj.Object, "spec", "scope")
			kinds[crdGroupKind(o.obj)] = scope == "Namespaced"
		}
	}
	m.kinds = kinds
}

// Objects returns how many objects the member holds.
func (m *SimMember) Objects() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.objects)
}

// stamp gives obj the member's next resourceVersion.
func (m *SimMember) stamp(obj *unstructured.Unstructured) {
	m.rv++
	obj.SetResourceVersion(strconv.FormatInt(m.rv, 10))
}

// workloadKinds are the kinds whose status the member simulates.
func workloadKind(gk schema.GroupKind) bool {
	return gk.Group == "apps" && (gk.Kind == "Deployment" || gk.Kind == "StatefulSet" || gk.Kind == "DaemonSet")
}

// initStatus gives a new or changed object the status a controller writes
// when it starts on its spec: a CRD is Established at once; a workload is
// observed but not yet available.
func (m *SimMember) initStatus(o *simObject) {
	gk := o.obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "apiextensions.k8s.io" && gk.Kind == "CustomResourceDefinition":
		o.obj.Object["status"] = map[string]any{"conditions": []any{
			map[string]any{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
			map[string]any{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
		}}
		o.available = true
	case workloadKind(gk):
		o.obj.Object["status"] = m.workloadStatus(o.obj, false)
	}
}

// settle turns a workload available once the apply latency has passed since
// its spec changed, unless the member fails that spec.
func (m *SimMember) settle(o *simObject) {
	if o.available || !workloadKind(o.obj.GroupVersionKind().GroupKind()) {
		return
	}
	if m.opts.Now().Sub(o.changedAt) < m.opts.ApplyLatency {
		return
	}
	if m.opts.Failing && specSum(o.obj) != o.firstSpec {
		return // never available: the change cannot run here
	}
	o.obj.Object["status"] = m.workloadStatus(o.obj, true)
	o.available = true
	m.stamp(o.obj)
}

// workloadStatus is the status a workload controller reports for the
// object's generation, with every replica updated and, when available,
// ready and available. Numbers are int64, as decoded JSON has them.
func (m *SimMember) workloadStatus(obj *unstructured.Unstructured, available bool) map[string]any {
	gen := obj.GetGeneration()
	replicas, found, err := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	if !found || err != nil {
		replicas = 1
	}
	ready := int64(0)
	if available {
		ready = replicas
	}
	cond := func(typ string, ok bool, reason string) map[string]any {
		status := "False"
		if ok {
			status = "True"
		}
		return map[string]any{"type": typ, "status": status, "reason": reason}
	}
	switch obj.GetKind() {
	case "StatefulSet":
		rev := obj.GetName() + "-" + strconv.FormatInt(gen, 10)
		return map[string]any{
			"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas,
			"currentReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
			"currentRevision": rev, "updateRevision": rev,
		}
	case "DaemonSet":
		nodes := int64(m.opts.Nodes)
		readyNodes := int64(0)
		if available {
			readyNodes = nodes
		}
		return map[string]any{
			"observedGeneration": gen, "desiredNumberScheduled": nodes, "currentNumberScheduled": nodes,
			"updatedNumberScheduled": nodes, "numberReady": readyNodes, "numberAvailable": readyNodes,
		}
	default: // Deployment
		progressing := "ReplicaSetUpdated"
		availableReason := "MinimumReplicasUnavailable"
		if available {
			progressing, availableReason = "NewReplicaSetAvailable", "MinimumReplicasAvailable"
		}
		status := map[string]any{
			"observedGeneration": gen, "replicas": replicas, "updatedReplicas": replicas,
			"readyReplicas": ready, "availableReplicas": ready,
			"conditions": []any{cond("Available", available, availableReason), cond("Progressing", true, progressing)},
		}
		if !available {
			status["unavailableReplicas"] = replicas
		}
		return status
	}
}

// specSum hashes what an apply can change besides metadata and status.
func specSum(obj *unstructured.Unstructured) [32]byte {
	content := make(map[string]any, len(obj.Object))
	for k, v := range obj.Object {
		if k != "metadata" && k != "status" {
			content[k] = v
		}
	}
	data, err := json.Marshal(content)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(data)
}

// crdGroupKind is the kind a CRD object defines.
func crdGroupKind(crd *unstructured.Unstructured) schema.GroupKind {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	return schema.GroupKind{Group: group, Kind: kind}
}
