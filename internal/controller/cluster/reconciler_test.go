package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/membership"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// agent plays a member's agent: it renews its Lease on the hub with the
// credentials join issued, as the real agent does.
type agent struct {
	t      *testing.T
	client client.Client
	key    types.NamespacedName
}

func joinCluster(ctx context.Context, t *testing.T, opts membership.JoinOptions) *agent {
	t.Helper()
	joined, err := membership.Join(ctx, hubCP.RESTConfig, opts)
	if err != nil {
		t.Fatalf("joining %s: %v", opts.Name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// The agent's Role may take a moment to reach the authorizer's cache.
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{
		Group: coordinationv1.GroupName, Resource: "leases", Verb: "update", Namespace: joined.Namespace, Name: fleetv1alpha1.AgentLease})
	return &agent{t: t, client: c, key: types.NamespacedName{Namespace: joined.Namespace, Name: fleetv1alpha1.AgentLease}}
}

// renew renews the agent's Lease now, with the given lease duration, and
// returns the renew time it wrote.
func (a *agent) renew(ctx context.Context, duration time.Duration) time.Time {
	a.t.Helper()
	return a.renewAt(ctx, time.Now(), duration)
}

// renewAt renews the agent's Lease with renewTime now, whatever the time is,
// as an agent that lies can.
func (a *agent) renewAt(ctx context.Context, now time.Time, duration time.Duration) time.Time {
	a.t.Helper()
	lease := &coordinationv1.Lease{}
	if err := a.client.Get(ctx, a.key, lease); err != nil {
		a.t.Fatalf("agent reading its lease: %v", err)
	}
	lease.Spec.HolderIdentity = ptr.To("agent-0")
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(duration / time.Second))
	lease.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	if err := a.client.Update(ctx, lease); err != nil {
		a.t.Fatalf("agent renewing its lease: %v", err)
	}
	return now
}

// waitFor polls the Cluster until check passes and returns how long it took.
func waitFor(ctx context.Context, t *testing.T, c client.Client, name, what string, timeout time.Duration, check func(*fleetv1alpha1.Cluster) bool) time.Duration {
	t.Helper()
	start := time.Now()
	cl := &fleetv1alpha1.Cluster{}
	for time.Since(start) < timeout {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, cl); err != nil {
			t.Fatalf("reading cluster %s: %v", name, err)
		}
		if check(cl) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cluster %s not %s after %s: status %+v", name, what, timeout, cl.Status)
	return 0
}

func is(availability fleetv1alpha1.ClusterAvailability, reason string) func(*fleetv1alpha1.Cluster) bool {
	return func(c *fleetv1alpha1.Cluster) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c.Status.Availability == availability && ready != nil && ready.Reason == reason &&
			c.Status.ObservedGeneration == c.Generation && ready.ObservedGeneration == c.Generation
	}
}

func TestAvailabilityFollowsTheAgentLease(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	registry := prometheus.NewRegistry()
	startHub(t, hub.Options{MetricsRegistry: registry})
	const name = "edge-1"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name, Labels: map[string]string{"env": "prod"}})

	waitFor(ctx, t, admin, name, "Unknown/NeverConnected", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityUnknown, fleetv1alpha1.ReasonNeverConnected))

	// First heartbeat: Available at once. The grace leaves room for a slow
	// poll or renewal on a loaded machine; renewals come every 400ms.
	const grace = 4 * time.Second
	agent.renew(ctx, grace)
	took := waitFor(ctx, t, admin, name, "Available", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	t.Logf("Available %s after the first heartbeat", took.Round(time.Millisecond))
	checkGauge(t, registry, fleetv1alpha1.ClusterAvailabilityAvailable, 1)

	// Steady heartbeats cost the hub no Cluster writes (resolution 5m).
	before := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, before); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for range 6 {
		last = agent.renew(ctx, grace)
		time.Sleep(400 * time.Millisecond)
	}
	after := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("6 heartbeats changed the Cluster (resourceVersion %s -> %s): %+v", before.ResourceVersion, after.ResourceVersion, after.Status)
	}

	// Heartbeats stop: Offline once the lease expires, not before.
	took = waitFor(ctx, t, admin, name, "Offline", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	sinceLast := time.Since(last)
	t.Logf("Offline %s after the last heartbeat (grace %s)", sinceLast.Round(time.Millisecond), grace)
	if sinceLast < grace {
		t.Errorf("Offline %s after the last heartbeat, before the %s grace ran out", sinceLast, grace)
	}
	if took > grace+2*time.Second {
		t.Errorf("Offline only %s after the lease expired", took-grace)
	}
	offline := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, offline); err != nil {
		t.Fatal(err)
	}
	// The hub dates the last renewal by its own clock, when it saw it: a
	// moment after the agent wrote it.
	var seen time.Time
	if got := offline.Status.LastHeartbeatTime; got != nil {
		seen = got.Time
	}
	if seen.Before(last.Truncate(time.Second)) || seen.After(last.Add(2*time.Second)) {
		t.Errorf("lastHeartbeatTime = %v, want when the hub saw the last renewal (written %s)", seen, last)
	}
	cond := meta.FindStatusCondition(offline.Status.Conditions, fleetv1alpha1.ConditionOffline)
	if cond == nil || cond.Status != metav1.ConditionTrue || !strings.Contains(cond.Message, "no heartbeat since") {
		t.Errorf("Offline condition = %+v", cond)
	}
	checkGauge(t, registry, fleetv1alpha1.ClusterAvailabilityOffline, 1)

	// The agent comes back.
	agent.renew(ctx, grace)
	took = waitFor(ctx, t, admin, name, "Available again", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	t.Logf("Available %s after heartbeats resumed", took.Round(time.Millisecond))

	// Each transition left an Event on the Cluster.
	waitEvents(ctx, t, admin, name, corev1.EventTypeWarning+"/"+fleetv1alpha1.ReasonHeartbeatMissed,
		corev1.EventTypeNormal+"/"+fleetv1alpha1.ReasonHeartbeating)
}

// waitEvents waits until the Cluster has Events of each type/reason given.
func waitEvents(ctx context.Context, t *testing.T, c client.Client, cluster string, want ...string) {
	t.Helper()
	var reasons []string
	has := func() bool {
		for _, w := range want {
			if !slices.Contains(reasons, w) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		events := &eventsv1.EventList{}
		if err := c.List(ctx, events, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			t.Fatal(err)
		}
		reasons = reasons[:0]
		for _, e := range events.Items {
			if e.Regarding.Name == cluster && e.Regarding.Kind == "Cluster" {
				reasons = append(reasons, e.Type+"/"+e.Reason)
			}
		}
		if has() {
			return
		}
	}
	t.Errorf("events on cluster %s: %v, want %v", cluster, reasons, want)
}

// The agent reports its member's facts on the Lease it renews (it has no
// right on the Cluster); the hub copies them into the Cluster status, and
// checks the agent's mode against the cluster's delivery.
func TestFactsOnTheLeaseReachTheClusterStatus(t *testing.T) {
	ctx := testContext(t)
	startHub(t, hub.Options{})
	const name = "edge-facts"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})

	// As the agent does: one merge patch renews the Lease and carries the facts.
	patch := []byte(`{"metadata":{"annotations":{` +
		`"` + fleetv1alpha1.AnnotationKubernetesVersion + `":"v1.36.3",` +
		`"` + fleetv1alpha1.AnnotationNodeCount + `":"4",` +
		`"` + fleetv1alpha1.AnnotationAgentVersion + `":"v0.9.0"}},` +
		`"spec":{"holderIdentity":"agent-0","leaseDurationSeconds":60,"renewTime":"` +
		metav1.NewMicroTime(time.Now()).UTC().Format(metav1.RFC3339Micro) + `"}}`)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agent.key.Namespace, Name: agent.key.Name}}
	if err := agent.client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatalf("agent renewing its lease with facts: %v", err)
	}
	waitFor(ctx, t, adminClient(t), name, "Available with the reported facts", 10*time.Second, func(c *fleetv1alpha1.Cluster) bool {
		return c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable &&
			c.Status.KubernetesVersion == "v1.36.3" && c.Status.NodeCount == 4 && c.Status.AgentVersion == "v0.9.0"
	})

	// An agent in the wrong mode for the cluster's delivery: Ready says so,
	// with a Warning, while the cluster stays Available; fixed, it clears.
	setMode := func(mode string) {
		t.Helper()
		patch := []byte(`{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationAgentMode + `":"` + mode + `"}}}`)
		if err := agent.client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatalf("agent reporting mode %s: %v", mode, err)
		}
	}
	setMode(fleetv1alpha1.AgentModeReportOnly)
	mismatched := waitFor(ctx, t, adminClient(t), name, "Ready False with the mode mismatch", 10*time.Second, func(c *fleetv1alpha1.Cluster) bool {
		ready := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable && ready != nil && ready.Status == metav1.ConditionFalse &&
			ready.Reason == fleetv1alpha1.ReasonAgentModeMismatch && strings.Contains(ready.Message, "nothing is applied")
	})
	t.Logf("mode mismatch shown %s after the agent reported it", mismatched.Round(time.Millisecond))
	waitEvents(ctx, t, adminClient(t), name, corev1.EventTypeWarning+"/"+fleetv1alpha1.ReasonAgentModeMismatch)
	setMode(fleetv1alpha1.AgentModeApply)
	waitFor(ctx, t, adminClient(t), name, "Ready again", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))

	// The agent's credentials reach no further than its namespace.
	cl := &fleetv1alpha1.Cluster{}
	if err := agent.client.Get(ctx, client.ObjectKey{Name: name}, cl); !apierrors.IsForbidden(err) {
		t.Errorf("agent reading its Cluster: err = %v, want Forbidden", err)
	}
}

// A member cannot lie about being alive: with its own credentials it writes
// renewTime 2099, then stops. The hub dates the renewal by its own clock, so
// the cluster goes Offline one grace after the hub saw the write. (The grace
// an agent may ask for is bounded too: TestAvailability.)
func TestAFarFutureRenewTimeGoesOfflineOnTime(t *testing.T) {
	ctx := testContext(t)
	const grace = 3 * time.Second
	startHub(t, hub.Options{})
	const name = "edge-liar"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	admin := adminClient(t)
	waitFor(ctx, t, admin, name, "Unknown/NeverConnected", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityUnknown, fleetv1alpha1.ReasonNeverConnected))

	agent.renew(ctx, grace)
	waitFor(ctx, t, admin, name, "Available", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	wrote := time.Now()
	agent.renewAt(ctx, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), grace)
	took := waitFor(ctx, t, admin, name, "Offline", grace+5*time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	since := time.Since(wrote)
	t.Logf("Offline %s after the agent wrote renewTime 2099 (grace %s)", since.Round(time.Millisecond), grace)
	if since < grace-100*time.Millisecond {
		t.Errorf("Offline %s after the last write, before the %s grace ran out", since, grace)
	}
	if took > grace+2*time.Second {
		t.Errorf("Offline only %s after the grace ran out", took-grace)
	}
	cl := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, cl); err != nil {
		t.Fatal(err)
	}
	if hb := cl.Status.LastHeartbeatTime; hb == nil || hb.Year() != wrote.Year() {
		t.Errorf("lastHeartbeatTime = %v, want the hub's time of the last renewal, not the agent's 2099", hb)
	}
}

// An agent that renewed, then erases its Lease's renewTime (it may update
// its Lease; a merge patch of null): the hub judged the Lease "not
// heartbeated yet" and the cluster Unknown for as long as it wished, never
// Offline, so the offline policy that names Offline clusters and the
// cluster's `Offline` condition never fired. It goes Offline one grace after
// the last renewal the hub saw.
func TestAnErasedRenewTimeGoesOfflineOnTime(t *testing.T) {
	ctx := testContext(t)
	const grace = 3 * time.Second
	stop := hubtest.Start(t, hubCP.RESTConfig, hub.Options{})
	const name = "edge-eraser"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	admin := adminClient(t)
	agent.renew(ctx, grace)
	waitFor(ctx, t, admin, name, "Available", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	wrote := time.Now()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agent.key.Namespace, Name: agent.key.Name}}
	if err := agent.client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"renewTime":null}}`))); err != nil {
		t.Fatalf("agent erasing its renewTime: %v", err)
	}
	waitFor(ctx, t, admin, name, "Offline", grace+5*time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	t.Logf("Offline %s after the agent erased its renewTime (grace %s)", time.Since(wrote).Round(time.Millisecond), grace)

	// A new hub process has seen no renewal: it judges from the heartbeat
	// the Cluster records, and the cluster stays Offline, not "never
	// heartbeated".
	stop()
	startHub(t, hub.Options{})
	time.Sleep(3 * time.Second)
	waitFor(ctx, t, admin, name, "still Offline after a hub restart", time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
}

// An agent reports facts that are not facts (a version with a newline,
// a node count of a billion): they are dropped, said on FactsValid and in
// a Warning Event, and never reach the status.
func TestInvalidFactsAreDropped(t *testing.T) {
	ctx := testContext(t)
	startHub(t, hub.Options{})
	const name = "edge-badfacts"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	annotate := func(version, nodes string) {
		t.Helper()
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: agent.key.Namespace, Name: agent.key.Name}}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{
				fleetv1alpha1.AnnotationKubernetesVersion: version,
				fleetv1alpha1.AnnotationNodeCount:         nodes,
			}},
			"spec": map[string]any{"holderIdentity": "agent-0", "leaseDurationSeconds": 60,
				"renewTime": metav1.NewMicroTime(time.Now()).UTC().Format(metav1.RFC3339Micro)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := agent.client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, patch)); err != nil {
			t.Fatalf("agent renewing its lease: %v", err)
		}
	}
	annotate("v1.36.3", "3")
	waitFor(ctx, t, adminClient(t), name, "Available with valid facts", 10*time.Second, func(c *fleetv1alpha1.Cluster) bool {
		return c.Status.KubernetesVersion == "v1.36.3" && c.Status.NodeCount == 3 &&
			meta.IsStatusConditionTrue(c.Status.Conditions, fleetv1alpha1.ConditionFactsValid)
	})
	annotate("v1.99.0\nReady: True", "1000000000")
	cl := &fleetv1alpha1.Cluster{}
	waitFor(ctx, t, adminClient(t), name, "FactsValid False", 10*time.Second, func(c *fleetv1alpha1.Cluster) bool {
		cl = c
		f := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionFactsValid)
		return f != nil && f.Status == metav1.ConditionFalse && f.Reason == fleetv1alpha1.ReasonInvalidFacts
	})
	if cl.Status.KubernetesVersion != "v1.36.3" || cl.Status.NodeCount != 3 || cl.Status.Availability != fleetv1alpha1.ClusterAvailabilityAvailable {
		t.Errorf("invalid facts changed the status: %+v", cl.Status)
	}
	f := meta.FindStatusCondition(cl.Status.Conditions, fleetv1alpha1.ConditionFactsValid)
	if strings.Contains(f.Message, "\n") || !strings.Contains(f.Message, fleetv1alpha1.AnnotationNodeCount) {
		t.Errorf("FactsValid message %q", f.Message)
	}
	waitEvents(ctx, t, adminClient(t), name, corev1.EventTypeWarning+"/"+fleetv1alpha1.ReasonInvalidFacts)
}

func TestGitClusterWithoutHealthSourceIsAvailable(t *testing.T) {
	ctx := testContext(t)
	startHub(t, hub.Options{})
	joinCluster(ctx, t, membership.JoinOptions{Name: "git-1", Delivery: fleetv1alpha1.DeliveryGit,
		Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}})
	// Available without a heartbeat; not Ready, though: git.example.com
	// cannot be reached, so nothing was delivered.
	waitFor(ctx, t, adminClient(t), "git-1", "Available without heartbeat", 10*time.Second, func(c *fleetv1alpha1.Cluster) bool {
		available := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionAvailable)
		ready := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable && available != nil &&
			available.Reason == fleetv1alpha1.ReasonHeartbeatNotRequired && ready != nil && ready.Status == metav1.ConditionFalse
	})
}

// The hub's --cluster-offline-grace overrides what agents write in their Lease.
// This is also the package's second (third) hub manager in one process.
func TestOfflineGraceOverride(t *testing.T) {
	ctx := testContext(t)
	const grace = 3 * time.Second
	startHub(t, hub.Options{ClusterOfflineGrace: grace})
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: "edge-override"})
	admin := adminClient(t)
	// The hub runs (it judged the new cluster) before the one heartbeat, so
	// the grace counts from a renewal the hub sees at once.
	waitFor(ctx, t, admin, "edge-override", "Unknown/NeverConnected", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityUnknown, fleetv1alpha1.ReasonNeverConnected))
	agent.renew(ctx, time.Hour)
	waitFor(ctx, t, admin, "edge-override", "Available", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	took := waitFor(ctx, t, admin, "edge-override", "Offline", grace+5*time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	t.Logf("Offline %s after Available with a %s override of a 1h lease", took.Round(time.Millisecond), grace)
}

// checkGauge checks flotilla_clusters{availability} counts at least n.
// Other tests' clusters may count too, so it checks a lower bound.
func checkGauge(t *testing.T, registry prometheus.Gatherer, availability fleetv1alpha1.ClusterAvailability, n float64) {
	t.Helper()
	var got float64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		families, err := registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got = gauge(families, "flotilla_clusters", "availability", string(availability))
		if got >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("flotilla_clusters{availability=%q} = %v, want at least %v", availability, got, n)
}

func gauge(families []*dto.MetricFamily, name, label, value string) float64 {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}
