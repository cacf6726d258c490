package cluster_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/cluster"
	"github.com/flotilla-dev/flotilla/internal/liveness"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// staleCache serves the Cluster it holds from a copy taken earlier, as a
// lagging informer cache would; everything else, writes included, goes to
// the API server.
type staleCache struct {
	client.Client
	stale *fleetv1alpha1.Cluster
}

func (s staleCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if c, ok := obj.(*fleetv1alpha1.Cluster); ok && key.Name == s.stale.Name {
		s.stale.DeepCopyInto(c)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// Two writers set a git-delivered Cluster's conditions: git delivery
// (Delivered) and the Cluster controller (Ready, Reconciling, Stalled,
// Available, Offline). A Cluster reconcile that reads from a cache that has
// not seen git delivery's write yet must not undo it: its status write is
// refused (a conflict, retried), and the retry from fresh state keeps
// Delivered and turns Ready True because of it.
func TestAStaleClusterReconcileDoesNotUndoDelivered(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	c := &fleetv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: "stale-git-1"},
		Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit,
			Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}},
	}
	if err := admin.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Delete(context.Background(), c) })
	now := time.Now()
	reconciler := func(c client.Client) *cluster.Reconciler {
		return &cluster.Reconciler{Client: c, Recorder: events.NewFakeRecorder(100), Clock: clocktesting.NewFakePassiveClock(now)}
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(c)}
	// What a lagging cache still holds: the Cluster as created.
	stale := c.DeepCopy()

	// The Cluster controller's first look: no push yet, Reconciling.
	if _, err := reconciler(admin).Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, req.NamespacedName, c); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(c.Status.Conditions, fleetv1alpha1.ConditionReconciling) {
		t.Fatalf("before the first push: %+v", c.Status.Conditions)
	}

	// Git delivery pushes and records Delivered, as setDelivered does.
	if err := controller.PatchStatus(ctx, admin, nil, c, func(c *fleetv1alpha1.Cluster) {
		fleetv1alpha1.NewConditionSetter(&c.Status.Conditions, c.Generation, now).
			Set(fleetv1alpha1.ConditionDelivered, metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed, "pushed abc")
	}); err != nil {
		t.Fatal(err)
	}

	// A Cluster reconcile from the stale cache has conditions to write, and
	// would write them over Delivered (a merge patch replaces the whole
	// list): refused.
	if _, err := reconciler(staleCache{Client: admin, stale: stale}).Reconcile(ctx, req); !apierrors.IsConflict(err) {
		t.Fatalf("a reconcile from a stale cache: err = %v, want a conflict", err)
	}
	got := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionDelivered) {
		t.Fatalf("Delivered was undone by a stale reconcile: %+v", got.Status.Conditions)
	}

	// The retry reads fresh state: Delivered stays, and the cluster is Ready.
	if _, err := reconciler(admin).Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{fleetv1alpha1.ConditionDelivered, fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionAvailable} {
		if !meta.IsStatusConditionTrue(got.Status.Conditions, typ) {
			t.Errorf("%s not True after the retry: %+v", typ, got.Status.Conditions)
		}
	}
	if meta.IsStatusConditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReconciling) {
		t.Errorf("still Reconciling once delivered: %+v", got.Status.Conditions)
	}

	// And the other way round: git delivery writing from a copy that has not
	// seen the Cluster controller's Ready is refused too.
	if err := controller.PatchStatus(ctx, admin, nil, stale, func(c *fleetv1alpha1.Cluster) {
		fleetv1alpha1.NewConditionSetter(&c.Status.Conditions, c.Generation, now).
			Set(fleetv1alpha1.ConditionDelivered, metav1.ConditionFalse, fleetv1alpha1.ReasonGitUnreachable, "down")
	}); !apierrors.IsConflict(err) {
		t.Fatalf("git delivery from a stale copy: err = %v, want a conflict", err)
	}
}

// After the hub's API server was away, the hub's Cluster cache may lag its
// Lease cache by seconds. A cluster the hub wrote Offline meanwhile, from a
// cached copy still Available from before, must turn Available on its
// agent's next heartbeat even though the cache still holds that copy: the
// status to write is the cached one, but not the stored one.
func TestAHeartbeatAfterAnOfflineWriteTheCacheHasNotSeen(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "stale-offline-1"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	const grace = 3 * time.Second
	agent.renew(ctx, grace)
	clock := clocktesting.NewFakePassiveClock(time.Now())
	r := &cluster.Reconciler{Client: admin, LiveReader: admin, Recorder: events.NewFakeRecorder(100), Clock: clock,
		HeartbeatStatusResolution: liveness.DefaultHeartbeatStatusResolution}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}
	stored := func() *fleetv1alpha1.Cluster {
		t.Helper()
		c := &fleetv1alpha1.Cluster{}
		if err := admin.Get(ctx, req.NamespacedName, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	reconcile := func(what string) {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	reconcile("first look")
	before := stored()
	if before.Status.Availability != fleetv1alpha1.ClusterAvailabilityAvailable {
		t.Fatalf("after a heartbeat: %s, want Available", before.Status.Availability)
	}

	// The cache stops at the Available copy; past the grace the hub writes
	// Offline (confirmed by a live read of the Lease).
	r.Client = staleCache{Client: admin, stale: before}
	clock.SetTime(clock.Now().Add(10 * time.Second))
	reconcile("past the grace")
	if got := stored().Status.Availability; got != fleetv1alpha1.ClusterAvailabilityOffline {
		t.Fatalf("past the grace: %s, want Offline", got)
	}

	// The agent heartbeats; the cache still holds the Available copy.
	agent.renew(ctx, grace)
	clock.SetTime(clock.Now().Add(time.Second))
	reconcile("after the heartbeat")
	if got := stored().Status.Availability; got != fleetv1alpha1.ClusterAvailabilityAvailable {
		t.Errorf("after the heartbeat, from a cache behind the hub's Offline write: %s, want Available", got)
	}
}
