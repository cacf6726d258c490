package membership

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: a platform engineer, mid-incident, deletes a cluster's hub
// namespace by hand (`kubectl delete namespace flotilla-cluster-<name>`:
// cleaning up what looks stale, or a label-selected delete of Flotilla's
// namespaces). The namespace controller deletes every Work in it, and the
// agent, whose watch outlives its credentials, prunes every workload it
// applied from the member once the hub confirms a Work gone (while its
// ServiceAccount and Role are still there); either way the Cluster stays
// joined with no namespace for the hub to write to, its agent's identity and
// Lease gone. Now a cluster's namespace goes only once its Cluster is gone
// or being deleted (the garbage collector's deletion), or annotated
// force-delete (unjoin); a person is told to unjoin.
func TestAClustersNamespaceIsNotDeletedByHand(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name, deleted = "nsdel-1", "nsdel-2"
	for _, c := range []string{name, deleted} {
		if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: c}); err != nil {
			t.Fatal(err)
		}
		if err := admin.Create(ctx, testWork(c)); err != nil {
			t.Fatal(err)
		}
	}
	ns := fleetv1alpha1.ClusterNamespace(name)
	deleteNamespace := func(ns string) error {
		return admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}

	// Its params are the Clusters, which the API server sees a moment after
	// they change.
	refusedSoon := func(ns string, want bool) {
		deletionRefusedSoon(ctx, admin, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, want)
	}
	refusedSoon(ns, true)
	err := deleteNamespace(ns)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("deleting namespace %s by hand: %v, want it refused", ns, err)
	}
	if !strings.Contains(err.Error(), "flotilla unjoin "+name) {
		t.Errorf("the refusal does not say to unjoin: %v", err)
	}
	namespace := &corev1.Namespace{}
	if err := admin.Get(ctx, client.ObjectKey{Name: ns}, namespace); err != nil || namespace.DeletionTimestamp != nil {
		t.Fatalf("namespace %s after the refused deletion: %v, being deleted since %v", ns, err, namespace.DeletionTimestamp)
	}

	// Unjoin still removes the cluster, its namespace last.
	if err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{}); err != nil {
		t.Fatalf("unjoin: %v", err)
	}
	err = admin.Get(ctx, client.ObjectKey{Name: ns}, namespace)
	if err == nil && namespace.DeletionTimestamp == nil {
		t.Errorf("namespace %s is not being deleted after unjoin", ns)
	} else if client.IgnoreNotFound(err) != nil {
		t.Fatal(err)
	}

	// So does the garbage collector, once the Cluster is being deleted.
	if err := admin.Delete(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: deleted}}); err != nil {
		t.Fatal(err)
	}
	refusedSoon(fleetv1alpha1.ClusterNamespace(deleted), false)
	if err := deleteNamespace(fleetv1alpha1.ClusterNamespace(deleted)); err != nil {
		t.Fatalf("deleting the namespace of a Cluster being deleted: %v", err)
	}
}
