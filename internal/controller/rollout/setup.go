package rollout

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
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
		Recorder: controller.EventRecorder(mgr, EventSource),
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
		Watches(&fleetv1alpha1.Work{}, gathered(workEventDelay, func(ctx context.Context, o client.Object) []reconcile.Request {
			w, ok := o.(*fleetv1alpha1.Work)
			if !ok {
				return nil
			}
			out := running(ctx, c, w.Spec.Subject.Promise)
			if i := w.Spec.Subject.Instance; i != nil {
				out = append(out, runningForInstance(ctx, c, i.Namespace, i.Name)...)
			}
			return out
		}), builder.WithPredicates(workChanged(), afterFirstList)).
		// Clusters going offline or coming back; relabelled ones matter only
		// before a target set is frozen.
		Watches(&fleetv1alpha1.Cluster{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		}), builder.WithPredicates(clusterChanged(), afterFirstList)).
		Watches(&fleetv1alpha1.FleetFreeze{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		}), builder.WithPredicates(afterFirstList)).
		Watches(&fleetv1alpha1.RolloutStrategy{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			return running(ctx, c, "")
		}), builder.WithPredicates(afterFirstList)).
		Watches(&fleetv1alpha1.PromiseRevision{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			rev, ok := o.(*fleetv1alpha1.PromiseRevision)
			if !ok {
				return nil
			}
			return running(ctx, c, rev.Spec.Promise)
		}), builder.WithPredicates(afterFirstList)).
		WithOptions(controller.Options(DefaultWorkers)).
		Complete(controller.RequeueOnConflict(r))
}

// afterFirstList drops the create events of a watch's first list. Every
// Rollout is reconciled after a (re)start anyway, by its own watch's first
// list, and no worker starts before every watch has handled its first
// list; mapping each Cluster (or Work) of that list to the Rollouts made
// the start cost grow with clusters times Rollouts: 9-23 s for 3,000 of
// each (docs/benchmarks.md), past the two minutes a controller is given
// to start at 10,000 of each.
var afterFirstList = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList },
}

// workEventDelay is how long a Rollout waits after a Work event before it
// is planned again, gathering the events that follow: during a wave every
// agent reports, each report would plan the Rollout again over all its
// Works, and a quicker plan would only mean more of them (a third of the
// hub's CPU during a 3-wave rollout over 1,000 clusters). A wave's end is
// seen at most this much later.
const workEventDelay = 100 * time.Millisecond

// gathered enqueues the requests mapped from each event after delay; the
// queue holds a request once, so the events of that while are planned
// together.
func gathered(delay time.Duration, mapFn handler.MapFunc) handler.EventHandler {
	add := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, req := range mapFn(ctx, o) {
			q.AddAfter(req, delay)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
		GenericFunc: func(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(ctx, e.Object, q)
		},
	}
}

// running returns the Rollouts not yet ended of promise's changes, or of
// every change when promise is "". It runs for every Work event and only
// reads names and phases, so it lists the cached Rollouts themselves: copies
// of a 10,000-cluster Rollout's wave status were 15 % of the hub's
// allocations during a change (docs/benchmarks.md).
func running(ctx context.Context, c client.Reader, promise string) []reconcile.Request {
	list := &fleetv1alpha1.RolloutList{}
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
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
	if err := c.List(ctx, list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy,
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
