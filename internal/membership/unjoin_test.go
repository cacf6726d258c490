package membership

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestUnjoinDeleteWorkloads(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "edge-del"
	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	work := testWork(name)
	if err := admin.Create(ctx, work); err != nil {
		t.Fatal(err)
	}

	// An Offline cluster's agent cannot prune: unjoin refuses and changes nothing.
	cluster := getCluster(ctx, t, admin, name)
	offline := client.RawPatch(types.MergePatchType, []byte(`{"status":{"availability":"Offline"}}`))
	if err := admin.Status().Patch(ctx, cluster, offline); err != nil {
		t.Fatal(err)
	}
	err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{DeleteWorkloads: true})
	if err == nil || !strings.Contains(err.Error(), "Offline") {
		t.Fatalf("unjoin --delete-workloads of an Offline cluster = %v", err)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(work), work); err != nil {
		t.Fatalf("the refused unjoin touched the Work: %v", err)
	}

	// Back online, but something holds the Work: unjoin waits no longer than
	// its timeout, and leaves the cluster joined.
	online := client.RawPatch(types.MergePatchType, []byte(`{"status":{"availability":"Available"}}`))
	if err := admin.Status().Patch(ctx, cluster, online); err != nil {
		t.Fatal(err)
	}
	held := testWork(name)
	held.Name, held.Finalizers = "held", []string{"example.com/hold"}
	if err := admin.Create(ctx, held); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{DeleteWorkloads: true, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "(1 left)") {
		t.Fatalf("unjoin with a Work that stays = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("unjoin waited %s with a 1s timeout", took)
	}
	getCluster(ctx, t, admin, name)
	if err := admin.Patch(ctx, held, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}

	// Now the Works go first, then the rest.
	if err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{DeleteWorkloads: true}); err != nil {
		t.Fatalf("unjoin --delete-workloads: %v", err)
	}
	if err := admin.Get(ctx, client.ObjectKeyFromObject(work), work); !apierrors.IsNotFound(err) {
		t.Errorf("Work after unjoin --delete-workloads: %v", err)
	}
	if err := admin.Get(ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Cluster{}); !apierrors.IsNotFound(err) {
		t.Errorf("Cluster after unjoin --delete-workloads: %v", err)
	}
}
