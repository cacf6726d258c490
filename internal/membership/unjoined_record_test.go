package membership

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: after an unjoin, a platform engineer tidies up
// flotilla-system (`kubectl delete configmap flotilla-unjoined-clusters`,
// a list of clusters that are gone, it seems) and joins a new cluster under
// the unjoined name. The record was all that kept join from giving the name
// to a new cluster while the old agent may still hold a watch of
// namespaces/flotilla-cluster-NAME/works open: the join went through, and
// the new cluster's Works (rendered Secrets included) reached the old agent
// on its watch. The record is now deleted only annotated force-delete (or
// with its namespace): a person is told what it keeps.
func TestTheRecordOfUnjoinedNamesIsNotDeletedByHand(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "unrec-1"
	ns := fleetv1alpha1.ClusterNamespace(name)
	old, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	w, err := agentClient(t, old.HubKubeconfig).Watch(ctx, &fleetv1alpha1.WorkList{}, client.InNamespace(ns),
		&client.ListOptions{Raw: &metav1.ListOptions{TimeoutSeconds: ptr.To(int64(3600))}})
	if err != nil {
		t.Fatalf("the agent watching its Works: %v", err)
	}
	defer w.Stop()
	if err := Unjoin(ctx, hub.RESTConfig, name, UnjoinOptions{}); err != nil {
		t.Fatal(err)
	}
	hub.RemoveNamespace(ctx, t, ns)

	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: UnjoinedClustersConfigMap}}
	// The API server enforces a policy a moment after it sees it: dry runs wait.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsForbidden(admin.Delete(ctx, record.DeepCopy(), client.DryRunAll)), nil
	})
	err = admin.Delete(ctx, record)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("deleting %s/%s by hand: %v, want it refused", record.Namespace, record.Name, err)
	}
	if !strings.Contains(err.Error(), "--reuse-name") {
		t.Errorf("the refusal does not say how a name is joined again: %v", err)
	}

	if _, err := Join(ctx, hub.RESTConfig, JoinOptions{Name: name}); !errors.Is(err, ErrNameUnjoined) {
		t.Fatalf("join of an unjoined name after the record's deletion was refused = %v, want ErrNameUnjoined", err)
	}
	select {
	case ev := <-w.ResultChan():
		if work, isWork := ev.Object.(*fleetv1alpha1.Work); isWork {
			t.Fatalf("the unjoined agent received Work %s/%s (%s) on its old watch", work.Namespace, work.Name, ev.Type)
		}
	default:
	}
}
