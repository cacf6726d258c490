package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/reconnect"
)

// hubRequestTimeout bounds every non-watch request to the hub.
const hubRequestTimeout = 15 * time.Second

// hubClient is everything the agent does on the hub, all of it inside the
// cluster's own namespace. It holds no cache beyond the Work informer.
type hubClient struct {
	cluster   string
	namespace string
	fleet     rest.Interface // fleet.flotilla.dev/v1alpha1
	kube      *hubKube       // Events, in protobuf (hubkube.go)
	leases    leaseClient    // the cluster namespace's Leases, in protobuf

	// lease is the agent's Lease as its last renewal stored it; nil before
	// the first renewal and after a failed one (see renewLease).
	leaseMu sync.Mutex
	lease   *coordinationv1.Lease
}

// The hub client's rate limit for Works and their status, unless the
// kubeconfig sets one. Heartbeats and Events keep client-go's default.
const (
	hubStatusQPS   = 20
	hubStatusBurst = 100
)

func newHubClient(config *rest.Config, cluster string) (*hubClient, error) {
	// A scheme with Flotilla's kinds only: the agent decodes nothing else from the hub.
	scheme := runtime.NewScheme()
	if err := fleetv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering Flotilla's API: %w", err)
	}
	fleetConfig := rest.CopyConfig(config)
	fleetConfig.GroupVersion = &fleetv1alpha1.GroupVersion
	fleetConfig.APIPath = "/apis"
	fleetConfig.ContentType = runtime.ContentTypeJSON
	fleetConfig.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if fleetConfig.UserAgent == "" {
		fleetConfig.UserAgent = "flotilla-agent"
	}
	if fleetConfig.QPS == 0 {
		// Work status writes: client-go's default 5 a second made 50 Works
		// applied together wait 8 s for their first reports. A burst of one
		// write per Work of a large member goes out at once; the hub's API
		// Priority and Fairness queues agents fairly among themselves.
		fleetConfig.QPS, fleetConfig.Burst = hubStatusQPS, hubStatusBurst
	}
	fleet, err := rest.RESTClientFor(fleetConfig)
	if err != nil {
		return nil, fmt.Errorf("creating hub client: %w", err)
	}
	kubeConfig := rest.CopyConfig(config)
	// Built-in kinds speak protobuf: a Lease renewal in protobuf costs the
	// hub's API server no JSON decoding and re-encoding (see renewLease).
	kubeConfig.ContentType = runtime.ContentTypeProtobuf
	kubeConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if kubeConfig.UserAgent == "" {
		kubeConfig.UserAgent = "flotilla-agent"
	}
	kube, err := newHubKube(kubeConfig)
	if err != nil {
		return nil, err
	}
	namespace := fleetv1alpha1.ClusterNamespace(cluster)
	return &hubClient{cluster: cluster, namespace: namespace, fleet: fleet, kube: kube, leases: kube.leases(namespace)}, nil
}

// workInformer watches the Works of the cluster's namespace, and nothing else.
// While the hub is unreachable its List and Watch retry with a short jittered
// backoff (see reconnect.ListerWatcher).
func (h *hubClient) workInformer() cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &fleetv1alpha1.WorkList{}
			err := h.fleet.Get().Namespace(h.namespace).Resource("works").
				VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(list)
			return list, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			return h.fleet.Get().Namespace(h.namespace).Resource("works").
				VersionedParams(&opts, metav1.ParameterCodec).Watch(ctx)
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(reconnect.NewListerWatcher(lw, reconnect.AgentBase, reconnect.AgentMax), &fleetv1alpha1.Work{}, cache.SharedIndexInformerOptions{})
	// managedFields are never read; dropping them halves the memory per Work.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if w, ok := obj.(*fleetv1alpha1.Work); ok {
			w.ManagedFields = nil
		}
		return obj, nil
	})
	return inf
}

// getWork reads one Work straight from the hub (not from the informer).
func (h *hubClient) getWork(ctx context.Context, name string) (*fleetv1alpha1.Work, error) {
	ctx, cancel := context.WithTimeout(ctx, hubRequestTimeout)
	defer cancel()
	out := &fleetv1alpha1.Work{}
	if err := h.fleet.Get().Namespace(h.namespace).Resource("works").Name(name).Do(ctx).Into(out); err != nil {
		return nil, fmt.Errorf("reading work %s: %w", name, err)
	}
	return out, nil
}

// updateWorkStatus writes a Work's status (optimistic concurrency on the
// resourceVersion of work) and returns the stored object.
func (h *hubClient) updateWorkStatus(ctx context.Context, work *fleetv1alpha1.Work) (*fleetv1alpha1.Work, error) {
	ctx, cancel := context.WithTimeout(ctx, hubRequestTimeout)
	defer cancel()
	out := &fleetv1alpha1.Work{}
	err := h.fleet.Put().Namespace(h.namespace).Resource("works").Name(work.Name).SubResource("status").
		Body(work).Do(ctx).Into(out)
	if err != nil {
		return nil, fmt.Errorf("updating status of work %s: %w", work.Name, err)
	}
	return out, nil
}

// renewLease renews the agent's Lease with one request, never a read first.
// The first renewal is a merge patch; it returns the Lease, and every later
// one updates that (a protobuf PUT, as the kubelet renews its node Lease):
// on 10,000 clusters these renewals are most of the hub API server's writes,
// and a JSON merge patch costs it a JSON round trip of the object each time.
// A conflict (someone else wrote the Lease: `flotilla join` again) falls
// back to the patch at once; any other failure makes the next renewal patch.
//
// The member's facts, when known, and the agent's version and mode ride
// along as annotations (see fleetv1alpha1.AnnotationKubernetesVersion): the
// hub copies them into the Cluster's status and checks the mode against the
// cluster's delivery, so reporting them costs no request and no right outside
// the cluster's namespace. The Lease is created by `flotilla join`; the
// agent has no right to create it, so a missing Lease is a NotFound error.
func (h *hubClient) renewLease(ctx context.Context, holder string, grace time.Duration, now time.Time, facts *clusterFacts, self agentIdentity) error {
	ctx, cancel := context.WithTimeout(ctx, hubRequestTimeout)
	defer cancel()
	h.leaseMu.Lock()
	defer h.leaseMu.Unlock()
	leases := h.leases
	var (
		stored *coordinationv1.Lease
		err    error
	)
	if h.lease != nil {
		update := h.lease.DeepCopy()
		renew(update, holder, grace, now, facts, self)
		stored, err = leases.Update(ctx, update, metav1.UpdateOptions{})
	}
	if h.lease == nil || apierrors.IsConflict(err) {
		var patch []byte
		if patch, err = json.Marshal(leaseRenewal(holder, grace, now, facts, self)); err != nil {
			return fmt.Errorf("encoding lease renewal: %w", err)
		}
		stored, err = leases.Patch(ctx, fleetv1alpha1.AgentLease, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		h.lease = nil
		return fmt.Errorf("renewing lease %s/%s: %w", h.namespace, fleetv1alpha1.AgentLease, err)
	}
	// An update without managedFields keeps the stored ones; not holding
	// them saves memory per agent.
	stored.ManagedFields = nil
	h.lease = stored
	return nil
}

// agentIdentity is what the agent says of itself on its Lease: its version
// and mode (fleetv1alpha1.AgentModeApply or AgentModeReportOnly).
type agentIdentity struct {
	Version, Mode string
}

// renew sets what a renewal writes on a Lease read before: the same fields
// leaseRenewal patches.
func renew(lease *coordinationv1.Lease, holder string, grace time.Duration, now time.Time, facts *clusterFacts, self agentIdentity) {
	duration := int32(grace / time.Second)
	renewTime := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = &holder
	lease.Spec.LeaseDurationSeconds = &duration
	lease.Spec.RenewTime = &renewTime
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	maps.Copy(lease.Annotations, leaseAnnotations(facts, self))
}

// leaseRenewal is the merge patch that renews the Lease and says what
// leaseAnnotations do. A merge patch leaves other annotations alone.
func leaseRenewal(holder string, grace time.Duration, now time.Time, facts *clusterFacts, self agentIdentity) map[string]any {
	return map[string]any{
		"metadata": map[string]any{"annotations": leaseAnnotations(facts, self)},
		"spec": map[string]any{
			"holderIdentity":       holder,
			"leaseDurationSeconds": int64(grace / time.Second),
			"renewTime":            metav1.NewMicroTime(now),
		},
	}
}

// leaseAnnotations are the agent's version and mode, and the member's facts
// when known.
func leaseAnnotations(facts *clusterFacts, self agentIdentity) map[string]string {
	out := map[string]string{
		fleetv1alpha1.AnnotationAgentVersion: self.Version,
		fleetv1alpha1.AnnotationAgentMode:    self.Mode,
	}
	if facts != nil {
		out[fleetv1alpha1.AnnotationKubernetesVersion] = facts.KubernetesVersion
		out[fleetv1alpha1.AnnotationNodeCount] = strconv.FormatInt(int64(facts.NodeCount), 10)
	}
	return out
}
