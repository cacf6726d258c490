package fleet_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/fleet"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// staleFleets serves Fleets from copies taken earlier, when it holds one, as
// a cache that has not seen the controller's last Fleet write would; Clusters,
// and every write, go to the API server.
type staleFleets struct {
	client.Client
	fleets map[string]*fleetv1alpha1.Fleet
}

func (s staleFleets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if f, ok := obj.(*fleetv1alpha1.Fleet); ok && s.fleets[key.Name] != nil {
		s.fleets[key.Name].DeepCopyInto(f)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// A cluster goes Offline and the Fleet's status says so; it comes back
// before the cache has seen that write. Its own status writes do not wake
// the Fleet controller, so a reconcile from the stale copy must not leave
// the stored status saying the cluster is offline: it gets a conflict (sent
// nothing), and the next reconcile, once the cache has caught up, writes the
// counts back.
func TestFleetStatusFromACacheBehindItsOwnWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hub := testenv.NewHubWithCRDs(t)
	admin, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	cl := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "store-1"}}
	if err := admin.Create(ctx, cl); err != nil {
		t.Fatal(err)
	}
	setAvailability := func(a fleetv1alpha1.ClusterAvailability) {
		t.Helper()
		if err := admin.Get(ctx, client.ObjectKeyFromObject(cl), cl); err != nil {
			t.Fatal(err)
		}
		if err := controller.PatchStatus(ctx, admin, nil, cl, func(c *fleetv1alpha1.Cluster) { c.Status.Availability = a }); err != nil {
			t.Fatal(err)
		}
	}
	setAvailability(fleetv1alpha1.ClusterAvailabilityAvailable)
	f := &fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "stores"}}
	if err := admin.Create(ctx, f); err != nil {
		t.Fatal(err)
	}

	cache := staleFleets{Client: admin, fleets: map[string]*fleetv1alpha1.Fleet{}}
	r := &fleet.Reconciler{Client: cache, Clock: clocktesting.NewFakePassiveClock(time.Now())}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(f)}
	stored := func() fleetv1alpha1.FleetStatus {
		t.Helper()
		got := &fleetv1alpha1.Fleet{}
		if err := admin.Get(ctx, req.NamespacedName, got); err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if st := stored(); st.Clusters != 1 || st.AvailableClusters != 1 {
		t.Fatalf("first count: %d clusters, %d available; want 1 and 1", st.Clusters, st.AvailableClusters)
	}
	before := &fleetv1alpha1.Fleet{}
	if err := admin.Get(ctx, req.NamespacedName, before); err != nil {
		t.Fatal(err)
	}

	// The cluster goes Offline: written. The cache keeps the copy from before.
	setAvailability(fleetv1alpha1.ClusterAvailabilityOffline)
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if st := stored(); st.AvailableClusters != 0 {
		t.Fatalf("offline: %d available, want 0", st.AvailableClusters)
	}
	cache.fleets[f.Name] = before

	// It comes back: the counts wanted are the stale copy's.
	setAvailability(fleetv1alpha1.ClusterAvailabilityAvailable)
	_, err = r.Reconcile(ctx, req)
	if st := stored(); !apierrors.IsConflict(err) && st.AvailableClusters != 1 {
		t.Fatalf("back, judged from a copy behind the Offline write: err = %v and %d available stored; want a conflict or 1 available",
			err, st.AvailableClusters)
	}

	// The cache catches up; the conflict's retry corrects the stored status.
	delete(cache.fleets, f.Name)
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if st := stored(); st.Clusters != 1 || st.AvailableClusters != 1 {
		t.Errorf("after the retry: %d clusters, %d available; want 1 and 1", st.Clusters, st.AvailableClusters)
	}
}
