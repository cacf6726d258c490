package membership

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack (an ex-member): the platform removes a cluster it no longer
// trusts with `kubectl delete cluster` while the hub is down (an upgrade),
// so the Cluster waits Terminating for the hub to record its name, its
// namespace and the agent's ServiceAccount still there. A join of the same
// name meanwhile (a replacement member) went through: it applied everything
// again onto the old ServiceAccount, so the removed cluster's agent kept its
// token for the new cluster's Works, and once the hub returned, the deletion
// took the new cluster's namespace and credentials with it. Now join refuses
// a Cluster being deleted.
func TestJoinRefusesAClusterBeingDeleted(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "deleting-1"
	old, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	// No hub runs here: the Cluster stays Terminating on its finalizer.
	if err := admin.Delete(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	if c := getCluster(ctx, t, admin, name); c.DeletionTimestamp == nil {
		t.Fatalf("cluster %s is not Terminating: finalizers %v", name, c.Finalizers)
	}

	_, err = Join(ctx, hub.RESTConfig, JoinOptions{Name: name})
	if err == nil || !strings.Contains(err.Error(), "being deleted") {
		t.Fatalf("join of a cluster being deleted = %v, want a refusal", err)
	}
	// The removed cluster's credentials are not renewed for a new one.
	if got := getCluster(ctx, t, admin, name); got.UID != old.Cluster.UID || got.DeletionTimestamp == nil {
		t.Errorf("the refused join changed the Cluster: uid %s, deletion %v", got.UID, got.DeletionTimestamp)
	}
}
