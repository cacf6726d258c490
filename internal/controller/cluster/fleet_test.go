package cluster_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// A Fleet's counts follow its Clusters: joining, availability and labels. The
// Fleet controller runs in the same hub; its counts are driven by Clusters, so
// its integration test lives with theirs.
func TestFleetCountsFollowClusters(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	startHub(t, hub.Options{})

	f := &fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "stores"}}
	f.Spec.Selector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "store"}}
	if err := admin.Create(ctx, f); err != nil {
		t.Fatal(err)
	}
	waitForFleet(t, admin, "stores", 0, 0)

	gitStore := func(name string) membership.JoinOptions {
		return membership.JoinOptions{Name: name, Labels: map[string]string{"tier": "store"}, Delivery: fleetv1alpha1.DeliveryGit,
			Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}
	}
	// Git clusters without a health source are Available at once; an agent
	// cluster that never heartbeats stays Unknown.
	joinCluster(ctx, t, gitStore("store-1"))
	joinCluster(ctx, t, gitStore("store-2"))
	joinCluster(ctx, t, membership.JoinOptions{Name: "store-3", Labels: map[string]string{"tier": "store"}})
	joinCluster(ctx, t, membership.JoinOptions{Name: "office-1", Labels: map[string]string{"tier": "office"}})
	waitForFleet(t, admin, "stores", 3, 2)

	// A patch, not get-and-update: the hub writes the Cluster's status meanwhile.
	cl := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "store-2"}}
	if err := admin.Patch(ctx, cl, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"office"}}}`))); err != nil {
		t.Fatal(err)
	}
	waitForFleet(t, admin, "stores", 2, 1)
}

func waitForFleet(t *testing.T, c client.Client, name string, clusters, available int32) {
	t.Helper()
	ctx := testContext(t)
	f := &fleetv1alpha1.Fleet{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.Get(ctx, client.ObjectKey{Name: name}, f); err != nil {
			t.Fatal(err)
		}
		if f.Status.Clusters == clusters && f.Status.AvailableClusters == available && f.Status.ObservedGeneration == f.Generation {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fleet %s: %d clusters, %d available; want %d and %d", name, f.Status.Clusters, f.Status.AvailableClusters, clusters, available)
}
