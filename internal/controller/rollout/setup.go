package rollout

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
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
	"github.com/flotilla-dev/flotilla/internal/metrics"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// DefaultWorkers is how many Rollouts are reconciled at once.
const DefaultWorkers = 4

// SetupWithManager registers the Rollout controller with mgr; m (optional)
// counts transitions and rollbacks.
func SetupWithManager(mgr ctrl.Manager, m *metrics.Hub) error {
	r := &Reconciler{
		Client:   mgr.GetClient(),
		Cache:    mgr.GetCache(),
		Recorder: mgr.GetEventRecorder(EventSource),
		Clock:    clock.RealClock{},
		Metrics:  m,
		// Checks' credentials: read when measured, never cached.
		APIReader: mgr.GetAPIReader(),
	}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("rollout").
		For(&fleetv1alpha1.Rollout{}).
		// Agents report on Works; admissions rewrite them.
		Watches(&fleetv1alpha1.Work{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			w, ok := o.(*fleetv1alpha1.Work)
			if !ok {
				return nil
			}
			out := running(ctx, c, w.Spec.Subject.Promise)
			if i := w.Spec.Subject.Instance; i != nil {
				out = append(out, runningForInstance(ctx, c, i.Namespace, i.Name)...)
			}
			return out
		}), builder.WithPredicates(workChanged())).
		// Clusters going offline or coming back; relabelled ones matter only
		// before a target set is frozen.
		Watches(&fleetv1alpha1.Cluster{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		}), builder.WithPredicates(clusterChanged())).
		Watches(&fleetv1alpha1.FleetFreeze{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		})).
		Watches(&fleetv1alpha1.RolloutStrategy{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		})).
		Watches(&fleetv1alpha1.PromiseRevision{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			rev, ok := o.(*fleetv1alpha1.PromiseRevision)
			if !ok {
				return nil
			}
			return running(ctx, c, rev.Spec.Promise)
		})).
		WithOptions(controller.Options(DefaultWorkers)).
		Complete(r)
}

// running returns the Rollouts not yet ended of promise's changes, or of
// every change when promise is "".
func running(ctx context.Context, c client.Reader, promise string) []reconcile.Request {
	list := &fleetv1alpha1.RolloutList{}
	var opts []client.ListOption
	if promise != "" {
		opts = append(opts, client.MatchingFields{controller.IndexRolloutByPromise: promise})
	}
	if err := c.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing rollouts")
		return nil
	}
	return unfinished(list.Items)
}

// runningForInstance returns the Rollouts not yet ended of one instance's changes.
func runningForInstance(ctx context.Context, c client.Reader, namespace, name string) []reconcile.Request {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{controller.IndexRolloutByInstance: controller.InstanceKey(namespace, name)}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing rollouts")
		return nil
	}
	return unfinished(list.Items)
}

// unfinished returns requests for the Rollouts that have not ended.
func unfinished(rollouts []fleetv1alpha1.Rollout) []reconcile.Request {
	var out []reconcile.Request
	for _, ro := range rollouts {
		if !ro.Status.Phase.IsTerminal() {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}})
		}
	}
	return out
}

// workChanged passes Work events that can move a Rollout: creation,
// deletion, a new revision or generation, and a status change.
func workChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*fleetv1alpha1.Work)
			n, ok2 := e.ObjectNew.(*fleetv1alpha1.Work)
			if !ok1 || !ok2 {
				return true
			}
			return o.Generation != n.Generation || !equality.Semantic.DeepEqual(o.Status, n.Status) ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
	}
}

// clusterChanged passes Cluster events that can move a Rollout: availability,
// labels, creation and deletion. Heartbeat timestamps alone do not.
func clusterChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*fleetv1alpha1.Cluster)
			n, ok2 := e.ObjectNew.(*fleetv1alpha1.Cluster)
			if !ok1 || !ok2 {
				return true
			}
			return o.Status.Availability != n.Status.Availability || !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
		},
	}
}
