package controller_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Two controllers write a Cluster's conditions (the cluster controller and
// git delivery's Delivered). A merge patch replaces the whole list, so a
// write built on a stale copy would undo the other writer's condition:
// PatchStatus must refuse it with a conflict instead.
func TestPatchStatusFromAStaleCopyDoesNotUndoAnotherWriter(t *testing.T) {
	ctx := context.Background()
	hub := testenv.NewHubWithCRDs(t)
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	cluster := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "edge-1"}}
	if err := c.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	stale := cluster.DeepCopy() // what a lagging cache still holds

	// Git delivery records Delivered.
	if err := controller.PatchStatus(ctx, c, nil, cluster, func(cl *fleetv1alpha1.Cluster) {
		meta.SetStatusCondition(&cl.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionDelivered,
			Status: metav1.ConditionTrue, Reason: "Pushed", Message: "pushed"})
	}); err != nil {
		t.Fatal(err)
	}
	// The cluster controller writes Ready from its stale copy.
	err = controller.PatchStatus(ctx, c, nil, stale, func(cl *fleetv1alpha1.Cluster) {
		meta.SetStatusCondition(&cl.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: "Offline", Message: "no heartbeat"})
	})
	if !apierrors.IsConflict(err) {
		t.Fatalf("a write from a stale copy: err = %v, want a conflict", err)
	}
	got := &fleetv1alpha1.Cluster{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(cluster), got); err != nil {
		t.Fatal(err)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionDelivered) {
		t.Fatalf("Delivered was undone: %+v", got.Status.Conditions)
	}
	// From fresh state the write goes through and keeps both.
	if err := controller.PatchStatus(ctx, c, nil, got, func(cl *fleetv1alpha1.Cluster) {
		meta.SetStatusCondition(&cl.Status.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionReady,
			Status: metav1.ConditionFalse, Reason: "Offline", Message: "no heartbeat"})
	}); err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Conditions) != 2 {
		t.Fatalf("conditions %+v", got.Status.Conditions)
	}
}
