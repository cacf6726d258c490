// Package fleet is the hub's Fleet controller: it counts the Clusters each
// Fleet's selector matches and how many of them are Available, so `kubectl get
// fleets` and `flotilla get fleets` show a Fleet's size at a glance.
package fleet

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

// Reconciler writes Fleet status.
type Reconciler struct {
	Client client.Client
	Clock  clock.PassiveClock

	// statusWrites is each Fleet's resourceVersion after this controller's
	// last status write (controller.PatchStatus): its own writes do not wake
	// it (GenerationChangedPredicate), so a status judged equal to a cached
	// copy older than that write would stay wrong.
	statusWrites controller.OwnWrites
}

// SetupWithManager registers the Fleet controller with mgr.
func SetupWithManager(mgr ctrl.Manager) error {
	r := &Reconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("fleet").
		WithOptions(controller.Options(0)).
		For(&fleetv1alpha1.Fleet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A Cluster joining, leaving, relabelled or changing availability
		// changes the counts of the Fleets it is (or was) in. Fleets are few
		// (a platform team's handful), so every one is looked at again.
		Watches(&fleetv1alpha1.Cluster{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			list := &fleetv1alpha1.FleetList{}
			if err := c.List(ctx, list); err != nil {
				return nil
			}
			out := make([]reconcile.Request, 0, len(list.Items))
			for i := range list.Items {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
			return out
		}), builder.WithPredicates(clusterCountsChanged())).
		Complete(controller.RequeueOnConflict(r))
}

// clusterCountsChanged passes the Cluster events that can change a Fleet's
// counts: not the heartbeat-only status updates.
func clusterCountsChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			before, ok1 := e.ObjectOld.(*fleetv1alpha1.Cluster)
			after, ok2 := e.ObjectNew.(*fleetv1alpha1.Cluster)
			if !ok1 || !ok2 {
				return true
			}
			return before.Status.Availability != after.Status.Availability ||
				!labels.Equals(before.Labels, after.Labels) ||
				before.DeletionTimestamp.IsZero() != after.DeletionTimestamp.IsZero()
		},
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	f := &fleetv1alpha1.Fleet{}
	if err := r.Client.Get(ctx, req.NamespacedName, f); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusWrites.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	clusters := &fleetv1alpha1.ClusterList{}
	// The cached Clusters, not copies (Status only reads them): while
	// thousands of clusters join, every join wakes each Fleet, and copying
	// the whole fleet each time was a tenth of the hub's CPU.
	if err := r.Client.List(ctx, clusters, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing clusters: %w", err)
	}
	status := Status(f, clusters.Items, r.Clock.Now())
	return ctrl.Result{}, controller.PatchStatus(ctx, r.Client, &r.statusWrites, f, func(f *fleetv1alpha1.Fleet) { f.Status = status })
}

// Status is a Fleet's status over clusters: how many its selector matches
// (leaving out Clusters being deleted) and how many of those are Available.
// A selector the API server accepted but labels cannot parse stalls it, as
// does such a tenants.namespaceSelector.
func Status(f *fleetv1alpha1.Fleet, clusters []fleetv1alpha1.Cluster, now time.Time) fleetv1alpha1.FleetStatus {
	st := *f.Status.DeepCopy()
	st.ObservedGeneration = f.Generation
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, f.Generation, now)
	selector, err := metav1.LabelSelectorAsSelector(&f.Spec.Selector)
	if err != nil {
		st.Clusters, st.AvailableClusters = 0, 0
		set.Stalled(fleetv1alpha1.ReasonInvalidSpec, "spec.selector: "+err.Error())
		return st
	}
	st.Clusters, st.AvailableClusters = 0, 0
	for i := range clusters {
		c := &clusters[i]
		if !c.DeletionTimestamp.IsZero() || !selector.Matches(labels.Set(c.Labels)) {
			continue
		}
		st.Clusters++
		if c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable {
			st.AvailableClusters++
		}
	}
	if t := f.Spec.Tenants; t != nil && t.NamespaceSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
			set.Stalled(fleetv1alpha1.ReasonInvalidSpec, "spec.tenants.namespaceSelector: "+err.Error()+
				"; the instances of namespaces it does not list by name are held where they are until it is fixed")
			return st
		}
	}
	set.Ready(fleetv1alpha1.ReasonSucceeded, "counted the clusters the selector matches")
	return st
}
