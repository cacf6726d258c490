package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An agent's token is revoked when unjoin deletes its ServiceAccount, but a
// watch the agent opened before stays open: the API server authorizes a
// watch once, when it starts, and keeps it open for as long as the client
// asked (timeoutSeconds, which it does not bound). Such a watch is of the
// path namespaces/flotilla-cluster-NAME/works, not of one namespace's UID:
// once the namespace is gone and another cluster is joined under the same
// name, every Work the hub writes for the new cluster (rendered Secrets
// included) reaches the old agent. Only a restart of the hub's API servers
// ends such a watch.
//
// So unjoin records each name it removes in the ConfigMap
// UnjoinedClustersConfigMap of the platform namespace, before it deletes
// anything, and join refuses a recorded name unless JoinOptions.ReuseName
// says that no watch of the old cluster can be open any more; such a join
// clears the record. A Cluster removed otherwise (kubectl delete) is
// recorded by the hub, before it goes (fleetv1alpha1.FinalizerRecordUnjoin).
const UnjoinedClustersConfigMap = "flotilla-unjoined-clusters"

// ErrNameUnjoined is returned by Join for a name unjoin removed, without
// JoinOptions.ReuseName.
var ErrNameUnjoined = errors.New("the cluster name was unjoined before")

// RecordUnjoined records name in UnjoinedClustersConfigMap (creating it, and
// the platform namespace, when missing), with the time of the unjoin.
func RecordUnjoined(ctx context.Context, c client.Client, name string, now time.Time) error {
	patch, err := json.Marshal(map[string]any{"data": map[string]string{name: now.UTC().Format(time.RFC3339)}})
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: UnjoinedClustersConfigMap}}
	for range 3 {
		err = c.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch))
		if !apierrors.IsNotFound(err) {
			break
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.PlatformNamespace}}
		if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
		fresh := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: cm.Name, Labels: map[string]string{
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			}},
			Data: map[string]string{name: now.UTC().Format(time.RFC3339)},
		}
		if err = c.Create(ctx, fresh); !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("recording the unjoin of %s in %s/%s: %w", name, fleetv1alpha1.PlatformNamespace, UnjoinedClustersConfigMap, err)
	}
	return nil
}

// unjoinedAt returns when unjoin removed name, if it did and no join with
// ReuseName took the name since.
func unjoinedAt(ctx context.Context, c client.Client, name string) (string, bool, error) {
	cm := &corev1.ConfigMap{}
	err := c.Get(ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: UnjoinedClustersConfigMap}, cm)
	if apierrors.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading %s/%s: %w", fleetv1alpha1.PlatformNamespace, UnjoinedClustersConfigMap, err)
	}
	at, ok := cm.Data[name]
	return at, ok, nil
}

// checkNameNotUnjoined refuses a name unjoin removed, unless reuse.
func checkNameNotUnjoined(ctx context.Context, c client.Client, name string, reuse bool) (bool, error) {
	at, unjoined, err := unjoinedAt(ctx, c, name)
	if err != nil || !unjoined || reuse {
		return unjoined, err
	}
	return true, fmt.Errorf("%w: %s was unjoined at %s, and its old agent may still hold a watch of %s open "+
		"(the hub's API server authorizes a watch once and keeps it open as long as its client asked, past the revocation of its token), "+
		"which would receive every Work of a new cluster of that name: join it under another name, or, once the hub's API servers "+
		"have restarted since (which ends every watch), join with --reuse-name", ErrNameUnjoined, name, at, fleetv1alpha1.ClusterNamespace(name))
}

// clearUnjoined drops name from UnjoinedClustersConfigMap.
func clearUnjoined(ctx context.Context, c client.Client, name string) error {
	patch, err := json.Marshal(map[string]any{"data": map[string]any{name: nil}})
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: UnjoinedClustersConfigMap}}
	if err := c.Patch(ctx, cm, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("clearing the unjoin of %s from %s/%s: %w", name, fleetv1alpha1.PlatformNamespace, UnjoinedClustersConfigMap, err)
	}
	return nil
}
