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
	if err := controller.PatchStatus(ctx, admin, c, func(c *fleetv1alpha1.Cluster) {
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
	if err := controller.PatchStatus(ctx, admin, stale, func(c *fleetv1alpha1.Cluster) {
		fleetv1alpha1.NewConditionSetter(&c.Status.Conditions, c.Generation, now).
			Set(fleetv1alpha1.ConditionDelivered, metav1.ConditionFalse, fleetv1alpha1.ReasonGitUnreachable, "down")
	}); !apierrors.IsConflict(err) {
		t.Fatalf("git delivery from a stale copy: err = %v, want a conflict", err)
	}
}
