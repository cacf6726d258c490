package membership

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery"
)

// DefaultUnjoinTimeout bounds how long Unjoin waits for a cluster's Works to
// be deleted with DeleteWorkloads.
const DefaultUnjoinTimeout = 5 * time.Minute

// ErrNotJoined is returned by Unjoin when the hub has no Cluster of that name
// and its namespace is gone or already being deleted.
var ErrNotJoined = errors.New("cluster is not joined")

// UnjoinOptions say how to remove a cluster.
type UnjoinOptions struct {
	// DeleteWorkloads first deletes the cluster's Works, so that its agent
	// prunes what it applied from the member, and waits for them to be gone.
	// Without it the member keeps every workload, unmanaged.
	DeleteWorkloads bool
	// Timeout bounds the wait for the Works; DefaultUnjoinTimeout when zero.
	Timeout time.Duration
}

// Unjoin removes a cluster from the hub: its Cluster, the agent's RBAC and
// ServiceAccount (which revokes every token join issued for it), its Lease
// and its namespace with everything in it.
//
// By default nothing on the member is touched: the agent loses access to the
// hub, keeps serving its last desired state from disk without changing
// anything, and what it applied keeps running. With DeleteWorkloads the
// cluster's Works are deleted first and Unjoin waits, up to Timeout, until
// they are gone; it refuses when the hub sees the cluster Offline, since its
// agent could not prune anything.
func Unjoin(ctx context.Context, hub *rest.Config, name string, opts UnjoinOptions) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultUnjoinTimeout
	}
	c, err := newClient(hub)
	if err != nil {
		return err
	}
	ns := fleetv1alpha1.ClusterNamespace(name)

	cluster := &fleetv1alpha1.Cluster{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, cluster); apierrors.IsNotFound(err) {
		cluster = &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
		namespace := &corev1.Namespace{}
		err := c.Get(ctx, client.ObjectKey{Name: ns}, namespace)
		if apierrors.IsNotFound(err) || (err == nil && namespace.DeletionTimestamp != nil) {
			return fmt.Errorf("%s: %w", name, ErrNotJoined)
		}
		if err != nil {
			return fmt.Errorf("reading namespace %s: %w", ns, err)
		}
	} else if err != nil {
		return fmt.Errorf("reading cluster %s: %w", name, err)
	}

	if opts.DeleteWorkloads {
		if err := checkAgentPrunes(cluster); err != nil {
			return err
		}
		if cluster.Status.Availability == fleetv1alpha1.ClusterAvailabilityOffline {
			return fmt.Errorf("cluster %s is Offline, so its agent cannot prune its workloads: "+
				"bring the agent back, or unjoin without --delete-workloads", name)
		}
		if err := deleteWorks(ctx, c, ns, opts.Timeout); err != nil {
			return err
		}
	}

	// Before anything goes: a watch the agent opened outlives its token and
	// the namespace, so the name must not go to another cluster unasked
	// (see UnjoinedClustersConfigMap).
	if err := RecordUnjoined(ctx, c, name, time.Now()); err != nil {
		return err
	}
	// Recorded: the Cluster need not wait for the hub to record it.
	if err := dropRecordFinalizer(ctx, c, cluster); err != nil {
		return err
	}
	// The Cluster first, so nothing new is placed on it; then the agent's
	// rights and identity, explicitly rather than through the namespace, so
	// access ends at once even while the namespace takes time to terminate;
	// the namespace last.
	objects := hubObjects(name, metav1.OwnerReference{}, 0)
	slices.Reverse(objects)
	for _, obj := range append([]client.Object{cluster}, objects...) {
		if _, isNamespace := obj.(*corev1.Namespace); isNamespace {
			if err := deleteClusterNamespace(ctx, c, ns); err != nil {
				return err
			}
			continue
		}
		if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s: %w", describe(c, obj), err)
		}
	}
	// A cluster joined by an earlier version also has cluster-scoped RBAC; the
	// garbage collector would remove it with the Cluster, this does it now.
	return removeLegacyClusterRBAC(ctx, c, name)
}

// deleteClusterNamespace deletes a cluster's hub namespace, annotated
// fleet.flotilla.dev/force-delete=true first: the admission policy
// flotilla-cluster-namespaces refuses the deletion of one whose Cluster the
// API server still knows of (by hand, which deletes its Works while the
// Cluster stays joined), and it may not have seen the Cluster go yet.
func deleteClusterNamespace(ctx context.Context, c client.Client, name string) error {
	namespace := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, namespace); err != nil {
		return client.IgnoreNotFound(err)
	}
	if namespace.DeletionTimestamp != nil {
		return nil
	}
	if namespace.Annotations[fleetv1alpha1.AnnotationForceDelete] != "true" {
		base := namespace.DeepCopy()
		metav1.SetMetaDataAnnotation(&namespace.ObjectMeta, fleetv1alpha1.AnnotationForceDelete, "true")
		if err := c.Patch(ctx, namespace, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotating namespace %s %s: %w", name, fleetv1alpha1.AnnotationForceDelete, err)
		}
	}
	if err := c.Delete(ctx, namespace, client.Preconditions{UID: &namespace.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting namespace %s: %w", name, err)
	}
	return nil
}

// checkAgentPrunes refuses DeleteWorkloads for a git-delivered cluster: no
// agent prunes there, and the hub's publisher commits the removal of the
// Works' files only after its batch window, by which time unjoin has deleted
// the Cluster it publishes for. The files would stay on the branch, and the
// GitOps tool would keep every workload on the member.
func checkAgentPrunes(cluster *fleetv1alpha1.Cluster) error {
	if cluster.Spec.Delivery.Mode != fleetv1alpha1.DeliveryGit || cluster.Spec.Delivery.Git == nil {
		return nil
	}
	target := gitdelivery.TargetOf(cluster)
	return fmt.Errorf("cluster %s is delivered by git: no agent prunes its workloads, and unjoin would delete the Cluster "+
		"before the hub committed their removal, so they would stay on the branch and on the member; unjoin without "+
		"--delete-workloads, then delete %s from branch %s of %s: its GitOps tool prunes what it applied from there",
		cluster.Name, target.Path, target.Branch, target.URL)
}

// deleteWorks deletes the Works in ns and waits until they are gone.
func deleteWorks(ctx context.Context, c client.Client, ns string, timeout time.Duration) error {
	if err := c.DeleteAllOf(ctx, &fleetv1alpha1.Work{}, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("deleting the Works in %s: %w", ns, err)
	}
	var left int
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		works := &fleetv1alpha1.WorkList{}
		if err := c.List(ctx, works, client.InNamespace(ns)); err != nil {
			return false, fmt.Errorf("listing the Works in %s: %w", ns, err)
		}
		left = len(works.Items)
		return left == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the Works in %s to be deleted (%d left): %w", ns, left, err)
	}
	return nil
}

// dropRecordFinalizer removes fleetv1alpha1.FinalizerRecordUnjoin from
// cluster, if it is stored and has it.
func dropRecordFinalizer(ctx context.Context, c client.Client, cluster *fleetv1alpha1.Cluster) error {
	if cluster.UID == "" || !controllerutil.ContainsFinalizer(cluster, fleetv1alpha1.FinalizerRecordUnjoin) {
		return nil
	}
	base := cluster.DeepCopy()
	controllerutil.RemoveFinalizer(cluster, fleetv1alpha1.FinalizerRecordUnjoin)
	if err := c.Patch(ctx, cluster, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing the finalizer %s of cluster %s: %w", fleetv1alpha1.FinalizerRecordUnjoin, cluster.Name, err)
	}
	return nil
}
