package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// The attack (by carelessness): a platform engineer removes a cluster with
// `kubectl delete cluster`, as the docs allowed, not with `flotilla unjoin`,
// so the name was not recorded as unjoined. The old agent's watch of
// flotilla-cluster-NAME/works outlives its token (see
// membership.UnjoinedClustersConfigMap), and a cluster joined later under
// the name had every Work of its (rendered Secrets included) sent there.
// Now join gives the Cluster a finalizer, and the hub records the name
// before the Cluster goes.
func TestAClusterDeletedWithKubectlIsRecordedAsUnjoined(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	startHub(t, hub.Options{})
	const name = "kubectl-deleted-1"
	if _, err := membership.Join(ctx, hubCP.RESTConfig, membership.JoinOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := admin.Get(ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Cluster{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		t.Fatalf("the deleted Cluster is not gone: %v", err)
	}
	// The test hub runs no garbage collector: remove the namespace the
	// Cluster owned as it would.
	hubCP.RemoveNamespace(ctx, t, fleetv1alpha1.ClusterNamespace(name))

	if _, err := membership.Join(ctx, hubCP.RESTConfig, membership.JoinOptions{Name: name}); !errors.Is(err, membership.ErrNameUnjoined) {
		t.Fatalf("join of a name deleted with kubectl = %v, want ErrNameUnjoined", err)
	}
	if _, err := membership.Join(ctx, hubCP.RESTConfig, membership.JoinOptions{Name: name, ReuseName: true}); err != nil {
		t.Fatalf("join with ReuseName: %v", err)
	}
}
