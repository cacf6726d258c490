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
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	ctrlindex "github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/render"
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
	Kinds *instancekinds.Registry
	// Charts resolves Helm charts (shared with the Promise controller).
	Charts *charts.Resolver
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

// reportDelay is how long an instance's status waits for more of its
// Works' reports (watchWorks).
const reportDelay = 200 * time.Millisecond

// queue is the instance controller's work queue.
type queue = workqueue.TypedRateLimitingInterface[Key]

// SetupWithManager registers the instance controller with mgr: the
// reconciler, then one watch per kind it reads (each a small function
// below), then the instance kinds as Promises register them.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	r := newReconciler(mgr, opts)
	c, err := controller.NewTyped[Key]("instance", mgr, controller.TypedOptions[Key]{
		Reconciler:              ctrlindex.RequeueOnConflict[Key](r),
		MaxConcurrentReconciles: opts.Workers,
		NewQueue:                ctrlindex.NewQueue[Key],
		SkipNameValidation:      ptr.To(true),
		// Reconcile adds the promise and instance keys.
		LogConstructor: func(*Key) logr.Logger { return mgr.GetLogger().WithValues("controller", "instance") },
	})
	if err != nil {
		return err
	}
	informers := mgr.GetCache()
	m := &mapper{r: r}
	for _, src := range []source.TypedSource[Key]{
		watchPromises(informers, m),
		watchFleetChanges(informers, &fleetv1alpha1.Cluster{}, clusterChanged, m),
		watchAvailability(informers, &r.offline, m),
		watchFreezes(informers, m),
		watchFleetChanges(informers, &fleetv1alpha1.Fleet{}, specChanged, m),
		watchNamespaces(informers, m),
		watchOverrides(informers, m),
		watchDriftExceptions(informers, m),
		watchWorks(informers, &r.own, m),
		watchRollouts(informers, m),
		watchStrategies(informers, m),
		watchRevisions(informers, r),
	} {
		if err := c.Watch(src); err != nil {
			return err
		}
	}
	// Instances of every kind Promises serve, as they are registered.
	return opts.Kinds.Subscribe(func(gvk schema.GroupVersionKind, p string) error {
		return c.Watch(watchInstances(informers, gvk, p))
	})
}

// newReconciler is the controller's Reconciler for opts.
func newReconciler(mgr ctrl.Manager, opts Options) *Reconciler {
	return &Reconciler{
		Client:      mgr.GetClient(),
		Cache:       mgr.GetCache(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    ctrlindex.EventRecorder(mgr, EventSource),
		Clock:       clock.RealClock{},
		Charts:      opts.Charts,
		AdmitLatest: opts.AdmitLatest,
		Kinds:       opts.Kinds,

		InstanceRollouts: opts.InstanceRollouts,
		Metrics:          opts.Metrics,
	}
}

// specChanged is the one predicate for the objects whose spec alone
// matters (Fleets, Overrides, DriftExceptions): an update counts when it
// changes the spec (the generation) or starts the deletion; status and
// metadata updates do not.
func specChanged[T client.Object](o, n T) bool {
	return o.GetGeneration() != n.GetGeneration() || o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero()
}

// updates filters the update events of a watch by changed; creates and
// deletes always pass.
func updates[T client.Object](changed func(o, n T) bool) predicate.TypedPredicate[T] {
	return predicate.TypedFuncs[T]{UpdateFunc: func(e event.TypedUpdateEvent[T]) bool { return changed(e.ObjectOld, e.ObjectNew) }}
}

// afterFirstList drops the create events of the informer's first list,
// when the hub starts. Every instance and every Promise's fleet resources
// are enqueued then by their own watch's first list (watchInstances,
// watchPromises), so what the other watches would enqueue for each object
// of theirs repeats that: each Cluster's would enqueue every instance, a
// million queue additions for 1,000 clusters and 1,000 instances, all
// before the controller may start (its sources sync only once their first
// lists are handled). Nothing reconciles before then either, so the fleet
// view is built after every Cluster is in the cache.
func afterFirstList[T client.Object](h handler.TypedFuncs[T, Key]) handler.TypedFuncs[T, Key] {
	create := h.CreateFunc
	h.CreateFunc = func(ctx context.Context, e event.TypedCreateEvent[T], q queue) {
		if !e.IsInInitialList {
			create(ctx, e, q)
		}
	}
	return h
}

// onEvent calls add with the object of every event: for an update, the
// new object, and with old also the one before (what it selected then).
func onEvent[T client.Object](add func(context.Context, T, queue), old bool) handler.TypedFuncs[T, Key] {
	return handler.TypedFuncs[T, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[T], q queue) { add(ctx, e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[T], q queue) {
			if old {
				add(ctx, e.ObjectOld, q)
			}
			add(ctx, e.ObjectNew, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[T], q queue) { add(ctx, e.Object, q) },
	}
}

// watchPromises: their placement, drift policy, API or deletion, which
// apply at once, and their first revision. A new latest revision moves only
// the Works its Rollout admits (see watchRollouts), so it renders nothing
// by itself while a Rollout governs the Promise: a change renders each
// instance once, when its cluster is admitted.
func watchPromises(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.Promise{}, handler.TypedFuncs[*fleetv1alpha1.Promise, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Promise], q queue) {
			if e.IsInInitialList { // its instances come with their own watch's first list
				q.Add(fleetKey(e.Object.Name))
				return
			}
			m.addPromise(ctx, e.Object.Name, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Promise], q queue) {
			switch o, n := e.ObjectOld, e.ObjectNew; {
			case promiseChanged(o, n):
				m.addPromise(ctx, n.Name, q)
			case o.Status.LatestRevision != n.Status.LatestRevision:
				m.addMoving(ctx, n.Name, nil, nil, q)
			case !equality.Semantic.DeepEqual(o.Spec.Checks, n.Spec.Checks) || !slices.Equal(o.Spec.SkipChecks, n.Spec.SkipChecks) ||
				!equality.Semantic.DeepEqual(o.Spec.StrategyRef, n.Spec.StrategyRef):
				// The Rollout under way judges them at once: its Works at work carry them.
				m.addChecks(ctx, n.Name, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Promise], q queue) {
			q.Add(fleetKey(e.Object.Name))
		},
	})
}

// watchFleetChanges watches what placement reads (Clusters joining,
// leaving, relabelled or upgraded; Fleets changing): the fleet view is
// built again, and everything placed again.
func watchFleetChanges[T client.Object](informers cache.Cache, obj T, changed func(o, n T) bool, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, obj, afterFirstList(onEvent(func(ctx context.Context, _ T, q queue) {
		m.r.views.invalidate()
		m.addAll(ctx, q)
	}, false)), updates(changed))
}

// clusterChanged reports a Cluster change placement or rendering reads.
func clusterChanged(o, n *fleetv1alpha1.Cluster) bool {
	return !equality.Semantic.DeepEqual(o.Labels, n.Labels) || o.Status.KubernetesVersion != n.Status.KubernetesVersion ||
		o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
}

// watchFreezes: a FleetFreeze coming into force holds every Work where it
// is, and one lifting (deleted, or its until passed, which the freeze
// controller's status write tells) lets the admissions it held be
// written (instanceplan.Rollouts.Frozen). The status writes that only
// count the Rollouts it holds change nothing here.
func watchFreezes(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.FleetFreeze{}, afterFirstList(onEvent(func(ctx context.Context, _ *fleetv1alpha1.FleetFreeze, q queue) {
		m.addAll(ctx, q)
	}, false)), updates(freezeChanged))
}

// freezeChanged reports a change of whether a FleetFreeze is in force.
func freezeChanged(o, n *fleetv1alpha1.FleetFreeze) bool {
	active := func(f *fleetv1alpha1.FleetFreeze) bool {
		return meta.IsStatusConditionTrue(f.Status.Conditions, fleetv1alpha1.ConditionActive)
	}
	return specChanged(o, n) || active(o) != active(n)
}

// watchNamespaces: a namespace's labels can admit it to (or drop it from)
// Fleets' tenants; and a namespace new on the hub (a team onboarded) may be
// one that an instance of another namespace holds in its Works' scope,
// which that instance may then no longer have (hubNamespaceDerived).
func watchNamespaces(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &corev1.Namespace{}, handler.TypedFuncs[*corev1.Namespace, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*corev1.Namespace], q queue) {
			m.addScopeHolders(ctx, e.Object.Name, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*corev1.Namespace], q queue) {
			if !equality.Semantic.DeepEqual(e.ObjectOld.Labels, e.ObjectNew.Labels) {
				m.addNamespace(ctx, e.ObjectNew.Name, q)
			}
		},
	})
}

// watchOverrides: what an Override may shape, before and after the change.
func watchOverrides(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.Override{}, afterFirstList(onEvent(m.addOverride, true)),
		updates(specChanged[*fleetv1alpha1.Override]))
}

// watchDriftExceptions: the instances a DriftException may excuse drift
// on, those of its namespace (all, and the fleet resources, for the
// platform's).
func watchDriftExceptions(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.DriftException{}, afterFirstList(onEvent(m.addDriftException, false)),
		updates(specChanged[*fleetv1alpha1.DriftException]))
}

// watchWorks: the agent's reports roll up into the instance's status; a
// Work deleted by someone else is written again. The hub's own writes
// (spec and label changes) need no second look: the reconcile that wrote
// them rolled them up already. Reports are gathered for reportDelay: during
// a rollout every agent of the instance reports, and each reconcile goes
// over all its Works, so they are rolled up a few times a second, not once
// per report.
func watchWorks(informers cache.Cache, own *ownWrites, m *mapper) source.TypedSource[Key] {
	// A Promise's fleet resources Work that comes to use a namespace brings
	// back the instances whose Works' scope holds it, which may no longer
	// have it (hubNamespaceDerived).
	fleetNamespaces := func(ctx context.Context, w *fleetv1alpha1.Work, q queue) {
		if w.Spec.Subject.Instance == nil {
			for _, ns := range ctrlindex.FleetNamespaces(w) {
				m.addScopeHolders(ctx, ns, q)
			}
		}
	}
	// An instance's Work that stops holding a namespace of another (deleted,
	// or its scope without it) brings back the instances of that namespace:
	// they wait while another team's instance holds it (hubNamespaceDerived).
	released := func(ctx context.Context, old, cur *fleetv1alpha1.Work, q queue) {
		if old.Spec.Subject.Instance == nil {
			return
		}
		var still []string
		if cur != nil {
			still = ctrlindex.UsedNamespaces(cur)
		}
		for _, ns := range ctrlindex.UsedNamespaces(old) {
			if !slices.Contains(still, ns) {
				m.addNamespace(ctx, ns, q)
			}
		}
	}
	return source.TypedKind(informers, &fleetv1alpha1.Work{}, handler.TypedFuncs[*fleetv1alpha1.Work, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Work], q queue) {
			if e.IsInInitialList {
				// A Work whose subject went while the hub was not watching
				// (an instance whose finalizer someone removed) is deleted
				// by its subject's reconcile, which nothing else brings
				// back. Keys already queued are not queued twice.
				q.Add(workKey(e.Object))
			}
			fleetNamespaces(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Work], q queue) {
			own.seen(e.ObjectNew)
			if e.ObjectOld.Generation != e.ObjectNew.Generation {
				fleetNamespaces(ctx, e.ObjectNew, q)
				released(ctx, e.ObjectOld, e.ObjectNew, q)
			}
			if !equality.Semantic.DeepEqual(e.ObjectOld.Status, e.ObjectNew.Status) {
				q.AddAfter(workKey(e.ObjectNew), reportDelay)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Work], q queue) {
			own.forget(e.Object)
			ctrlindex.ForgetFleetNamespaces(e.Object)
			q.Add(workKey(e.Object))
			released(ctx, e.Object, nil, q)
		},
	})
}

// watchRollouts: their status is what this controller renders from. A new
// admission (status.waves[].admitted) moves the Works on the clusters it
// admits; the end of a Rollout settles the clusters outside its target
// set; a deleted one hands its subject to the next newest. A wave starting
// or ending, a check re-run or skipped, the Rollout rolling back or ending
// change the verification checks of its clusters' Works
// (rollout.ChecksMoved). Only the subjects whose Works must change are
// planned again. For an instance's own changes, the phase also decides
// the instance's SpecApplied (rolled back, halted), which no Work change
// announces.
func watchRollouts(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.Rollout{}, handler.TypedFuncs[*fleetv1alpha1.Rollout, Key]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Rollout], q queue) {
			// Only a Rollout read with its status (a restart) admits anything yet.
			if ro := e.Object; !ro.Status.Phase.IsTerminal() {
				m.addRollout(ctx, ro, rollout.NewAdmissions(nil, ro), rollout.ChecksMoved(nil, ro), false, false, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Rollout], q queue) {
			o, n := e.ObjectOld, e.ObjectNew
			// What RevisionFor reads besides the admissions: whether the
			// Rollout ended (and how), and the rollback revision.
			ended := o.Status.Phase.IsTerminal() != n.Status.Phase.IsTerminal() || o.Status.RollbackRevision != n.Status.RollbackRevision
			m.addRollout(ctx, n, rollout.NewAdmissions(o, n), rollout.ChecksMoved(o, n), ended, o.Status.Phase != n.Status.Phase, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Rollout], q queue) {
			// Its checks leave the Works of the waves it had at work.
			m.addRollout(ctx, e.Object, nil, rollout.ChecksMoved(e.Object, &fleetv1alpha1.Rollout{}), true, true, q)
		},
	})
}

// watchStrategies: the Rollout controller resolves a Rollout's strategy
// again at every reconcile (rollout.ResolveStrategy), so a RolloutStrategy
// edited mid-rollout changes the checks it judges at once; the Works of
// the waves at work must carry the same checks, or a check added there
// would stay Pending and hold the bake. Only the Promises whose Rollout
// under way resolves to the strategy are planned again, and only their
// Works on clusters of waves at work; and the instances whose own Rollout
// under way does.
func watchStrategies(informers cache.Cache, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.RolloutStrategy{},
		afterFirstList(onEvent(func(ctx context.Context, s *fleetv1alpha1.RolloutStrategy, q queue) { m.addStrategy(ctx, s.Name, q) }, false)),
		updates(specChanged[*fleetv1alpha1.RolloutStrategy]))
}

// watchRevisions: revisions are immutable; only forget deleted ones.
func watchRevisions(informers cache.Cache, r *Reconciler) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.PromiseRevision{}, handler.TypedFuncs[*fleetv1alpha1.PromiseRevision, Key]{
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.PromiseRevision], _ queue) {
			r.revisions.forget(e.Object.Name)
		},
	})
}

// watchInstances watches the instances of kind gvk, which Promise p serves.
func watchInstances(informers cache.Cache, gvk schema.GroupVersionKind, p string) source.TypedSource[Key] {
	return source.TypedKind(informers, instanceapi.NewInstance(gvk), onEvent(func(_ context.Context, inst *unstructured.Unstructured, q queue) {
		q.Add(instanceKey(p, inst.GetNamespace(), inst.GetName()))
	}, false), updates(instanceChanged))
}

func workKey(w *fleetv1alpha1.Work) Key {
	if i := w.Spec.Subject.Instance; i != nil {
		return instanceKey(w.Spec.Subject.Promise, i.Namespace, i.Name)
	}
	return fleetKey(w.Spec.Subject.Promise)
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
// (generation), labels (Override instance selectors) and annotations (both
// template data, snapshotted by instance revisions), deletion, or a lost
// finalizer. Its status, which this controller writes, does not; nor does
// kubectl's copy of the object, which no render sees.
func instanceChanged(o, n *unstructured.Unstructured) bool {
	return o.GetGeneration() != n.GetGeneration() ||
		!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		!equality.Semantic.DeepEqual(render.TemplateAnnotations(o.GetAnnotations()), render.TemplateAnnotations(n.GetAnnotations())) ||
		o.GetDeletionTimestamp().IsZero() != n.GetDeletionTimestamp().IsZero() ||
		!slices.Equal(o.GetFinalizers(), n.GetFinalizers())
}

// mapper turns fleet-wide events into keys, reading from the cache.
type mapper struct{ r *Reconciler }

// addPromise enqueues a Promise's fleet resources and all its instances.
func (m *mapper) addPromise(ctx context.Context, name string, q queue) {
	q.Add(fleetKey(name))
	m.addInstances(ctx, name, q)
}

// addAll enqueues every Promise's fleet resources and instances.
func (m *mapper) addAll(ctx context.Context, q queue) {
	list := &fleetv1alpha1.PromiseList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing promises")
		return
	}
	for i := range list.Items {
		m.addPromise(ctx, list.Items[i].Name, q)
	}
}

// addScopeHolders enqueues the instances whose Works' scope holds
// namespace ns besides their own (controller.IndexWorkByScopeNamespace).
func (m *mapper) addScopeHolders(ctx context.Context, ns string, q queue) {
	list := &fleetv1alpha1.WorkList{}
	if err := m.r.Client.List(ctx, list, client.MatchingFields{ctrlindex.IndexWorkByScopeNamespace: ns}, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		if list.Items[i].Spec.Subject.Instance != nil {
			q.Add(workKey(&list.Items[i]))
		}
	}
}

// addNamespace enqueues the instances in namespace ns, of every Promise.
func (m *mapper) addNamespace(ctx context.Context, ns string, q queue) {
	list := &fleetv1alpha1.PromiseList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		m.addInstances(ctx, list.Items[i].Name, q, client.InNamespace(ns))
	}
}

// addOverride enqueues what an Override may shape: in the platform
// namespace, its Promise's fleet resources and instances (every Promise's
// when it names none); elsewhere, the instances of its namespace (of its
// Promise, or of all).
func (m *mapper) addOverride(ctx context.Context, o *fleetv1alpha1.Override, q queue) {
	switch platform, one := o.Namespace == fleetv1alpha1.PlatformNamespace, o.Spec.Promise != ""; {
	case platform && one:
		m.addPromise(ctx, o.Spec.Promise, q)
	case platform:
		m.addAll(ctx, q)
	case one:
		m.addInstances(ctx, o.Spec.Promise, q, client.InNamespace(o.Namespace))
	default:
		m.addNamespace(ctx, o.Namespace, q)
	}
}

// addDriftException enqueues what a DriftException may excuse drift on:
// everything for the platform namespace's, else its namespace's instances.
func (m *mapper) addDriftException(ctx context.Context, e *fleetv1alpha1.DriftException, q queue) {
	if e.Namespace == fleetv1alpha1.PlatformNamespace {
		m.addAll(ctx, q)
		return
	}
	m.addNamespace(ctx, e.Namespace, q)
}

// addRollout enqueues what a Rollout event moves: admitted are the
// clusters it newly admits, checks those whose Works' verification checks
// may change (rollout.ChecksMoved), ended says it ended (or its rollback
// revision changed, or it is gone), phase that its phase changed. For an
// instance's own changes, that instance, when any of them holds (its phase
// is in the instance's status, its checks on the instance's Works). For a
// Promise's, addMoving, only when something that RevisionFor or
// WorkChecksFor reads changed (admissions, waves at work, check runs, the
// end).
func (m *mapper) addRollout(ctx context.Context, ro *fleetv1alpha1.Rollout, admitted, checks []string, ended, phase bool, q queue) {
	if i := ro.Spec.Subject.Instance; i != nil {
		if ended || phase || len(admitted) > 0 || len(checks) > 0 {
			q.Add(instanceKey(ro.Spec.Subject.Promise, ro.Namespace, i.Name))
		}
		return
	}
	if ro.Namespace != fleetv1alpha1.PlatformNamespace || (!ended && len(admitted) == 0 && len(checks) == 0) {
		return
	}
	m.addMoving(ctx, ro.Spec.Subject.Promise, set(admitted), set(checks), q)
}

// set is the set of names.
func set(names []string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// addMoving enqueues the subjects of promise whose Works must render
// another revision: every Work on a cluster in admitted that the Rollout
// governing the Promise admits (whatever the cache says it renders now,
// as a write of it may be under way), and every Work whose revision is not
// the one rollout.RevisionFor gives it now; and those whose verification
// checks may change: every Work on a cluster in checks that the governing
// Rollout admits or that carries checks, and every Work that carries
// checks while no Rollout is under way. The fleet resources are
// always enqueued: a cluster admitted to a revision that adds some has no
// Work of them yet.
func (m *mapper) addMoving(ctx context.Context, promiseName string, admitted, checks map[string]bool, q queue) {
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
	rt, err := promiseRollouts(ctx, m.r.Client, promiseName, m.r.AdmitLatest)
	if err != nil {
		log.Error(err, "listing rollouts", "promise", promiseName)
		return
	}
	works := &fleetv1alpha1.WorkList{}
	if err := m.r.Client.List(ctx, works, client.MatchingFields{ctrlindex.IndexWorkByPromise: promiseName}, client.UnsafeDisableDeepCopy); err != nil {
		log.Error(err, "listing works", "promise", promiseName)
		return
	}
	q.Add(fleetKey(promiseName))
	for i := range works.Items {
		w := &works.Items[i]
		if !instanceplan.HubOwned(w) || w.Spec.Subject.Promise != promiseName || !w.DeletionTimestamp.IsZero() {
			continue
		}
		_, admits := rollout.Admitted(rt.Governing, w.Spec.Cluster)
		stale := len(w.Spec.Checks) > 0 && (rt.Governing == nil || rt.Governing.Status.Phase.IsTerminal())
		// A Work gets checks only where the governing Rollout admits its
		// cluster; one that has some may lose them.
		if (admitted[w.Spec.Cluster] && admits) || (checks[w.Spec.Cluster] && (admits || len(w.Spec.Checks) > 0)) || stale ||
			rt.Revision(w.Spec.Cluster, w.Spec.Revision, latest) != w.Spec.Revision {
			q.Add(workKey(w))
		}
	}
}

// addChecks enqueues the subjects of promise with a Work on a cluster of a
// wave at work of the Rollout governing it, and the instances whose own
// Rollout is under way: those whose verification checks change when the
// Promise's checks or its strategy do.
func (m *mapper) addChecks(ctx context.Context, promiseName string, q queue) {
	m.addInstanceRollouts(ctx, func(ro *fleetv1alpha1.Rollout) bool { return ro.Spec.Subject.Promise == promiseName }, q)
	m.addPromiseChecks(ctx, promiseName, q)
}

// addPromiseChecks is addChecks for the Rollout governing the Promise.
func (m *mapper) addPromiseChecks(ctx context.Context, promiseName string, q queue) {
	rt, err := promiseRollouts(ctx, m.r.Client, promiseName, m.r.AdmitLatest)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing rollouts", "promise", promiseName)
		return
	}
	if g := rt.Governing; g != nil && !g.Status.Phase.IsTerminal() {
		// The clusters of the waves at work: those whose checks leave were
		// the Rollout to have none.
		if at := rollout.ChecksMoved(g, &fleetv1alpha1.Rollout{}); len(at) > 0 {
			m.addMoving(ctx, promiseName, nil, set(at), q)
		}
	}
}

// addStrategy enqueues, for every Promise whose Rollout under way follows
// RolloutStrategy name (rollout.StrategyName), what addChecks does for it,
// and every instance whose own Rollout under way follows it.
func (m *mapper) addStrategy(ctx context.Context, name string, q queue) {
	list := &fleetv1alpha1.PromiseList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing promises")
		return
	}
	promises := make(map[string]*fleetv1alpha1.Promise, len(list.Items))
	for i := range list.Items {
		promises[list.Items[i].Name] = &list.Items[i]
	}
	m.addInstanceRollouts(ctx, func(ro *fleetv1alpha1.Rollout) bool {
		p := promises[ro.Spec.Subject.Promise]
		return p != nil && rollout.StrategyName(ro, p) == name
	}, q)
	for i := range list.Items {
		p := &list.Items[i]
		rt, err := promiseRollouts(ctx, m.r.Client, p.Name, m.r.AdmitLatest)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing rollouts", "promise", p.Name)
			continue
		}
		if g := rt.Governing; g != nil && !g.Status.Phase.IsTerminal() && rollout.StrategyName(g, p) == name {
			m.addPromiseChecks(ctx, p.Name, q)
		}
	}
}

// addInstanceRollouts enqueues the instance of every Rollout of an
// instance's own change that is under way and that match selects. It lists
// every Rollout in the cache: it serves rare events (a strategy or a
// Promise's checks edited).
func (m *mapper) addInstanceRollouts(ctx context.Context, match func(*fleetv1alpha1.Rollout) bool, q queue) {
	list := &fleetv1alpha1.RolloutList{}
	if err := m.r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing rollouts")
		return
	}
	for i := range list.Items {
		ro := &list.Items[i]
		if inst := ro.Spec.Subject.Instance; inst != nil && !ro.Status.Phase.IsTerminal() && match(ro) {
			q.Add(instanceKey(ro.Spec.Subject.Promise, ro.Namespace, inst.Name))
		}
	}
}

// addInstances enqueues the instances of a Promise: all, or those opts
// select (client.InNamespace).
func (m *mapper) addInstances(ctx context.Context, promiseName string, q queue, opts ...client.ListOption) {
	gvk, ok := m.r.Kinds.Lookup(promiseName)
	if !ok {
		return
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	opts = append(opts, client.UnsafeDisableDeepCopy)
	// Event handlers must not block for long: a kind whose informer has not
	// synced yet is picked up by its own create events instead.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.r.Cache.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing instances", "promise", promiseName)
		return
	}
	for i := range list.Items {
		q.Add(instanceKey(promiseName, list.Items[i].GetNamespace(), list.Items[i].GetName()))
	}
}
