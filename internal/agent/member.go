package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
)

// member is the cluster the agent manages, reduced to what the agent needs.
// The real one is an API server (apiMember); the fleet simulator plugs in an
// in-memory one, so every method here must be cheap to fake.
type member interface {
	// namespaced reports whether a kind is namespaced. An unknown kind is an
	// error for which meta.IsNoMatchError is true.
	namespaced(gvk schema.GroupVersionKind) (bool, error)
	// get returns the live object; a NotFound API error when there is none.
	get(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error)
	// apply server-side-applies obj as field manager flotilla, forcing
	// conflicts, and returns the object the server stored.
	apply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// delete deletes the object if its UID is still uid.
	delete(ctx context.Context, ref objectRef, uid types.UID) error
	// foreign returns up to limit objects that deleting ref (a Namespace or a
	// CRD) would delete along with it and that were not created by the Work
	// whose LabelWork value is workLabel.
	foreign(ctx context.Context, ref objectRef, workLabel string, limit int) ([]string, error)
	// facts reports what the hub shows about the member.
	facts(ctx context.Context) (clusterFacts, error)
	// resetKinds forgets the cached kinds, after CRDs were created.
	resetKinds()
}

// dryRunner is a member that can show what an apply would store without
// storing it. Under the Report drift policy drift is judged only on members
// that can (the API server can; the fleet simulator's member cannot).
type dryRunner interface {
	// dryRunApply server-side-applies obj as apply does, with dryRun=All.
	dryRunApply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error)
}

var _ dryRunner = (*apiMember)(nil)

// podLister is a member that can list Pods, to find why a workload is not
// healthy (cause.go). The fleet simulator's member cannot: its workloads
// report no causes.
type podLister interface {
	// listPods lists at most limit Pods of namespace matching selector, in
	// one request.
	listPods(ctx context.Context, namespace, selector string, limit int64) ([]unstructured.Unstructured, error)
}

var _ podLister = (*apiMember)(nil)

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func (m *apiMember) listPods(ctx context.Context, namespace, selector string, limit int64) ([]unstructured.Unstructured, error) {
	list, err := m.dynamic.Resource(podsResource).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector, Limit: limit})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// clusterFacts are reported on the agent's Lease; the hub copies them into
// the Cluster status.
type clusterFacts struct {
	KubernetesVersion string
	NodeCount         int32
}

// apiMember is a member reached through its API server: the dynamic client
// for objects, a discovery-backed RESTMapper for kinds (memberKinds: no
// scheme, no cache of member objects).
type apiMember struct {
	dynamic  dynamic.Interface
	metadata metadata.Interface
	// watcher is a metadata client without a client timeout, for the
	// long-lived drift watches (driftwatch.go).
	watcher metadata.Interface
	kinds   *memberKinds

	mu        sync.Mutex
	lastReset time.Time
}

// The member client's rate limit, unless the kubeconfig sets one.
const (
	memberQPS   = 300
	memberBurst = 600
)

// minKindResetInterval bounds rediscovery when manifests name unknown kinds.
const minKindResetInterval = 10 * time.Second

func newAPIMember(config *rest.Config) (*apiMember, error) {
	config = rest.CopyConfig(config)
	// A full apply of 500 objects is ~1000 requests (a read and an apply
	// each); client-go's default 5 QPS would take minutes, and 50 took 20 s
	// (docs/benchmarks.md). The member is the agent's own cluster, its only
	// client of this kind, and its API server guards itself (API Priority
	// and Fairness queues the agent with other workloads): the client-side
	// limit is only a bound on a runaway loop, not the pace of a rollout.
	if config.QPS == 0 {
		config.QPS, config.Burst = memberQPS, memberBurst
	}
	// No request to the member may hang a worker forever. The drift
	// watches, which are long-lived, have a client of their own.
	watchConfig := rest.CopyConfig(config)
	watchConfig.Timeout = 0
	if config.Timeout == 0 {
		config.Timeout = 30 * time.Second
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating member dynamic client: %w", err)
	}
	md, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating member metadata client: %w", err)
	}
	watcher, err := metadata.NewForConfig(watchConfig)
	if err != nil {
		return nil, fmt.Errorf("creating member watch client: %w", err)
	}
	kinds, err := newMemberKinds(config)
	if err != nil {
		return nil, err
	}
	return &apiMember{dynamic: dyn, metadata: md, watcher: watcher, kinds: kinds}, nil
}

func (m *apiMember) resetKinds() {
	m.mu.Lock()
	m.lastReset = time.Now()
	m.mu.Unlock()
	m.kinds.reset()
}

// mapping finds the resource of a kind at exactly the version asked, or at
// the preferred version when anyVersion is set (reads and deletes of objects
// applied at a version the member no longer serves). An unknown kind leads to
// one rediscovery, at most every minKindResetInterval.
func (m *apiMember) mapping(gvk schema.GroupVersionKind, anyVersion bool) (*meta.RESTMapping, error) {
	mapping, err := m.kinds.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		m.mu.Lock()
		stale := time.Since(m.lastReset) > minKindResetInterval
		m.mu.Unlock()
		if stale {
			m.resetKinds()
			mapping, err = m.kinds.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
	}
	if meta.IsNoMatchError(err) && anyVersion {
		mapping, err = m.kinds.RESTMapping(gvk.GroupKind())
	}
	return mapping, err
}

func (m *apiMember) resource(ref objectRef, anyVersion bool) (dynamic.ResourceInterface, error) {
	mapping, err := m.mapping(ref.gvk(), anyVersion)
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return m.dynamic.Resource(mapping.Resource).Namespace(ref.Namespace), nil
	}
	return m.dynamic.Resource(mapping.Resource), nil
}

func (m *apiMember) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	mapping, err := m.mapping(gvk, false)
	if err != nil {
		return false, err
	}
	return mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

func (m *apiMember) get(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	ri, err := m.resource(ref, true)
	if err != nil {
		return nil, err
	}
	return ri.Get(ctx, ref.Name, metav1.GetOptions{})
}

func (m *apiMember) apply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := m.resource(refOf(obj), false)
	if err != nil {
		return nil, err
	}
	return ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fleetv1alpha1.FieldManager, Force: true})
}

func (m *apiMember) dryRunApply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := m.resource(refOf(obj), false)
	if err != nil {
		return nil, err
	}
	return ri.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: fleetv1alpha1.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
}

func (m *apiMember) delete(ctx context.Context, ref objectRef, uid types.UID) error {
	ri, err := m.resource(ref, true)
	if err != nil {
		return err
	}
	background := metav1.DeletePropagationBackground
	return ri.Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &background,
	})
}

func (m *apiMember) facts(ctx context.Context) (clusterFacts, error) {
	raw, err := m.kinds.client.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return clusterFacts{}, fmt.Errorf("reading member version: %w", err)
	}
	var v version.Info
	if err := json.Unmarshal(raw, &v); err != nil {
		return clusterFacts{}, fmt.Errorf("decoding member version: %w", err)
	}
	// Metadata only, from the watch cache: counting Nodes costs the member little.
	nodes, err := m.metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).
		List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return clusterFacts{}, fmt.Errorf("counting member nodes: %w", err)
	}
	return clusterFacts{KubernetesVersion: v.GitVersion, NodeCount: int32(min(len(nodes.Items), 1<<31-1))}, nil //nolint:gosec // bounded above
}

// ping checks that the member's API server answers.
func (m *apiMember) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := m.kinds.client.Get().AbsPath("/readyz").DoRaw(ctx)
	return err
}

// foreign finds objects a cascading delete of ref would take along that the
// Work did not create, or that prune leaves in place (plan.TakenAlong). It
// ignores objects that have an owner (Pods of a Deployment, EndpointSlices
// of a Service: they go with their owner) and what Kubernetes itself puts
// in every namespace.
func (m *apiMember) foreign(ctx context.Context, ref objectRef, workLabel string, limit int) ([]string, error) {
	switch {
	case ref.isNamespace():
		resources, err := m.kinds.preferredNamespacedResources(ctx)
		if err != nil {
			// Partial discovery could hide objects: refuse to decide.
			return nil, fmt.Errorf("listing the member's namespaced kinds: %w", err)
		}
		var found []string
		for _, list := range resources {
			gv, err := schema.ParseGroupVersion(list.GroupVersion)
			if err != nil {
				continue
			}
			for _, r := range list.APIResources {
				if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || !hasVerb(r.Verbs, "delete") || systemKind(gv.Group, r.Name) {
					continue
				}
				names, err := m.listForeign(ctx, gv.WithResource(r.Name), ref.Name, workLabel, true, limit-len(found))
				if err != nil {
					return nil, err
				}
				for _, n := range names {
					if !systemObject(gv.Group, r.Name, n) {
						found = append(found, r.Kind+"/"+n)
					}
				}
				if len(found) >= limit {
					return found[:limit], nil
				}
			}
		}
		return found, nil
	case ref.isCRD():
		crd, err := m.get(ctx, ref)
		if err != nil {
			return nil, err
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		version := servedVersion(crd)
		if group == "" || plural == "" || version == "" {
			return nil, nil // never served: nothing can exist
		}
		// Every object of the kind counts, owned or not: deleting the CRD
		// deletes them all, and their owners (another team's Ingress, say)
		// stay.
		names, err := m.listForeign(ctx, schema.GroupVersionResource{Group: group, Version: version, Resource: plural}, "", workLabel, false, limit)
		if err != nil {
			return nil, err
		}
		for i, n := range names {
			names[i] = kind + "/" + n
		}
		return names, nil
	default:
		return nil, nil
	}
}

// listForeign lists up to limit names of gvr's objects in namespace ("": all)
// that a delete would take along but Work workLabel's prune would not
// delete; with skipOwned, not those with an owner (they go with it when
// their namespace does).
func (m *apiMember) listForeign(ctx context.Context, gvr schema.GroupVersionResource, namespace, workLabel string, skipOwned bool, limit int) ([]string, error) {
	var found []string
	// All of them: the Work's own count too when they opt out of prune.
	opts := metav1.ListOptions{Limit: 250}
	for {
		list, err := m.metadata.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
		}
		for _, item := range list.Items {
			if (skipOwned && len(item.OwnerReferences) > 0) || !plan.TakenAlong(workLabel, item.Labels, item.Annotations) {
				continue
			}
			name := item.Name
			if item.Namespace != "" && namespace == "" {
				name = item.Namespace + "/" + name
			}
			found = append(found, name)
			if len(found) >= limit {
				return found, nil
			}
		}
		if list.Continue == "" {
			return found, nil
		}
		opts.Continue = list.Continue
	}
}

func servedVersion(crd *unstructured.Unstructured) string {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		vm, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if served, _ := vm["served"].(bool); served {
			name, _ := vm["name"].(string)
			return name
		}
	}
	return ""
}

func hasVerb(verbs []string, verb string) bool {
	for _, v := range verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// systemKind: kinds whose objects in a namespace are records, not workloads
// anyone owns (Events), or mirrors of other objects (Endpoints of Services).
func systemKind(group, resource string) bool {
	switch {
	case group == "" && (resource == "events" || resource == "endpoints"):
		return true
	case group == "events.k8s.io" && resource == "events":
		return true
	}
	return false
}

// systemObject: what Kubernetes creates in every namespace.
func systemObject(group, resource, name string) bool {
	return group == "" && ((resource == "serviceaccounts" && name == "default") ||
		(resource == "configmaps" && name == "kube-root-ca.crt"))
}

// errorMessage renders an error from the member for a person reading Work
// status: the API server's message without Go wrapping noise.
func errorMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	if meta.IsNoMatchError(err) {
		return "unknown kind: " + err.Error() + " (is its CustomResourceDefinition installed?)"
	}
	return err.Error()
}
