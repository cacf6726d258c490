package promise

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	hubcontroller "github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// IndexPromiseByChartConfigMap indexes Promises by the ConfigMap holding their
// Helm chart, as namespace/name, so a changed chart re-reconciles them.
const IndexPromiseByChartConfigMap = "spec.templates.helm.configMapRef"

// usageDelay coalesces the Work events that change a Promise's usage counts:
// a fleet-wide change touches thousands of Works, and one recount a few
// seconds later reflects them all.
const usageDelay = 2 * time.Second

// Options configure the Promise controller.
type Options struct {
	// Kinds is where the controller registers the instance kinds it serves.
	Kinds *instancekinds.Registry
	// Charts resolves Helm charts; shared with the instance controller.
	Charts *charts.Resolver
	// Rollouts starts a Rollout whenever a Promise's latest revision
	// changes; nil starts none.
	Rollouts RolloutStarter
}

// SetupWithManager registers the Promise controller, its index and metrics with mgr.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &fleetv1alpha1.Promise{}, IndexPromiseByChartConfigMap, func(obj client.Object) []string {
		p, ok := obj.(*fleetv1alpha1.Promise)
		if !ok || p.Spec.Templates == nil || p.Spec.Templates.Helm == nil || p.Spec.Templates.Helm.ConfigMapRef == nil {
			return nil
		}
		ref := p.Spec.Templates.Helm.ConfigMapRef
		ns := ref.Namespace
		if ns == "" {
			ns = fleetv1alpha1.PlatformNamespace
		}
		return []string{ns + "/" + ref.Name}
	}); err != nil {
		return err
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Instances: mgr.GetCache(),
		Recorder:  hubcontroller.EventRecorder(mgr, EventSource),
		Clock:     clock.RealClock{},
		Charts:    opts.Charts,
		Kinds:     opts.Kinds,
		Rollouts:  opts.Rollouts,
	}
	c, err := ctrl.NewControllerManagedBy(mgr).
		Named("promise").
		WithOptions(hubcontroller.Options(0)).
		For(&fleetv1alpha1.Promise{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Revisions matter when they appear or go, not when their status changes.
		Owns(&fleetv1alpha1.PromiseRevision{}, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, handler.EnqueueRequestsFromMapFunc(crdToPromise)).
		WatchesMetadata(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.configMapToPromises)).
		Watches(&fleetv1alpha1.Work{}, workToPromise()).
		// A Rollout that ends frees the revisions it kept from collection.
		Watches(&fleetv1alpha1.Rollout{}, handler.EnqueueRequestsFromMapFunc(rolloutToPromise),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				o, ok1 := e.ObjectOld.(*fleetv1alpha1.Rollout)
				n, ok2 := e.ObjectNew.(*fleetv1alpha1.Rollout)
				return !ok1 || !ok2 || o.Status.Phase != n.Status.Phase
			}})).
		Build(hubcontroller.RequeueOnConflict(r))
	if err != nil {
		return err
	}
	// Instances appearing and going change the counts and release a deletion.
	return opts.Kinds.Subscribe(func(gvk schema.GroupVersionKind, promise string) error {
		req := reconcile.Request{NamespacedName: types.NamespacedName{Name: promise}}
		return c.Watch(source.Kind(mgr.GetCache(), client.Object(instanceapi.NewInstance(gvk)),
			handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
				return []reconcile.Request{req}
			}),
			predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
			}}))
	})
}

func crdToPromise(_ context.Context, obj client.Object) []reconcile.Request {
	if p := obj.GetLabels()[fleetv1alpha1.LabelPromise]; p != "" {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: p}}}
	}
	return nil
}

func (r *Reconciler) configMapToPromises(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &fleetv1alpha1.PromiseList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{IndexPromiseByChartConfigMap: obj.GetNamespace() + "/" + obj.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
	}
	return out
}

// workToPromise enqueues a Work's Promise a little later, so a burst of Work
// changes costs one recount of the Promise's usage.
func workToPromise() handler.EventHandler {
	add := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		w, ok := obj.(*fleetv1alpha1.Work)
		if !ok || w.Spec.Subject.Promise == "" {
			return
		}
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: w.Spec.Subject.Promise}}, usageDelay)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, n := e.ObjectOld.(*fleetv1alpha1.Work), e.ObjectNew.(*fleetv1alpha1.Work)
			if o.Spec.Revision != n.Spec.Revision || o.Status.AppliedRevision != n.Status.AppliedRevision ||
				o.Labels[fleetv1alpha1.LabelRevision] != n.Labels[fleetv1alpha1.LabelRevision] {
				add(n, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(e.Object, q)
		},
	}
}

// rolloutToPromise maps a Rollout to the Promise it moves.
func rolloutToPromise(_ context.Context, o client.Object) []reconcile.Request {
	ro, ok := o.(*fleetv1alpha1.Rollout)
	if !ok || ro.Spec.Subject.Promise == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: ro.Spec.Subject.Promise}}}
}
