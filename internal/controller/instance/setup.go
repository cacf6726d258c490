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
	ctrlindex "github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/promise"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/rollout"
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
	// AdmitLatest renders every cluster at the latest revisions (the
	// Promise's, the instance's) at once, as if every change's Rollout had
	// succeeded, whatever Rollouts exist: for tests of rendering alone.
	// Otherwise each cluster renders what the status of the Rollout that
	// governs the subject admits it to.
	AdmitLatest bool
	// Workers is the number of concurrent reconciles; 0 means DefaultWorkers.
	Workers int
	// InstanceRollouts starts the Rollout of each instance change; nil starts none.
	InstanceRollouts InstanceRolloutStarter
	// Metrics counts Works written and renders, in the manager's registry; nil counts nothing.
	Metrics *metrics.Hub
}

// SetupWithManager registers the instance controller with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	r := &Reconciler{
		Client:      mgr.GetClient(),
		Cache:       mgr.GetCache(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder(EventSource),
		Clock:       clock.RealClock{},
		Charts:      opts.Charts,
		AdmitLatest: opts.AdmitLatest,
		Kinds:       opts.Kinds,

		InstanceRollouts: opts.InstanceRollouts,
		Metrics:          opts.Metrics,
	}
	c, err := controller.NewTyped[Key]("instance", mgr, controller.TypedOptions[Key]{
		Reconciler:              r,
		MaxConcurrentReconciles: opts.Workers,
		SkipNameValidation:      ptr.To(true),
		// Reconcile adds the promise and instance keys.
		LogConstructor: func(*Key) logr.Logger { return mgr.GetLogger().WithValues("controller", "instance") },
	})
	if err != nil {
		return err
	}
	cache := mgr.GetCache()
	m := &mapper{r: r}

	// Promises: their placement, drift policy, API or deletion, which apply
	// at once, and their first revision. A new latest revision moves only
	// the Works its Rollout admits (see the Rollout watch below), so it
	// renders nothing by itself while a Rollout governs the Promise: a
	// change renders each instance once, when its cluster is admitted.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Promise{}, handler.TypedFuncs[*fleetv1alpha1.Promise, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			m.addPromise(ctx, e.Object.Name, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			switch o, n := e.ObjectOld, e.ObjectNew; {
			case promiseChanged(o, n):
				m.addPromise(ctx, n.Name, q)
			case o.Status.LatestRevision != n.Status.LatestRevision:
				m.addMoving(ctx, n.Name, nil, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Promise], q workqueue.TypedRateLimitingInterface[Key]) {
			q.Add(Key{Promise: e.Object.Name})
		},
	})); err != nil {
		return err
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
		return err
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
		return err
	}
	// A namespace's labels can admit it to (or drop it from) Fleets' tenants.
	if err := c.Watch(source.TypedKind(cache, &corev1.Namespace{}, handler.TypedFuncs[*corev1.Namespace, Key]{
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*corev1.Namespace], q workqueue.TypedRateLimitingInterface[Key]) {
			if !equality.Semantic.DeepEqual(e.ObjectOld.Labels, e.ObjectNew.Labels) {
				m.addNamespace(ctx, e.ObjectNew.Name, "", q)
			}
		},
	})); err != nil {
		return err
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
		return err
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
		return err
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
		return err
	}
	// Rollouts: their status is what this controller renders from. A new
	// admission (status.waves[].admitted) moves the Works on the clusters
	// it admits; the end of a Rollout settles the clusters outside its
	// target set; a deleted one hands its subject to the next newest.
	// Only the subjects whose Works must move are rendered again. For an
	// instance's own changes, the phase also decides the instance's
	// SpecApplied (rolled back, halted), which no Work change announces.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.Rollout{}, handler.TypedFuncs[*fleetv1alpha1.Rollout, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Rollout], q workqueue.TypedRateLimitingInterface[Key]) {
			// Only a Rollout read with its status (a restart) admits anything yet.
			if ro := e.Object; !ro.Status.Phase.IsTerminal() {
				m.addRollout(ctx, ro, rollout.NewAdmissions(nil, ro), false, false, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Rollout], q workqueue.TypedRateLimitingInterface[Key]) {
			o, n := e.ObjectOld, e.ObjectNew
			// What RevisionFor reads besides the admissions: whether the
			// Rollout ended (and how), and the rollback revision.
			ended := o.Status.Phase.IsTerminal() != n.Status.Phase.IsTerminal() || o.Status.RollbackRevision != n.Status.RollbackRevision
			m.addRollout(ctx, n, rollout.NewAdmissions(o, n), ended, o.Status.Phase != n.Status.Phase, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Rollout], q workqueue.TypedRateLimitingInterface[Key]) {
			m.addRollout(ctx, e.Object, nil, true, true, q)
		},
	})); err != nil {
		return err
	}
	// Revisions are immutable; only forget deleted ones.
	if err := c.Watch(source.TypedKind(cache, &fleetv1alpha1.PromiseRevision{}, handler.TypedFuncs[*fleetv1alpha1.PromiseRevision, Key]{
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.PromiseRevision], _ workqueue.TypedRateLimitingInterface[Key]) {
			r.revisions.forget(e.Object.Name)
		},
	})); err != nil {
		return err
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
		return err
	}
	return nil
}

func workKey(w *fleetv1alpha1.Work) Key {
	k := Key{Promise: w.Spec.Subject.Promise}
	if i := w.Spec.Subject.Instance; i != nil {
		k.Namespace, k.Name = i.Namespace, i.Name
	}
	return k
}

// promiseChanged reports a Promise change that changes what every one of
// its Works renders, or whether it renders: what applies at once
// (placement, drift policy, the API), the first revision, the API becoming
// served, deletion. Everything else a Promise's spec holds (templates,
// fleet resources, output) reaches the Works as a new revision, which a
// Rollout moves.
func promiseChanged(o, n *fleetv1alpha1.Promise) bool {
	return !equality.Semantic.DeepEqual(o.Spec.Placement, n.Spec.Placement) ||
		o.Spec.DriftPolicy != n.Spec.DriftPolicy ||
		!equality.Semantic.DeepEqual(o.Spec.API, n.Spec.API) ||
		(o.Status.LatestRevision == "") != (n.Status.LatestRevision == "") ||
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

// addRollout enqueues what a Rollout event moves: admitted are the
// clusters it newly admits, ended says it ended (or its rollback revision
// changed, or it is gone), phase that its phase changed. For an instance's
// own changes, that instance, when any of them holds (its phase is in the
// instance's status). For a Promise's, addMoving, only when something that
// RevisionFor reads changed (admissions, the end).
func (m *mapper) addRollout(ctx context.Context, ro *fleetv1alpha1.Rollout, admitted []string, ended, phase bool, q workqueue.TypedRateLimitingInterface[Key]) {
	if i := ro.Spec.Subject.Instance; i != nil {
		if ended || phase || len(admitted) > 0 {
			q.Add(Key{Promise: ro.Spec.Subject.Promise, Namespace: ro.Namespace, Name: i.Name})
		}
		return
	}
	if ro.Namespace != fleetv1alpha1.PlatformNamespace || (!ended && len(admitted) == 0) {
		return
	}
	clusters := make(map[string]bool, len(admitted))
	for _, c := range admitted {
		clusters[c] = true
	}
	m.addMoving(ctx, ro.Spec.Subject.Promise, clusters, q)
}

// addMoving enqueues the subjects of promise whose Works must render
// another revision: every Work on a cluster in admitted that the Rollout
// governing the Promise admits (whatever the cache says it renders now,
// as a write of it may be under way), and every Work whose revision is not
// the one rollout.RevisionFor gives it now. The fleet resources are always
// enqueued: a cluster admitted to a revision that adds some has no Work of
// them yet.
func (m *mapper) addMoving(ctx context.Context, promiseName string, admitted map[string]bool, q workqueue.TypedRateLimitingInterface[Key]) {
	log := ctrl.LoggerFrom(ctx)
	p := &fleetv1alpha1.Promise{}
	if err := m.r.Client.Get(ctx, client.ObjectKey{Name: promiseName}, p); err != nil {
		if client.IgnoreNotFound(err) != nil {
			log.Error(err, "reading promise", "promise", promiseName)
		}
		return
	}
	latest := p.Status.LatestRevision
	if latest == "" {
		return
	}
	rt, err := readRoutes(ctx, m.r.Client, promiseName, m.r.AdmitLatest)
	if err != nil {
		log.Error(err, "listing rollouts", "promise", promiseName)
		return
	}
	works := &fleetv1alpha1.WorkList{}
	if err := m.r.Client.List(ctx, works, client.MatchingFields{ctrlindex.IndexWorkByPromise: promiseName}, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "listing works", "promise", promiseName)
		return
	}
	q.Add(Key{Promise: promiseName})
	for i := range works.Items {
		w := &works.Items[i]
		if !hubOwned(w) || w.Spec.Subject.Promise != promiseName || !w.DeletionTimestamp.IsZero() {
			continue
		}
		_, admits := rollout.Admitted(rt.governing, w.Spec.Cluster)
		if (admitted[w.Spec.Cluster] && admits) || rt.revision(w.Spec.Cluster, w.Spec.Revision, latest) != w.Spec.Revision {
			q.Add(workKey(w))
		}
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
