package override

import (
	"context"
	"strings"
	"time"

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
	hubcontroller "github.com/flotilla-dev/flotilla/internal/controller"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// countDelay coalesces the Work changes that change an Override's counts.
const countDelay = 2 * time.Second

// SetupWithManager registers the Override controller and its Work index with mgr.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1alpha1.Work{}, IndexWorkByOverride, func(obj client.Object) []string {
		if w, ok := obj.(*fleetv1alpha1.Work); ok {
			return w.Spec.Overrides
		}
		return nil
	}); err != nil {
		return err
	}
	r := &Reconciler{Client: mgr.GetClient(), Recorder: hubcontroller.EventRecorder(mgr, EventSource), Clock: clock.RealClock{}}
	return ctrl.NewControllerManagedBy(mgr).
		Named("override").
		WithOptions(hubcontroller.Options(0)).
		For(&fleetv1alpha1.Override{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&fleetv1alpha1.Work{}, workToOverrides()).
		Watches(&fleetv1alpha1.Promise{}, promiseToValuesOverrides(mgr.GetClient())).
		Complete(hubcontroller.RequeueOnConflict(r))
}

// promiseToValuesOverrides enqueues the team Values Overrides naming a
// Promise when it changes: they are judged against its latest schema.
func promiseToValuesOverrides(c client.Client) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &fleetv1alpha1.OverrideList{}
		if err := c.List(ctx, list); err != nil {
			return nil
		}
		var out []reconcile.Request
		for i := range list.Items {
			o := &list.Items[i]
			if o.Spec.Promise == obj.GetName() && o.Spec.Type == fleetv1alpha1.PatchValues && o.Namespace != fleetv1alpha1.PlatformNamespace {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}})
			}
		}
		return out
	})
}

// workToOverrides enqueues, a little later, the Overrides a Work lists
// before and after a change of them, of its cluster or of its instance
// revision.
func workToOverrides() handler.EventHandler {
	add := func(w client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		work, ok := w.(*fleetv1alpha1.Work)
		if !ok {
			return
		}
		for _, key := range work.Spec.Overrides {
			ns, name, ok := strings.Cut(key, "/")
			if ok {
				q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}, countDelay)
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, n := e.ObjectOld.(*fleetv1alpha1.Work), e.ObjectNew.(*fleetv1alpha1.Work)
			// A Work moved to another instance revision may render another
			// spec of the same Overrides (pendingWorks).
			if strings.Join(o.Spec.Overrides, ",") != strings.Join(n.Spec.Overrides, ",") || o.Spec.Cluster != n.Spec.Cluster ||
				o.Spec.InstanceRevision != n.Spec.InstanceRevision {
				add(o, q)
				add(n, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
	}
}
