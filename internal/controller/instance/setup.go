package instance

import (
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// DefaultWorkers is how many instances are reconciled at once by default.
// Reconciles spend most of their time waiting on the API server (Work and
// status writes), so more workers than cores pay off.
const DefaultWorkers = 16

// Options configure the instance controller.
type Options struct {
	// Kinds announces the instance kinds to serve.
	Kinds *promise.Kinds
	// Charts resolves Helm charts (shared with the Promise controller).
	Charts *promise.Charts
	// Revisions decides which revision each cluster renders; nil means LatestRevision.
	Revisions RevisionSelector
	// Workers is the number of concurrent reconciles; 0 means DefaultWorkers.
	Workers int
	// InstanceRollouts starts the Rollout of each instance change; nil starts none.
	InstanceRollouts InstanceRolloutStarter
}

// Controller is the running instance controller. Other controllers use it to
// ask for Works to be rendered again (the rollout controller, when it admits
// clusters to a revision).
type Controller struct {
	r       *Reconciler
	trigger chan event.TypedGenericEvent[Key]
}

// EnqueuePromise renders every instance of promise, and its fleet resources, again.
func (c *Controller) EnqueuePromise(ctx context.Context, promise string) {
	c.enqueue(ctx, Key{Promise: promise, Name: allInstances})
}

// EnqueueInstance renders one instance again; with namespace and name empty,
// the Promise's fleet resources.
func (c *Controller) EnqueueInstance(ctx context.Context, promise, namespace, name string) {
	c.enqueue(ctx, Key{Promise: promise, Namespace: namespace, Name: name})
}

// enqueue hands key to the controller, giving up when ctx ends (the
// controller may have stopped, and nothing drains the channel then).
func (c *Controller) enqueue(ctx context.Context, key Key) {
	select {
	case c.trigger <- event.TypedGenericEvent[Key]{Object: key}:
	case <-ctx.Done():
	}
}

// allInstances marks a trigger for every key of a Promise; it is not a valid
// object name, so it never names an instance.
const allInstances = "*"

// SetupWithManager registers the instance controller with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) (*Controller, error) {
	if opts.Revisions == nil {
		opts.Revisions = LatestRevision{}
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	r := &Reconciler{
		Client:    mgr.GetClient(),
		Cache:     mgr.GetCache(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(EventSource),
		Clock:     clock.RealClock{},
		Charts:    opts.Charts,
		Revisions: opts.Revisions,
		Kinds:     opts.Kinds,

		InstanceRollouts: opts.InstanceRollouts,
	}
	c, err := controller.NewTyped[Key]("instance", mgr, controller.TypedOptions[Key]{
		Reconciler:              r,
		MaxConcurrentReconciles: opts.Workers,
		SkipNameValidation:      ptr.To(true),
		// Reconcile adds the promise and instance keys.
		LogConstructor: func(*Key) logr.Logger { return mgr.GetLogger().WithValues("controller", "instance") },
	})
	if err != nil {
		return nil, err
	}
	ctl := &Controller{r: r, trigger: make(chan event.TypedGenericEvent[Key], 1024)}
	cache := mgr.GetCache()
	m := &mapper{r: r}

	// Triggers from other controllers.
	if err := c.Watch(source.TypedChannel(ctl.trigger, handler.TypedFuncs[Key, Key]{
		GenericFunc: func(ctx context.Context, e event.TypedGenericEvent[Key], q workqueue.TypedRateLimitingInterface[Key]) {
			if e.Object.Name == allInstances {
				m.addPromise(ctx, e.Object.Promise, q)
				return
			}
			q.Add(e.Object)
		},
	})); err != nil {
		return nil, err
	}
	// Promises: a new latest revision, placement, drift policy, API or deletion.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Promise{}, handler.TypedFuncs[*fleetv1alpha1.Promise, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			m.addPromise(ctx, e.Object.Name, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			if promiseChanged(e.ObjectOld, e.ObjectNew) {
				m.addPromise(ctx, e.ObjectNew.Name, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			q.Add(Key{Promise: e.Object.Name})
		},
	})); err != nil {
		return nil, err
	}
	// Clusters joining, leaving, relabelled or upgraded; Fleets changing.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Cluster{}, handler.TypedFuncs[*fleetv1alpha1.Cluster, Key]{
		CreateFunc: func(ctx context.Context, _ event.TypedCreateEvent[*fleetv1alpha1.Cluster], q workqueue.TypedRateLimitingInterface[Key]) {
			r.views.invalidate()
			m.addAll(ctx, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Cluster], q workqueue.TypedRateLimitingInterface[Key]) {
			o, n := e.ObjectOld, e.ObjectNew
			if equality.Semantic.DeepEqual(o.Labels, n.Labels) && o.Status.KubernetesVersion == n.Status.KubernetesVersion &&
				o.DeletionTimestamp.IsZero() == n.DeletionTimestamp.IsZero() {
				return
			}
			r.views.invalidate()
			m.addAll(ctx, q)
		},
		DeleteFunc: func(ctx context.Context, _ event.TypedDeleteEvent[*fleetv1alpha1.Cluster], q workqueue.TypedRateLimitingInterface[Key]) {
			r.views.invalidate()
			m.addAll(ctx, q)
		},
	})); err != nil {
		return nil, err
	}
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Fleet{}, handler.TypedFuncs[*fleetv1alpha1.Fleet, Key]{
		CreateFunc: func(ctx context.Context, _ event.TypedCreateEvent[*fleetv1alpha1.Fleet], q workqueue.TypedRateLimitingInterface[Key]) {
			r.views.invalidate()
			m.addAll(ctx, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Fleet], q workqueue.TypedRateLimitingInterface[Key]) {
			if e.ObjectOld.Generation == e.ObjectNew.Generation &&
				e.ObjectOld.DeletionTimestamp.IsZero() == e.ObjectNew.DeletionTimestamp.IsZero() {
				return
			}
			r.views.invalidate()
			m.addAll(ctx, q)
		},
		DeleteFunc: func(ctx context.Context, _ event.TypedDeleteEvent[*fleetv1alpha1.Fleet], q workqueue.TypedRateLimitingInterface[Key]) {
			r.views.invalidate()
			m.addAll(ctx, q)
		},
	})); err != nil {
		return nil, err
	}
	// A namespace's labels can admit it to (or drop it from) Fleets' tenants.
	if err := c.Watch(source.TypedKind(cache, &corev1.Namespace{}, handler.TypedFuncs[*corev1.Namespace, Key]{
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*corev1.Namespace], q workqueue.TypedRateLimitingInterface[Key]) {
			if !equality.Semantic.DeepEqual(e.ObjectOld.Labels, e.ObjectNew.Labels) {
				m.addNamespace(ctx, e.ObjectNew.Name, "", q)
			}
		},
	})); err != nil {
		return nil, err
	}
	// Overrides: what they may shape, before and after the change.
	overrideHandler := func(ctx context.Context, o *fleetv1alpha1.Override, q workqueue.TypedRateLimitingInterface[Key]) {
		if o.Namespace == fleetv1alpha1.PlatformNamespace {
			if o.Spec.Promise != "" {
				m.addPromise(ctx, o.Spec.Promise, q)
			} else {
				m.addAll(ctx, q)
			}
			return
		}
		m.addNamespace(ctx, o.Namespace, o.Spec.Promise, q)
	}
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Override{}, handler.TypedFuncs[*fleetv1alpha1.Override, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Override], q workqueue.TypedRateLimitingInterface[Key]) {
			overrideHandler(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Override], q workqueue.TypedRateLimitingInterface[Key]) {
			if e.ObjectOld.Generation == e.ObjectNew.Generation &&
				e.ObjectOld.DeletionTimestamp.IsZero() == e.ObjectNew.DeletionTimestamp.IsZero() {
				return
			}
			overrideHandler(ctx, e.ObjectOld, q)
			overrideHandler(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Override], q workqueue.TypedRateLimitingInterface[Key]) {
			overrideHandler(ctx, e.Object, q)
		},
	})); err != nil {
		return nil, err
	}
	// DriftExceptions: the instances they may excuse drift on, those of
	// their namespace (all, and the fleet resources, for the platform's).
	exceptionHandler := func(ctx context.Context, e *fleetv1alpha1.DriftException, q workqueue.TypedRateLimitingInterface[Key]) {
		if e.Namespace == fleetv1alpha1.PlatformNamespace {
			m.addAll(ctx, q)
			return
		}
		m.addNamespace(ctx, e.Namespace, "", q)
	}
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.DriftException{}, handler.TypedFuncs[*fleetv1alpha1.DriftException, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.DriftException], q workqueue.TypedRateLimitingInterface[Key]) {
			exceptionHandler(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.DriftException], q workqueue.TypedRateLimitingInterface[Key]) {
			if e.ObjectOld.Generation == e.ObjectNew.Generation &&
				e.ObjectOld.DeletionTimestamp.IsZero() == e.ObjectNew.DeletionTimestamp.IsZero() {
				return
			}
			exceptionHandler(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.DriftException], q workqueue.TypedRateLimitingInterface[Key]) {
			exceptionHandler(ctx, e.Object, q)
		},
	})); err != nil {
		return nil, err
	}
	// Works: the agent's reports roll up into the instance's status; a Work
	// deleted by someone else is written again. The hub's own writes (spec
	// and label changes) need no second look: the reconcile that wrote them
	// rolled them up already.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Work{}, handler.TypedFuncs[*fleetv1alpha1.Work, Key]{
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Work], q workqueue.TypedRateLimitingInterface[Key]) {
			if !equality.Semantic.DeepEqual(e.ObjectOld.Status, e.ObjectNew.Status) {
				q.Add(workKey(e.ObjectNew))
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Work], q workqueue.TypedRateLimitingInterface[Key]) {
			q.Add(workKey(e.Object))
		},
	})); err != nil {
		return nil, err
	}
	// The Rollouts of an instance's own changes: their phase decides the
	// instance's SpecApplied (rolled back, halted), which no Work change
	// announces.
	rolloutKey := func(ro *fleetv1alpha1.Rollout) (Key, bool) {
		if ro.Spec.Subject.Instance == nil {
			return Key{}, false
		}
		return Key{Promise: ro.Spec.Subject.Promise, Namespace: ro.Namespace, Name: ro.Spec.Subject.Instance.Name}, true
	}
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Rollout{}, handler.TypedFuncs[*fleetv1alpha1.Rollout, Key]{
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Rollout], q workqueue.TypedRateLimitingInterface[Key]) {
			if e.ObjectOld.Status.Phase == e.ObjectNew.Status.Phase &&
				e.ObjectOld.Status.RollbackRevision == e.ObjectNew.Status.RollbackRevision {
				return
			}
			if k, ok := rolloutKey(e.ObjectNew); ok {
				q.Add(k)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Rollout], q workqueue.TypedRateLimitingInterface[Key]) {
			if k, ok := rolloutKey(e.Object); ok {
				q.Add(k)
			}
		},
	})); err != nil {
		return nil, err
	}
	// Revisions are immutable; only forget deleted ones.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.PromiseRevision{}, handler.TypedFuncs[*fleetv1alpha1.PromiseRevision, Key]{
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.PromiseRevision], _ workqueue.TypedRateLimitingInterface[Key]) {
			r.revisions.forget(e.Object.Name)
		},
	})); err != nil {
		return nil, err
	}
	// Instances of every kind Promises serve, as they are registered.
	if err := opts.Kinds.Subscribe(func(gvk schema.GroupVersionKind, p string) error {
		return c.Watch(source.TypedKind(cache, promise.NewInstance(gvk), handler.TypedFuncs[*unstructured.Unstructured, Key]{
			CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*unstructured.Unstructured], q workqueue.TypedRateLimitingInterface[Key]) {
				q.Add(Key{Promise: p, Namespace: e.Object.GetNamespace(), Name: e.Object.GetName()})
			},
			UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*unstructured.Unstructured], q workqueue.TypedRateLimitingInterface[Key]) {
				if instanceChanged(e.ObjectOld, e.ObjectNew) {
					q.Add(Key{Promise: p, Namespace: e.ObjectNew.GetNamespace(), Name: e.ObjectNew.GetName()})
				}
			},
			DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*unstructured.Unstructured], q workqueue.TypedRateLimitingInterface[Key]) {
				q.Add(Key{Promise: p, Namespace: e.Object.GetNamespace(), Name: e.Object.GetName()})
			},
		}))
	}); err != nil {
		return nil, err
	}
	return ctl, nil
}

func workKey(w *fleetv1alpha1.Work) Key {
	k := Key{Promise: w.Spec.Subject.Promise}
	if i := w.Spec.Subject.Instance; i != nil {
		k.Namespace, k.Name = i.Namespace, i.Name
	}
	return k
}

// promiseChanged reports a Promise change that can change what its Works
// render: spec, the latest revision, the API becoming served, deletion.
func promiseChanged(o, n *fleetv1alpha1.Promise) bool {
	return o.Generation != n.Generation ||
		o.Status.LatestRevision != n.Status.LatestRevision ||
		meta.IsStatusConditionTrue(o.Status.Conditions, fleetv1alpha1.ConditionAPIEstablished) !=
			meta.IsStatusConditionTrue(n.Status.Conditions, fleetv1alpha1.ConditionAPIEstablished) ||
		o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
}

// instanceChanged reports an instance change that matters: its spec
// (generation), labels (Override instance selectors), deletion, or a lost
// finalizer. Its status, which this controller writes, does not.
func instanceChanged(o, n *unstructured.Unstructured) bool {
	return o.GetGeneration() != n.GetGeneration() ||
		!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero() ||
		!slices.Equal(o.GetFinalizers(), n.GetFinalizers())
}

// mapper turns fleet-wide events into keys, reading from the cache.
type mapper struct{ r *Reconciler }

// addPromise enqueues a Promise's fleet resources and all its instances.
func (m *mapper) addPromise(ctx context.Context, name string, q workqueue.TypedRateLimitingInterface[Key]) {
	q.Add(Key{Promise: name})
	m.addInstances(ctx, name, "", q)
}

// addAll enqueues every Promise's fleet resources and instances.
func (m *mapper) addAll(ctx context.Context, q workqueue.TypedRateLimitingInterface[Key]) {
	list := &fleetv1alpha1.PromiseList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing promises")
		return
	}
	for i := range list.Items {
		m.addPromise(ctx, list.Items[i].Name, q)
	}
}

// addNamespace enqueues the instances in namespace ns, of one Promise or of all.
func (m *mapper) addNamespace(ctx context.Context, ns, promiseName string, q workqueue.TypedRateLimitingInterface[Key]) {
	if promiseName != "" {
		m.addInstances(ctx, promiseName, ns, q)
		return
	}
	list := &fleetv1alpha1.PromiseList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		m.addInstances(ctx, list.Items[i].Name, ns, q)
	}
}

// addInstances enqueues the instances of a Promise (in namespace ns, or all).
func (m *mapper) addInstances(ctx context.Context, promiseName, ns string, q workqueue.TypedRateLimitingInterface[Key]) {
	gvk, ok := m.r.Kinds.Lookup(promiseName)
	if !ok {
		return
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	// Event handlers must not block for long: a kind whose informer has not
	// synced yet is picked up by its own create events instead.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.r.Cache.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing instances", "promise", promiseName)
		return
	}
	for i := range list.Items {
		q.Add(Key{Promise: promiseName, Namespace: list.Items[i].GetNamespace(), Name: list.Items[i].GetName()})
	}
}
