package controller_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// A status equal to a cached copy that predates the controller's own last
// write is not the stored status: PatchStatus must not report it written.
// It returns a conflict, sending nothing, so the reconcile runs again once
// the cache has caught up.
func TestPatchStatusFromACacheBehindItsOwnWrite(t *testing.T) {
	ctx := context.Background()
	f := &fleetv1alpha1.Fleet{}
	f.Name = "stores"
	c := fake.NewClientBuilder().WithScheme(kube.NewScheme()).WithObjects(f).
		WithStatusSubresource(&fleetv1alpha1.Fleet{}).Build()
	if err := c.Get(ctx, client.ObjectKeyFromObject(f), f); err != nil {
		t.Fatal(err)
	}
	stale := f.DeepCopy() // what a lagging cache still holds: 0 clusters
	var written controller.OwnWrites

	// A cluster went offline: the controller writes 1 of 1 available -> 0.
	if err := controller.PatchStatus(ctx, c, &written, f, func(f *fleetv1alpha1.Fleet) { f.Status.Clusters = 1 }); err != nil {
		t.Fatal(err)
	}
	// Judged from the stale copy, the wanted status (0) is the cached one.
	err := controller.PatchStatus(ctx, c, &written, stale, func(f *fleetv1alpha1.Fleet) { f.Status.Clusters = 0 })
	if !apierrors.IsConflict(err) {
		t.Fatalf("no change from a copy behind the controller's own write: err = %v, want a conflict", err)
	}
	t.Log(err)
	// Nothing was sent: the stored status is the one written.
	got := &fleetv1alpha1.Fleet{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(f), got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Clusters != 1 || got.ResourceVersion != f.ResourceVersion {
		t.Fatalf("stored: %d clusters at version %s, want 1 at %s", got.Status.Clusters, got.ResourceVersion, f.ResourceVersion)
	}

	// From the fresh copy the same wish is written.
	if err := controller.PatchStatus(ctx, c, &written, got, func(f *fleetv1alpha1.Fleet) { f.Status.Clusters = 0 }); err != nil {
		t.Fatal(err)
	}
	// A fresh copy with nothing to change sends nothing and is no error.
	if err := controller.PatchStatus(ctx, c, &written, got, func(f *fleetv1alpha1.Fleet) { f.Status.Clusters = 0 }); err != nil {
		t.Fatalf("nothing to change on a fresh copy: %v", err)
	}
	// Without a tracker (another writer in a test), no change is no error.
	if err := controller.PatchStatus(ctx, c, nil, stale, func(*fleetv1alpha1.Fleet) {}); err != nil {
		t.Fatalf("no tracker: %v", err)
	}
	// Once the object is gone and forgotten, a leftover copy is no conflict.
	written.Forget(client.ObjectKeyFromObject(f))
	if err := controller.PatchStatus(ctx, c, &written, stale, func(*fleetv1alpha1.Fleet) {}); err != nil {
		t.Fatalf("forgotten: %v", err)
	}
}
