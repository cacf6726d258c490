package agent

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// The agent's built-in kinds on the hub: Leases (heartbeat), Events (drift)
// and TokenRequests (token rotation), through REST clients whose scheme
// holds those kinds alone. client-go's typed clientset would register every
// built-in API group of k8s.io/client-go/kubernetes/scheme at start-up,
// which costs an idle agent about 8 MiB of resident memory
// (docs/benchmarks.md) for kinds it never touches.

// hubKube is the agent's client for built-in kinds on the hub, in protobuf.
type hubKube struct {
	core         rest.Interface // v1: Events, ServiceAccount tokens
	coordination rest.Interface // coordination.k8s.io/v1: Leases
}

// newHubKube creates the clients for Leases, Events and tokens. Each has
// its own rate limiter when config sets none, as the typed clientset's
// clients do.
func newHubKube(config *rest.Config) (*hubKube, error) {
	scheme := runtime.NewScheme()
	scheme.AddKnownTypes(corev1.SchemeGroupVersion, &corev1.Event{}, &corev1.EventList{})
	metav1.AddToGroupVersion(scheme, corev1.SchemeGroupVersion)
	scheme.AddKnownTypes(authenticationv1.SchemeGroupVersion, &authenticationv1.TokenRequest{})
	metav1.AddToGroupVersion(scheme, authenticationv1.SchemeGroupVersion)
	scheme.AddKnownTypes(coordinationv1.SchemeGroupVersion, &coordinationv1.Lease{}, &coordinationv1.LeaseList{})
	metav1.AddToGroupVersion(scheme, coordinationv1.SchemeGroupVersion)
	codecs := serializer.NewCodecFactory(scheme).WithoutConversion()

	config = rest.CopyConfig(config)
	if config.UserAgent == "" {
		config.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("creating hub client: %w", err)
	}
	client := func(apiPath string, gv schema.GroupVersion) (rest.Interface, error) {
		c := rest.CopyConfig(config)
		c.APIPath, c.GroupVersion, c.NegotiatedSerializer = apiPath, &gv, codecs
		rc, err := rest.RESTClientForConfigAndClient(c, httpClient)
		if err != nil {
			return nil, fmt.Errorf("creating hub client for %s: %w", gv, err)
		}
		return rc, nil
	}
	core, err := client("/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	coordination, err := client("/apis", coordinationv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &hubKube{core: core, coordination: coordination}, nil
}

// leaseClient is what the heartbeat does with its Lease: the two methods of
// client-go's typed LeaseInterface it uses (so that a fake clientset's can
// stand in for it in tests).
type leaseClient interface {
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*coordinationv1.Lease, error)
}

// leases returns the Leases of namespace.
func (k *hubKube) leases(namespace string) leaseClient {
	return restLeases{client: k.coordination, namespace: namespace}
}

// restLeases are the Leases of one namespace. Options are never set by the
// agent, so none are sent.
type restLeases struct {
	client    rest.Interface
	namespace string
}

func (l restLeases) Update(ctx context.Context, lease *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.client.Put().Namespace(l.namespace).Resource("leases").Name(lease.Name).Body(lease).Do(ctx).Into(out)
	return out, err
}

func (l restLeases) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, _ metav1.PatchOptions, subresources ...string) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.client.Patch(pt).Namespace(l.namespace).Resource("leases").Name(name).SubResource(subresources...).Body(data).Do(ctx).Into(out)
	return out, err
}

// eventSink writes core/v1 Events of one namespace for the event recorder,
// as client-go's typed EventSinkImpl does.
type eventSink struct {
	client    rest.Interface
	namespace string
}

var _ eventWriter = eventSink{}

func (k *hubKube) events(namespace string) eventSink {
	return eventSink{client: k.core, namespace: namespace}
}

func (s eventSink) Create(event *corev1.Event) (*corev1.Event, error) {
	if event.Namespace != s.namespace {
		return nil, fmt.Errorf("can't create an event with namespace '%v' in namespace '%v'", event.Namespace, s.namespace)
	}
	out := &corev1.Event{}
	err := s.client.Post().Namespace(event.Namespace).Resource("events").Body(event).Do(context.Background()).Into(out)
	return out, err
}

func (s eventSink) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	if event.Namespace != s.namespace {
		return nil, fmt.Errorf("can't patch an event with namespace '%v' in namespace '%v'", event.Namespace, s.namespace)
	}
	out := &corev1.Event{}
	err := s.client.Patch(types.StrategicMergePatchType).Namespace(event.Namespace).Resource("events").Name(event.Name).
		Body(data).Do(context.Background()).Into(out)
	return out, err
}

// createToken requests a token for ServiceAccount name in namespace that
// lasts seconds (the API's default when nil).
func (k *hubKube) createToken(ctx context.Context, namespace, name string, seconds *int64) (*authenticationv1.TokenRequest, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: seconds}}
	out := &authenticationv1.TokenRequest{}
	err := k.core.Post().Namespace(namespace).Resource("serviceaccounts").Name(name).SubResource("token").
		Body(tr).Do(ctx).Into(out)
	return out, err
}
