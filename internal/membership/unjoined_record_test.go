package membership

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	w := unjoinedWatching(ctx, t, name)

	record := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: UnjoinedClustersConfigMap}}
	deletionRefusedSoon(ctx, admin, record, true)
	err := admin.Delete(ctx, record)
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
