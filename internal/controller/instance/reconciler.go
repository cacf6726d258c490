// Package instance is the hub's instance controller. It serves every kind
// Promises generate (registered at run time, no restart), and for each
// instance: places it (Promise placement, the instance's spec.placement,
// tenancy), reads which revision each placed cluster is admitted to from the
// status of the Rollout that governs it (rollout.RevisionFor), renders it per
// cluster with the Overrides that select it, and
// writes one Work per (instance, cluster) in the cluster's namespace, only
// when it changed. It also writes each Promise's fleet-resource Works, deletes
// the Works of deleted instances (a finalizer: owner references cannot cross
// namespaces) and rolls the Works' health up into the instance's status.
package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// Key identifies what the controller renders: an instance of a Promise
// (instanceKey), or, with Namespace and Name empty, the Promise's fleet
// resources (fleetKey). It is the work queue's key, hence a plain value.
type Key struct {
	Promise   string
	Namespace string
	Name      string
}

// fleetKey is the key of promise's fleet resources.
func fleetKey(promise string) Key { return Key{Promise: promise} }

// instanceKey is the key of instance namespace/name of promise.
func instanceKey(promise, namespace, name string) Key {
	return Key{Promise: promise, Namespace: namespace, Name: name}
}

// IsFleet reports whether k is a Promise's fleet resources.
func (k Key) IsFleet() bool { return k.Name == "" }

// plan is the subject k renders, as the planner names it.
func (k Key) plan() instanceplan.Subject {
	if k.IsFleet() {
		return instanceplan.FleetSubject(k.Promise)
	}
	return instanceplan.InstanceSubject(k.Promise, k.Namespace, k.Name)
}

func (k Key) String() string {
	if k.IsFleet() {
		return k.Promise + " fleet resources"
	}
	return k.Promise + " " + k.Namespace + "/" + k.Name
}

// Reconciler renders instances and fleet resources into Works.
type Reconciler struct {
	// Client reads typed objects from the hub's cache and writes.
	Client client.Client
	// Cache reads instances (unstructured) from the hub's cache.
	Cache client.Reader
	// APIReader lists an instance's Works from the API server before its
	// finalizer is removed, so a Work the cache has not seen yet is not orphaned.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Charts    *charts.Resolver
	Kinds     *instancekinds.Registry
	// AdmitLatest renders every cluster at the latest revisions at once,
	// whatever Rollouts say (Options.AdmitLatest).
	AdmitLatest bool
	// InstanceRollouts, if set, starts the Rollout of each instance change.
	InstanceRollouts InstanceRolloutStarter
	// Metrics counts Works written and renders; nil counts nothing.
	Metrics *metrics.Hub

	views     viewCache
	revisions revisionCache
	// offline holds the Offline clusters (watchAvailability).
	offline offlineClusters
	// deferred holds the keys whose status write was put off once (see
	// Reconcile).
	deferred sync.Map
	// renders holds, by key, what the last reconcile of an instance
	// rendered (renderMemo), which the next one reuses where nothing a
	// render reads changed.
	renders sync.Map
	// revisionsFrozen holds the keys whose instance revisions from before
	// the team Override snapshots this hub froze (ensureInstanceRevision).
	revisionsFrozen sync.Map
	// metadataReaders holds, by PromiseRevision name, whether its templates
	// read the instance's labels or annotations (readsMetadata).
	metadataReaders sync.Map
	// warned holds, by key and reason, the message of the Warning Event
	// last recorded (warnOnce): a cause is recorded once, not on every
	// reconcile, and again only when it changes or comes back.
	warned sync.Map
	// own holds the Works this controller updated that the cache may not
	// have seen yet (ownWrites).
	own ownWrites
	// statusWrites is, by Promise, each instance's resourceVersion after
	// this controller's last status write (controller.PatchStatus): its own
	// writes do not wake it (generation predicate).
	statusWrites controller.OwnWritesByOwner
}

// statusDelay is how long an instance's status report waits after its Works
// were written (see Reconcile).
const statusDelay = 100 * time.Millisecond

// Reconcile implements reconcile.TypedReconciler.
func (r *Reconciler) Reconcile(ctx context.Context, key Key) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("promise", key.Promise)
	if !key.IsFleet() {
		log = log.WithValues("instance", key.Namespace+"/"+key.Name)
	}
	ctx = ctrl.LoggerInto(ctx, log)

	p := &fleetv1alpha1.Promise{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: key.Promise}, p); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		p = nil
	}
	if key.IsFleet() {
		next, err := r.reconcileFleet(ctx, key, p)
		if err != nil || next.IsZero() {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: max(next.Sub(r.Clock.Now()), 0) + time.Second}, nil
	}
	if p == nil {
		// The Promise's finalizer deletes Works before it goes; whatever is
		// left belongs to nothing.
		r.forgetWarnings(key)
		r.statusWrites.Forget(key.Promise)
		return ctrl.Result{}, r.deleteWorks(ctx, key, nil)
	}
	inst := instanceapi.NewInstance(instanceapi.GVK(&p.Spec.API))
	if err := r.Cache.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: key.Name}, inst); err != nil {
		if apierrors.IsNotFound(err) {
			r.deferred.Delete(key)
			r.renders.Delete(key)
			r.revisionsFrozen.Delete(key)
			r.forgetWarnings(key)
			r.statusWrites.Of(key.Promise).Forget(types.NamespacedName{Namespace: key.Namespace, Name: key.Name})
			// From the API server: the instance may have gone without the
			// finalizer (someone removed it) while a reconcile was writing
			// a Work the cache has not seen yet.
			return ctrl.Result{}, r.deleteWorks(ctx, key, r.APIReader)
		}
		return ctrl.Result{}, fmt.Errorf("reading instance: %w", err)
	}
	if !inst.GetDeletionTimestamp().IsZero() {
		r.renders.Delete(key)
		r.statusWrites.Of(key.Promise).Forget(client.ObjectKeyFromObject(inst))
		return ctrl.Result{}, r.finalize(ctx, key, inst)
	}
	if !p.DeletionTimestamp.IsZero() {
		// The Promise controller decides what happens to its instances.
		// While its deletion waits for them, each says so: a team's new
		// instance, or change, would otherwise meet silence.
		if p.Annotations[fleetv1alpha1.AnnotationForceDelete] == fleetv1alpha1.ForceDeleteValue {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, r.reportPromiseDeleting(ctx, key, inst)
	}
	if !controllerutil.ContainsFinalizer(inst, fleetv1alpha1.Finalizer) {
		patch := client.MergeFromWithOptions(inst.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(inst, fleetv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, inst, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	old := fleetv1alpha1.InstanceStatus{}
	if raw, ok := inst.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &old)
	}
	o, err := r.reconcileInstance(ctx, key, p, inst)
	if err != nil {
		return ctrl.Result{}, err
	}
	o.report.Offline = r.offline.among(o.report.Placement.Clusters)
	status := instanceplan.Status(old, inst.GetGeneration(), o.report, r.Clock.Now())
	if o.wrote > 0 && instanceplan.SameConditions(old.Conditions, status.Conditions) {
		// Works change what runs on members; the status only reports. When a
		// change fans out to many instances, write every Work first: report
		// a little later, at low priority (once; the next reconcile writes it).
		if _, deferred := r.deferred.LoadOrStore(key, true); !deferred {
			return ctrl.Result{RequeueAfter: statusDelay, Priority: ptr.To(handler.LowPriority)}, nil
		}
	}
	r.deferred.Delete(key)
	result := ctrl.Result{}
	if !o.nextExpiry.IsZero() {
		// Drop the expired DriftException from the Works then.
		result.RequeueAfter = max(o.nextExpiry.Sub(r.Clock.Now()), 0) + time.Second
	}
	if o.retryAfter > 0 && (result.RequeueAfter == 0 || o.retryAfter < result.RequeueAfter) {
		result.RequeueAfter = o.retryAfter
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("encoding status: %w", err)
	}
	if err := controller.PatchStatus(ctx, r.Client, r.statusWrites.Of(key.Promise), inst, func(u *unstructured.Unstructured) { u.Object["status"] = raw }); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.recordTransition(ctx, inst, old, status)
	return result, nil
}

// outcome is what one reconcile of an instance did: the Report its status
// is made from, and what the controller itself keeps.
type outcome struct {
	report instanceplan.Report
	// wrote is how many Works this reconcile created or updated.
	wrote int
	// nextExpiry is when the first DriftException in the Works expires; zero: none.
	nextExpiry time.Time
	// retryAfter is when to try again the Works that could not be written; zero: none.
	retryAfter time.Duration
}

// reconcileInstance is one pass of observe → plan → execute over an
// instance: observe what the decision reads, instanceplan.Route it, render
// the Targets, instanceplan.Finish, then write and delete. It returns what
// the status is made from.
func (r *Reconciler) reconcileInstance(ctx context.Context, key Key, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured) (outcome, error) {
	// Listed once: the instance revision snapshots the team's, the render
	// applies the platform's.
	overrides, err := r.overrides(ctx)
	if err != nil {
		return outcome{}, err
	}
	f, snap, err := r.observe(ctx, key, p, inst, overrides)
	if err != nil {
		return outcome{}, err
	}
	rt := instanceplan.Route(f)
	if rt.Decision == instanceplan.Hold {
		return r.holdInstance(ctx, key, p, rt)
	}
	if rt.Decision != instanceplan.Render {
		return outcome{report: instanceplan.NewReport(rt, nil, rt.Existing)}, nil
	}
	if err := r.ensureInstanceRevision(ctx, key, inst, rt.InstanceRevision, snap, rt.Existing); err != nil {
		return outcome{}, err
	}
	if err := r.startInstanceRollout(ctx, p, inst, rt.StartRollout); err != nil {
		return outcome{}, err
	}
	view, err := r.view(ctx)
	if err != nil {
		return outcome{}, err
	}
	in, err := r.workInputs(ctx, key, p, view)
	if err != nil {
		return outcome{}, err
	}
	results, err := r.renderInstance(ctx, key, inst, snap, overrides, rt, view)
	if err != nil {
		return outcome{}, err
	}
	plan, err := instanceplan.Finish(rt, results, in)
	if err != nil {
		return outcome{}, err
	}
	r.reportCheckErrors(ctx, key, inst, rt, plan)
	works, wrote, taken, err := r.execute(ctx, rt, plan)
	if err != nil {
		return outcome{}, err
	}
	// Where another Work holds its Work's name, the cluster fails as a
	// refused render does: the instance says so, and looks again later
	// (that Work's deletion is not an event of this instance).
	failed := plan.Failed
	if len(taken) > 0 {
		failed = maps.Clone(plan.Failed)
		maps.Copy(failed, taken)
	}
	report := instanceplan.NewReport(rt, failed, works)
	report.Held, report.HeldFor, report.Waiting = plan.Held, plan.HeldFor, plan.Waiting
	o := outcome{
		report:     report,
		wrote:      wrote,
		nextExpiry: instanceplan.NextExpiry(instanceplan.OnClusters(works, plan.Keep)),
	}
	if len(taken) > 0 {
		o.retryAfter = nameTakenRetry
	}
	return o, nil
}

// holdInstance keeps a held instance's Works as they are but for their
// DriftExceptions (instanceplan.ExceptionsOnly): a team that holds its
// instance (with more Overrides than the bound, say) must not so keep an
// exception the platform revoked accepting drift on its members.
func (r *Reconciler) holdInstance(ctx context.Context, key Key, p *fleetv1alpha1.Promise, rt instanceplan.Routing) (outcome, error) {
	view, err := r.view(ctx)
	if err != nil {
		return outcome{}, err
	}
	in, err := r.workInputs(ctx, key, p, view)
	if err != nil {
		return outcome{}, err
	}
	var plan instanceplan.Plan
	for _, c := range slices.Sorted(maps.Keys(rt.Existing)) {
		if w, ok := instanceplan.ExceptionsOnly(rt.Existing[c], in); ok {
			plan.Writes = append(plan.Writes, w)
		}
		plan.Keep = append(plan.Keep, c)
	}
	works, wrote, _, err := r.execute(ctx, rt, plan)
	if err != nil {
		return outcome{}, err
	}
	return outcome{report: instanceplan.NewReport(rt, nil, works), wrote: wrote,
		nextExpiry: instanceplan.NextExpiry(instanceplan.OnClusters(works, plan.Keep))}, nil
}

// nameTakenRetry is how soon an instance whose Work's name another Work
// holds on some cluster tries that cluster again.
const nameTakenRetry = time.Minute

// readsMetadata reports whether PromiseRevision rev's templates may read
// the instance's labels or annotations (render.ReadsInstanceMetadata),
// judged once per revision: its content never changes.
func (r *Reconciler) readsMetadata(rev *fleetv1alpha1.PromiseRevision) bool {
	if reads, ok := r.metadataReaders.Load(rev.Name); ok {
		return reads.(bool)
	}
	reads := render.ReadsInstanceMetadata(&rev.Spec.Content)
	r.metadataReaders.Store(rev.Name, reads)
	return reads
}

// observe reads what instanceplan.Route decides an instance's Works from,
// and the snapshot of its spec and its team's Overrides (the instance
// revision). Placement and Rollouts are read only once the Promise has a
// revision.
func (r *Reconciler) observe(ctx context.Context, key Key, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, overrides []fleetv1alpha1.Override) (instanceplan.Facts, instanceSnapshot, error) {
	var none instanceSnapshot
	f := instanceplan.Facts{Subject: key.plan(), LatestRevision: p.Status.LatestRevision}
	var err error
	if f.Works, err = r.listWorks(ctx, key); err != nil || !f.HasRevision() {
		return f, none, err
	}
	view, err := r.view(ctx)
	if err != nil {
		return f, none, err
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: key.Namespace}, ns); client.IgnoreNotFound(err) != nil {
		return f, none, fmt.Errorf("reading namespace %s: %w", key.Namespace, err)
	}
	narrow, err := instancePlacement(inst)
	if err != nil {
		f.Placement = placement.Result{Violations: []placement.Violation{{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: err.Error()}}}
		return f, none, nil
	}
	f.Placement = view.Place(placement.Request{
		Promise:   p.Spec.Placement,
		Instance:  narrow,
		Namespace: placement.Namespace{Name: key.Namespace, Labels: ns.Labels},
	})
	if len(f.Placement.Violations) > 0 {
		return f, none, nil
	}
	latest, err := r.loadRevision(ctx, key, f.LatestRevision)
	if err != nil {
		return f, none, err
	}
	snap, err := snapshotInstance(inst, key.Promise, overrides, r.readsMetadata(latest))
	if err != nil {
		return f, none, err
	}
	// The instance keeps its Works as they are (Hold) and says why.
	if n := len(snap.teamOverrides); n > maxTeamOverridesBytes {
		f.Placement.Violations = []placement.Violation{{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: fmt.Sprintf(
			"the Overrides of namespace %s that select this instance are %d bytes of JSON, more than the %d an instance revision holds: "+
				"merge or shorten them", key.Namespace, n, maxTeamOverridesBytes)}}
		return f, none, nil
	}
	if n := snap.teamOverrideCount; n > maxTeamOverrides {
		f.Placement.Violations = []placement.Violation{{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: fmt.Sprintf(
			"%d Overrides of namespace %s select this instance, more than the %d a team may have on one (a Work lists 64, "+
				"and the rest are the platform's): merge them", n, key.Namespace, maxTeamOverrides)}}
		return f, none, nil
	}
	if n := len(snap.metadata); n > maxMetadataBytes {
		if snap.readsMetadata {
			f.Placement.Violations = []placement.Violation{{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: fmt.Sprintf(
				"this instance's labels and annotations are %d bytes of JSON, more than the %d an instance revision holds, "+
					"and the Promise's templates read them: shorten them", n, maxMetadataBytes)}}
			return f, none, nil
		}
		// Where the templates do not read them, a revision need not keep
		// them: it renders none (other tools' large annotations hold nothing).
		snap.metadata = []byte("{}")
	}
	if f.InstanceRevision, snap.rendersMetadata, err = r.instanceRevisionName(ctx, inst, snap); err != nil {
		return f, none, err
	}
	if f.Rollouts, err = r.rolloutsFor(ctx, key); err != nil {
		return f, none, err
	}
	if f.Checks, err = r.checkFacts(ctx, p, f.Rollouts, view); err != nil {
		return f, none, err
	}
	return f, snap, nil
}

// workInputs reads what every Work of key is made from besides its render.
func (r *Reconciler) workInputs(ctx context.Context, key Key, p *fleetv1alpha1.Promise, view *fleetView) (instanceplan.WorkInputs, error) {
	now := r.Clock.Now()
	exceptions, err := r.driftExceptions(ctx, key, now)
	if err != nil {
		return instanceplan.WorkInputs{}, err
	}
	return instanceplan.WorkInputs{DriftPolicy: p.Spec.DriftPolicy, Exceptions: exceptions, View: view.View, Now: now}, nil
}

// checkFacts reads what the Works' verification checks are copied from
// (instanceplan.CheckFacts): the strategies of the Rollout governing the
// Promise and of the instance's own (fleet resources have none), each
// resolved as the Rollout controller resolves it (rollout.ResolveStrategy),
// the Promise's checks and the clusters' labels. None while no Rollout is
// under way. A strategy a Rollout names that does not exist blocks that
// Rollout (its controller says so): no checks of it.
func (r *Reconciler) checkFacts(ctx context.Context, p *fleetv1alpha1.Promise, rts instanceplan.Rollouts, view *fleetView) (*instanceplan.CheckFacts, error) {
	if rts.AdmitLatest {
		return nil, nil
	}
	cf := &instanceplan.CheckFacts{
		Promise: p.Spec.Checks,
		Skip:    p.Spec.SkipChecks,
		Labels: func(cluster string) map[string]string {
			facts, _ := view.Cluster(cluster)
			return facts.Labels
		},
	}
	var err error
	if cf.Strategy, err = r.underWay(ctx, rts.Governing, p); err != nil {
		return nil, err
	}
	if cf.InstanceStrategy, err = r.underWay(ctx, rts.Spec, p); err != nil {
		return nil, err
	}
	if cf.Strategy == nil && cf.InstanceStrategy == nil {
		return nil, nil
	}
	return cf, nil
}

// underWay is the strategy of Rollout ro of Promise p while ro is under
// way; nil when it is not, or when the strategy it names is missing.
func (r *Reconciler) underWay(ctx context.Context, ro *fleetv1alpha1.Rollout, p *fleetv1alpha1.Promise) (*fleetv1alpha1.RolloutStrategySpec, error) {
	if ro == nil || ro.Status.Phase.IsTerminal() {
		return nil, nil
	}
	strategy, err := rollout.ResolveStrategy(ro, p, controller.StrategyLookup(ctx, r.Client))
	var nf *rollout.StrategyNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &strategy, nil
}

// reportCheckErrors makes the verification checks that plan left out of
// Works visible (a query that cannot be rendered for a cluster): a Warning
// Event on obj (the instance, or the Promise for its fleet resources) and
// the log, once per cause: a reconcile that finds the same errors as the
// last one reported for key records nothing (each Event is an API write).
// The Rollout sees such a check as never reported (Pending): it holds the
// wave's bake, never passes unmeasured.
func (r *Reconciler) reportCheckErrors(ctx context.Context, key Key, obj runtime.Object, rt instanceplan.Routing, plan instanceplan.Plan) {
	if len(plan.CheckErrors) == 0 {
		r.warned.Delete(warning{key, fleetv1alpha1.ReasonInvalidCheck})
		return
	}
	var errs []error
	for _, t := range rt.Targets {
		if err, ok := plan.CheckErrors[t.Cluster]; ok {
			errs = append(errs, fmt.Errorf("%s: %w", t.Cluster, err))
		}
	}
	msg := errors.Join(errs...).Error()
	if !r.warnOnce(key, fleetv1alpha1.ReasonInvalidCheck, msg) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("verification checks left out of works", "error", msg)
	r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonInvalidCheck, "CopyChecks",
		"verification checks left out of works (the agents cannot measure them): %s", msg)
}

// warning names a Warning Event of a subject, for warnOnce.
type warning struct {
	key    Key
	reason string
}

// warnOnce reports whether the Warning Event reason with msg is to be
// recorded for key: not when the last one recorded says the same.
func (r *Reconciler) warnOnce(key Key, reason, msg string) bool {
	last, seen := r.warned.Swap(warning{key, reason}, msg)
	return !seen || last != msg
}

// forgetWarnings drops what warnOnce remembers of key (a subject gone).
func (r *Reconciler) forgetWarnings(key Key) {
	for _, reason := range []string{fleetv1alpha1.ReasonInvalidCheck, fleetv1alpha1.ReasonRenderFailed, fleetv1alpha1.ReasonInvalidSpec, fleetv1alpha1.ReasonNoMatchingClusters} {
		r.warned.Delete(warning{key, reason})
	}
}

// hubNamespaceDerived refuses (refusal) an instance for which a namespaces
// rule with a placeholder gives a namespace that exists on the hub other
// than its own: another team's, the platform's or the system's (see
// scope.Derived); or one that an instance of another hub namespace already
// has in its Works' scope; or one where a Promise's fleet resources run.
// Members' namespaces are not known to the hub otherwise: team pay's rule
// ${namespace}-${name} gives instance eu-cache pay-eu-cache, which team
// pay-eu's rule ${namespace}-cache gives all its instances, and the first
// to use it keeps it. It refuses too an instance whose own namespace an
// instance of another namespace holds on the members, its rule having
// given it before the namespace was the hub's (a team onboarded since):
// that instance is refused and held, its Works as they are, and this one
// waits, rendering nothing there, until the platform settles which keeps
// it, so that the two teams' objects never mix in one namespace. retry is
// an error reading the cache.
func (r *Reconciler) hubNamespaceDerived(ctx context.Context, out *fleetv1alpha1.PromiseOutput, key Key) (refusal, retry error) {
	holders, err := r.worksUsingNamespace(ctx, key.Namespace)
	if err != nil {
		return nil, err
	}
	for _, w := range holders {
		if other := w.Spec.Subject.Instance; other != nil && other.Namespace != key.Namespace {
			heldBy(ctx, key.Namespace, other)
			return fmt.Errorf("namespace %s is held on the members by an instance of another namespace, whose output.namespaces rule gave it before "+
				"it was a namespace of the hub: nothing renders there until the platform has that instance renamed or deleted", key.Namespace), nil
		}
	}
	for _, ns := range scope.Derived(out, key.Namespace, key.Name) {
		err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, &corev1.Namespace{})
		if err == nil {
			return fmt.Errorf("output.namespaces gives this instance namespace %s, which is a namespace of the hub "+
				"(another team's, or the platform's): an instance may use only namespaces of its own; rename the instance", ns), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
		}
		works, err := r.worksUsingNamespace(ctx, ns)
		if err != nil {
			return nil, err
		}
		for _, w := range works {
			if w.Spec.Subject.Instance == nil && instanceplan.HubOwned(w) {
				return fmt.Errorf("output.namespaces gives this instance namespace %s, where the fleet resources of Promise %s "+
					"run: an instance may use only namespaces of its own; rename the instance", ns, w.Spec.Subject.Promise), nil
			}
			if other := w.Spec.Subject.Instance; other != nil && other.Namespace != key.Namespace {
				heldBy(ctx, ns, other)
				return fmt.Errorf("output.namespaces gives this instance namespace %s, which an instance of another namespace "+
					"already uses: an instance may use only namespaces of its own; rename the instance", ns), nil
			}
		}
	}
	return nil, nil
}

// heldBy logs, for the platform, which instance holds namespace ns on the
// members. The refused instance's status does not name it: it is another
// team's, and its name is that team's.
func heldBy(ctx context.Context, ns string, holder *fleetv1alpha1.InstanceReference) {
	ctrl.LoggerFrom(ctx).Info("an instance of another namespace holds the namespace this one's output.namespaces gives",
		"namespace", ns, "holder", holder.Namespace+"/"+holder.Name)
}

// worksUsingNamespace lists from the cache the Works that use namespace ns
// other than as their instance's own (controller.IndexWorkByScopeNamespace),
// those being deleted included: their objects are still on the members.
func (r *Reconciler) worksUsingNamespace(ctx context.Context, ns string) ([]*fleetv1alpha1.Work, error) {
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{controller.IndexWorkByScopeNamespace: ns}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing works that use namespace %s: %w", ns, err)
	}
	out := make([]*fleetv1alpha1.Work, len(works.Items))
	for i := range works.Items {
		out[i] = &works.Items[i]
	}
	return out, nil
}

// renderInstance renders each Target of rt: the admitted PromiseRevision at
// the admitted instance revision, with the Overrides that select the
// instance there (the team's as that revision snapshotted them, the
// platform's as they are), confined to its namespace. A render whose inputs did not
// change since the key's last reconcile is reused (renderMemo), so a change
// renders each Work once, however often its agents' reports bring the
// instance back. Errors that a retry may cure are returned; the others are
// the Target's Failed result.
func (r *Reconciler) renderInstance(ctx context.Context, key Key, inst *unstructured.Unstructured, snap instanceSnapshot, overrides []fleetv1alpha1.Override,
	rt instanceplan.Routing, view *fleetView) ([]instanceplan.Result, error) {
	var err error
	var platform []fleetv1alpha1.Override
	for _, o := range overrides {
		if o.Namespace == fleetv1alpha1.PlatformNamespace {
			platform = append(platform, o)
		}
	}
	// The current spec and Overrides are rendered from the instance and
	// snap, not read back from the revision ensureInstanceRevision may have
	// just created, which the cache may not have yet.
	latestInst := rt.InstanceRevision
	latestRenderable := renderable{inst: inst.DeepCopy()}
	unstructured.RemoveNestedField(latestRenderable.inst.Object, "spec", fleetv1alpha1.InstancePlacementField)
	if snap.rendersMetadata != nil {
		if err := latestRenderable.setMetadata(snap.rendersMetadata); err != nil {
			return nil, fmt.Errorf("instance revision %s: %w", latestInst, err)
		}
	}
	if snap.teamOverrides != nil {
		if latestRenderable.team, err = decodeTeamOverrides(string(snap.teamOverrides), key.Namespace); err != nil {
			return nil, fmt.Errorf("decoding the team's overrides: %w", err)
		}
	}
	renderables := map[string]renderable{latestInst: latestRenderable}
	instLabels := inst.GetLabels()
	subject := func(cluster string) placement.Subject {
		return placement.Subject{
			Promise:  key.Promise,
			Cluster:  cluster,
			Instance: &placement.Instance{Namespace: key.Namespace, Name: key.Name, Labels: instLabels},
		}
	}
	// selectOverrides: the team's Overrides as revision rr snapshotted them
	// (the clusterSelectors matched now), then the platform's as they are.
	selectOverrides := func(rr renderable, cluster string) []fleetv1alpha1.Override {
		if rr.liveTeam {
			return view.SelectOverrides(overrides, subject(cluster))
		}
		return append(view.SelectClusters(rr.team, cluster), view.SelectOverrides(platform, subject(cluster))...)
	}

	// The renders of the key's last reconcile: what nothing changed since
	// need not be rendered again.
	var memo renderMemo
	if m, ok := r.renders.Load(key); ok {
		memo, _ = m.(renderMemo)
	}
	rendered := make(renderMemo, len(rt.Targets))
	instVersion := instanceVersion(inst)
	results := make([]instanceplan.Result, 0, len(rt.Targets))
	refusals := map[string]error{} // by revision: hubNamespaceDerived
	for _, t := range rt.Targets {
		rev, err := r.loadRevision(ctx, key, t.Revision)
		if err != nil {
			return nil, err
		}
		instRev := t.InstanceRevision
		rr, err := r.renderableOf(ctx, inst, instRev, renderables)
		if err != nil {
			return nil, err
		}
		latest := rr
		if instRev != latestInst {
			if latest, err = r.renderableOf(ctx, inst, latestInst, renderables); err != nil {
				return nil, err
			}
		}
		facts, _ := view.Cluster(t.Cluster)
		selected := selectOverrides(rr, t.Cluster)
		chart, err := r.Charts.Load(ctx, &rev.Spec.Content)
		if err != nil {
			if !permanent(err) {
				return nil, err
			}
			results = append(results, t.Failed(err))
			continue
		}
		// The admitted revision's output confines the render (and, through
		// the Work, the agent): an earlier revision keeps its own.
		sc, err := scope.ForInstance(rev.Spec.Content.Output, key.Namespace, key.Name)
		if err == nil {
			refusal, checked := refusals[rev.Name]
			if !checked {
				var retry error
				if refusal, retry = r.hubNamespaceDerived(ctx, rev.Spec.Content.Output, key); retry != nil {
					return nil, retry
				}
				refusals[rev.Name] = refusal // once per revision, not per cluster
			}
			err = refusal
		}
		if err != nil {
			results = append(results, t.Failed(fmt.Errorf("promise revision %s: %w", rev.Name, err)))
			continue
		}
		if sc.Kinds == nil {
			sc.Kinds = []fleetv1alpha1.OutputKind{} // no output: nothing is allowed (and the Work says so)
		}
		confine := instanceplan.Confinement{Scope: sc, Adoption: instanceplan.Adoption(rev.Spec.Content.Output)}
		in := render.Input{
			Promise:   key.Promise,
			Revision:  rev.Name,
			Content:   &rev.Spec.Content,
			Instance:  rr.inst,
			Cluster:   render.ClusterFacts{Name: t.Cluster, Labels: facts.Labels, KubernetesVersion: facts.KubernetesVersion},
			Overrides: selected,
			Chart:     chart,
			Scope:     sc,
		}
		fp := renderFingerprint(in, instRev, latestInst, instVersion)
		if m, ok := memo[t.Cluster]; ok && m.fingerprint == fp {
			rendered[t.Cluster] = m
			results = append(results, t.RenderedAs(m.out, confine).WithLatestFailure(m.latestErr))
			continue
		}
		start := time.Now()
		out, err := render.Render(in)
		r.Metrics.Rendered(time.Since(start))
		var latestErr error
		if err == nil && instRev != latestInst {
			// The cluster keeps an earlier spec until a Rollout admits it to
			// the new one; a new spec (or team Override) that cannot render
			// is reported now, not when its turn comes. The cluster's Work
			// is written all the same: a Promise's Rollout moves it, and a
			// team's broken change does not hold the platform's back.
			in.Instance, in.Overrides = latest.inst, selectOverrides(latest, t.Cluster)
			var latestOut render.Output
			if latestOut, latestErr = render.Render(in); latestErr == nil {
				_, latestErr = instanceplan.Encode(latestOut) // one a Work cannot hold fails too
			}
			if latestErr != nil {
				r.Metrics.RenderFailed(key.Promise)
				ctrl.LoggerFrom(ctx).V(1).Info("render of the current spec failed", "cluster", t.Cluster, "revision", rev.Name,
					"instanceRevision", latestInst, "error", latestErr.Error())
			}
		}
		// Encoded once, with the render: Works are made from it at every
		// reconcile, and the memo keeps it so.
		var encoded instanceplan.Output
		if err == nil {
			encoded, err = instanceplan.Encode(out)
		}
		if err != nil {
			r.Metrics.RenderFailed(key.Promise)
			ctrl.LoggerFrom(ctx).V(1).Info("render failed", "cluster", t.Cluster, "revision", rev.Name, "error", err.Error())
			results = append(results, t.Failed(err))
			continue
		}
		rendered[t.Cluster] = memoEntry{fingerprint: fp, out: encoded, latestErr: latestErr}
		results = append(results, t.RenderedAs(encoded, confine).WithLatestFailure(latestErr))
	}
	r.renders.Store(key, rendered)
	return results, nil
}

// renderableOf returns what instance revision name renders (renderableAt),
// keeping it in known for the next cluster.
func (r *Reconciler) renderableOf(ctx context.Context, inst *unstructured.Unstructured, name string, known map[string]renderable) (renderable, error) {
	if rr, ok := known[name]; ok {
		return rr, nil
	}
	rr, err := r.renderableAt(ctx, inst, name)
	if err != nil {
		return renderable{}, err
	}
	known[name] = rr
	return rr, nil
}

// execute carries out plan: it writes its Works, then deletes those it
// names. It returns the subject's Works by cluster as they now are (the
// status rolls up what was just written, not the cache, which has not seen
// the writes yet), how many were created or updated, and the clusters where
// another Work holds the name of the subject's (see writeAll).
func (r *Reconciler) execute(ctx context.Context, rt instanceplan.Routing, plan instanceplan.Plan) (map[string]*fleetv1alpha1.Work, int, map[string]error, error) {
	works := make(map[string]*fleetv1alpha1.Work, len(rt.Existing))
	for c, w := range rt.Existing {
		works[c] = w
	}
	written, wrote, taken, err := r.writeAll(ctx, plan.Writes)
	for i, w := range written {
		if w == nil {
			continue // not written: its write failed, or another's did first
		}
		works[plan.Writes[i].Cluster] = w
	}
	if err != nil {
		return works, wrote, taken, err
	}
	return works, wrote, taken, r.deleteAll(ctx, plan.Delete)
}

// reconcileFleet writes the Promise's fleet-resource Works: one per cluster
// of its placement, for the revision admitted there, the same way
// (observe → Route → render → Finish → execute). It returns when the first
// DriftException in them expires (zero: none).
func (r *Reconciler) reconcileFleet(ctx context.Context, key Key, p *fleetv1alpha1.Promise) (time.Time, error) {
	if p == nil {
		return time.Time{}, r.deleteWorks(ctx, key, nil)
	}
	if !p.DeletionTimestamp.IsZero() || p.Status.LatestRevision == "" {
		return time.Time{}, nil
	}
	f := instanceplan.Facts{Subject: key.plan(), LatestRevision: p.Status.LatestRevision}
	var err error
	if f.Works, err = r.listWorks(ctx, key); err != nil {
		return time.Time{}, err
	}
	view, err := r.view(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if f.Rollouts, err = r.rolloutsFor(ctx, key); err != nil {
		return time.Time{}, err
	}
	if f.Checks, err = r.checkFacts(ctx, p, f.Rollouts, view); err != nil {
		return time.Time{}, err
	}
	f.Placement = view.Place(placement.Request{Promise: p.Spec.Placement, Namespace: placement.Namespace{Name: fleetv1alpha1.PlatformNamespace}})
	rt := instanceplan.Route(f)
	if rt.Decision == instanceplan.Hold {
		r.warnHeld(ctx, key, p, f.Placement.Violations)
		return time.Time{}, nil
	}
	r.warned.Delete(warning{key, fleetv1alpha1.ReasonInvalidSpec})
	in, err := r.workInputs(ctx, key, p, view)
	if err != nil {
		return time.Time{}, err
	}
	overrides, err := r.overrides(ctx)
	if err != nil {
		return time.Time{}, err
	}
	results := make([]instanceplan.Result, 0, len(rt.Targets))
	for _, t := range rt.Targets {
		rev, err := r.loadRevision(ctx, key, t.Revision)
		if err != nil {
			return time.Time{}, err
		}
		if len(rev.Spec.Content.FleetResources) == 0 {
			results = append(results, t.Empty())
			continue
		}
		facts, _ := view.Cluster(t.Cluster)
		out, err := render.RenderFleetResources(render.Input{
			Promise:   key.Promise,
			Revision:  rev.Name,
			Content:   &rev.Spec.Content,
			Cluster:   render.ClusterFacts{Name: t.Cluster, Labels: facts.Labels, KubernetesVersion: facts.KubernetesVersion},
			Overrides: view.SelectOverrides(overrides, placement.Subject{Promise: key.Promise, Cluster: t.Cluster}),
		})
		var encoded instanceplan.Output
		if err == nil {
			encoded, err = instanceplan.Encode(out)
		}
		if err != nil {
			r.Metrics.RenderFailed(key.Promise)
			results = append(results, t.Failed(err))
			continue
		}
		results = append(results, t.RenderedAs(encoded, instanceplan.Confinement{Adoption: instanceplan.Adoption(rev.Spec.Content.Output)}))
	}
	plan, err := instanceplan.Finish(rt, results, in)
	if err != nil {
		return time.Time{}, err
	}
	r.reportCheckErrors(ctx, key, p, rt, plan)
	r.reportFleetRenderFailures(ctx, key, p, rt, plan)
	r.warnFleetHeld(ctx, key, p, plan)
	works, _, taken, err := r.execute(ctx, rt, plan)
	if err != nil {
		return time.Time{}, err
	}
	if len(taken) > 0 {
		// Only the platform team and admins write in cluster namespaces:
		// a hand-made Work holds the name of a fleet-resource Work.
		return time.Time{}, errors.Join(slices.Collect(maps.Values(taken))...)
	}
	return instanceplan.NextExpiry(instanceplan.OnClusters(works, plan.Keep)), nil
}

// reportFleetRenderFailures makes the fleet resources that failed to render
// visible: a Warning Event on the Promise and the log, once per cause (as
// reportCheckErrors). Their Works are left as they were.
func (r *Reconciler) reportFleetRenderFailures(ctx context.Context, key Key, p *fleetv1alpha1.Promise, rt instanceplan.Routing, plan instanceplan.Plan) {
	if len(plan.Failed) == 0 {
		r.warned.Delete(warning{key, fleetv1alpha1.ReasonRenderFailed})
		return
	}
	var failed []error
	for _, t := range rt.Targets {
		if err, ok := plan.Failed[t.Cluster]; ok {
			failed = append(failed, fmt.Errorf("%s: %w", t.Cluster, err))
		}
	}
	msg := errors.Join(failed...).Error()
	if !r.warnOnce(key, fleetv1alpha1.ReasonRenderFailed, msg) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("rendering fleet resources failed; their Works are left as they were", "error", msg)
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonRenderFailed, "RenderFleetResources",
		"rendering fleet resources failed; their Works are left as they were: %s", msg)
}

// warnFleetHeld reports fleet resources that left the placement and keep
// their Works: while a FleetFreeze is in force, logged at each reconcile;
// for a placement that matches no cluster, also a Warning Event on the
// Promise, once per message. New fleet resources that a FleetFreeze keeps
// from every cluster (Plan.Waiting) get a Normal Event, once per message.
func (r *Reconciler) warnFleetHeld(ctx context.Context, key Key, p *fleetv1alpha1.Promise, plan instanceplan.Plan) {
	if len(plan.Waiting) == 0 {
		r.warned.Delete(warning{key, fleetv1alpha1.ReasonFleetFrozen})
	} else if msg := instanceplan.WaitingMessage(plan.Waiting, "the Promise's fleet resources"); r.warnOnce(key, fleetv1alpha1.ReasonFleetFrozen, msg) {
		ctrl.LoggerFrom(ctx).Info(msg)
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, fleetv1alpha1.ReasonFleetFrozen, "PlaceFleetResources", "%s", msg)
	}
	if len(plan.Held) == 0 {
		r.warned.Delete(warning{key, fleetv1alpha1.ReasonNoMatchingClusters})
		return
	}
	msg := "the Promise's fleet resources: " + instanceplan.HeldMessage(plan.Held, plan.HeldFor, "the Promise")
	ctrl.LoggerFrom(ctx).Info(msg)
	if plan.HeldFor == instanceplan.HeldForNoCluster && r.warnOnce(key, fleetv1alpha1.ReasonNoMatchingClusters, msg) {
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonNoMatchingClusters, "PlaceFleetResources", "%s", msg)
	}
}

// warnHeld reports, once per message, fleet resources held where they are:
// the Promise's placement does not parse, or names a Fleet whose selector
// does not. Placed nowhere, their Works would be deleted on every cluster
// and the agents would prune the platform's operators for a typo.
func (r *Reconciler) warnHeld(ctx context.Context, key Key, p *fleetv1alpha1.Promise, violations []placement.Violation) {
	msgs := make([]string, 0, len(violations))
	for _, v := range violations {
		msgs = append(msgs, v.Message)
	}
	msg := strings.Join(msgs, "; ")
	if !r.warnOnce(key, fleetv1alpha1.ReasonInvalidSpec, msg) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("the Promise's placement is refused; its fleet resources' Works are left as they were", "violations", msg)
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonInvalidSpec, "PlaceFleetResources",
		"the Promise's placement is refused; its fleet resources' Works are left as they were: %s", msg)
}

// renderMemo holds, by cluster, what the last reconcile of an instance
// rendered and from what (its clusters' outputs, as the Works hold them).
// An instance is reconciled again whenever one of its Works reports, so
// during a rollout over N clusters each reconcile would otherwise render
// all N: at 1,000 clusters, 14 reconciles rendered 14,000 Works for 1,000
// that changed, a quarter of the hub's CPU.
type renderMemo map[string]memoEntry

type memoEntry struct {
	fingerprint string
	// out is kept encoded, as the Work holds it: 10,000 decoded renders
	// were a sixth of the hub's live heap (docs/benchmarks.md).
	out instanceplan.Output
	// latestErr is the current spec's render failure on the cluster, when
	// out is an earlier instance revision's render.
	latestErr error
}

// renderFingerprint names everything a render of in reads: the revision
// (its content is immutable), the instance revision rendered and the
// current spec's (checked for errors too; both name their spec's hash), the
// instance object itself (instanceVersion), the cluster's facts and the
// selected Overrides (uid and resourceVersion). Two renders with the same
// fingerprint give the same output.
func renderFingerprint(in render.Input, instRev, latestInst, instVersion string) string {
	var b strings.Builder
	for _, s := range []string{in.Promise, in.Revision, instRev, latestInst, instVersion, in.Cluster.Name, in.Cluster.KubernetesVersion} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	keys := make([]string, 0, len(in.Cluster.Labels))
	for k := range in.Cluster.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + "=" + in.Cluster.Labels[k])
		b.WriteByte(0)
	}
	for _, o := range in.Overrides {
		// An instance revision's team Overrides have neither: instRev
		// names their content.
		b.WriteString(o.Namespace + "/" + o.Name + "/" + string(o.UID) + "@" + o.ResourceVersion)
		b.WriteByte(0)
	}
	return b.String()
}

// instanceVersion names what a render reads of the instance object: its
// identity (uid), its spec (generation: any change of a custom resource
// other than its metadata and status moves it), and its apiVersion, kind,
// labels and annotations (as a digest). Not its resourceVersion: the
// instance's own status writes move that, and would make every render new.
func instanceVersion(inst *unstructured.Unstructured) string {
	h := sha256.New()
	for _, s := range []string{string(inst.GetUID()), strconv.FormatInt(inst.GetGeneration(), 10), inst.GetAPIVersion(), inst.GetKind()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, m := range []map[string]string{inst.GetLabels(), inst.GetAnnotations()} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Write([]byte(k))
			h.Write([]byte{0})
			h.Write([]byte(m[k]))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// loadRevision reads PromiseRevision name, which must be key's Promise's.
func (r *Reconciler) loadRevision(ctx context.Context, key Key, name string) (*fleetv1alpha1.PromiseRevision, error) {
	rev, err := r.revision(ctx, name)
	if err != nil {
		return nil, err
	}
	if rev.Spec.Promise != key.Promise {
		return nil, fmt.Errorf("revision %s belongs to promise %s, not %s", name, rev.Spec.Promise, key.Promise)
	}
	return rev, nil
}

// writeParallelism is how many of an instance's Works are written at once.
// One instance placed on thousands of clusters has as many Works; written
// one after the other, a Promise change would take a round trip per cluster.
const writeParallelism = 16

// writeAll carries out writes, writeParallelism at a time, and returns each
// Work as it now is (nil where it was not written), how many were created or
// updated, and the clusters whose Work's name another Work holds
// (instanceplan.ErrWorkNameTaken): those are that cluster's failure, not
// the subject's, so the other clusters' writes go on, as they do past a
// cluster whose previous Work is still being deleted. After any other
// failure no new write starts; the first error is returned.
func (r *Reconciler) writeAll(ctx context.Context, writes []instanceplan.Write) ([]*fleetv1alpha1.Work, int, map[string]error, error) {
	written := make([]*fleetv1alpha1.Work, len(writes))
	taken := map[string]error{}
	var (
		mu       sync.Mutex
		firstErr error
		wrote    int
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(writeParallelism, len(writes)) {
		wg.Go(func() {
			for i := range next {
				out, sent, err := r.write(ctx, writes[i])
				mu.Lock()
				switch {
				case errors.Is(err, instanceplan.ErrWorkNameTaken):
					taken[writes[i].Cluster] = err
				case errors.Is(err, errWorkBeingDeleted):
					// Not yet: that cluster counts as not applied meanwhile.
					ctrl.LoggerFrom(ctx).V(1).Info("waiting for the previous Work to be deleted", "cluster", writes[i].Cluster)
				case err != nil && firstErr == nil:
					firstErr = err
				}
				written[i] = out
				if sent {
					wrote++
				}
				mu.Unlock()
			}
		})
	}
	for i := range writes {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return written, wrote, taken, firstErr
}

// write carries out one planned Write, sending nothing when the Work is
// unchanged, and returns the Work as it now is and whether it sent a write.
// The plan compared the desired Work with the cache's copy; where the cache
// has not seen this controller's last update of it yet, the Work as that
// update left it is compared and written over instead (ownWrites).
func (r *Reconciler) write(ctx context.Context, w instanceplan.Write) (*fleetv1alpha1.Work, bool, error) {
	current := r.own.latest(w.Current)
	if w.Op == instanceplan.Unchanged && current == w.Current {
		return w.Current, false, nil
	}
	out, op, over, err := writeWork(ctx, r.Client, r.APIReader, current, w.Desired)
	if err != nil {
		return nil, false, err
	}
	if op == "update" {
		r.own.record(over, out)
	}
	if op != "" {
		r.Metrics.WorkWritten(op)
		log := ctrl.LoggerFrom(ctx).WithValues("cluster", w.Cluster, "revision", w.Desired.Spec.Revision, "instanceRevision", w.Desired.Spec.InstanceRevision)
		if ro := w.Rollout; ro != nil {
			log = log.WithValues("rollout", ro.Namespace+"/"+ro.Name, "wave", ro.Wave)
		}
		if w.Moved {
			// The transition a Rollout's admission leads to, once per Work.
			log.Info("work moved to revision", "operation", op)
		} else {
			log.V(1).Info("wrote work", "operation", op)
		}
	}
	return out, op != "", nil
}

// startInstanceRollout asks for the Rollout of an instance change (see
// instanceplan.Routing.StartRollout).
func (r *Reconciler) startInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, change *instanceplan.InstanceChange) error {
	if r.InstanceRollouts == nil || change == nil {
		return nil
	}
	if err := r.InstanceRollouts.StartInstanceRollout(ctx, p, inst, change.From, change.To); err != nil {
		return fmt.Errorf("starting the rollout of instance revision %s: %w", change.To, err)
	}
	return nil
}

// listWorks lists the Works the hub's index files under key's subject, from
// the cache; instanceplan keeps those the subject owns.
func (r *Reconciler) listWorks(ctx context.Context, key Key) ([]fleetv1alpha1.Work, error) {
	list := &fleetv1alpha1.WorkList{}
	var opts []client.ListOption
	if key.IsFleet() {
		opts = append(opts, client.MatchingFields{controller.IndexWorkByPromise: key.Promise})
	} else {
		opts = append(opts, client.MatchingFields{controller.IndexWorkByInstance: controller.InstanceKey(key.Namespace, key.Name)})
	}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		return nil, fmt.Errorf("listing works: %w", err)
	}
	return list.Items, nil
}

// owned keeps, of works, those key's subject owns (instanceplan.Subject.Owns).
func owned(key Key, works []fleetv1alpha1.Work) []*fleetv1alpha1.Work {
	var out []*fleetv1alpha1.Work
	s := key.plan()
	for i := range works {
		if s.Owns(&works[i]) {
			out = append(out, &works[i])
		}
	}
	return out
}

// deleteAll deletes works (a plan's Delete): the subject's Works on
// clusters it keeps none on.
func (r *Reconciler) deleteAll(ctx context.Context, works []*fleetv1alpha1.Work) error {
	for _, w := range works {
		r.own.forget(w)
		if err := r.Client.Delete(ctx, w); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting work %s/%s: %w", w.Namespace, w.Name, err)
		}
		r.Metrics.WorkWritten("delete")
		ctrl.LoggerFrom(ctx).Info("removed from cluster", "cluster", w.Spec.Cluster)
	}
	return nil
}

// deleteWorks deletes every Work of the subject. With reader set, it lists
// them from there (the API server) rather than the cache.
func (r *Reconciler) deleteWorks(ctx context.Context, key Key, reader client.Reader) error {
	var listed []fleetv1alpha1.Work
	if reader == nil {
		var err error
		if listed, err = r.listWorks(ctx, key); err != nil {
			return err
		}
	} else {
		list := &fleetv1alpha1.WorkList{}
		if err := reader.List(ctx, list, client.MatchingLabels{
			fleetv1alpha1.LabelPromise:           key.Promise,
			fleetv1alpha1.LabelInstanceNamespace: key.Namespace,
			fleetv1alpha1.LabelInstance:          fleetv1alpha1.WorkLabelValue(key.Name),
		}); err != nil {
			return fmt.Errorf("listing works: %w", err)
		}
		listed = list.Items
	}
	works := owned(key, listed)
	for _, w := range works {
		r.own.forget(w)
		if err := r.Client.Delete(ctx, w); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting work %s/%s: %w", w.Namespace, w.Name, err)
		}
		r.Metrics.WorkWritten("delete")
	}
	if len(works) > 0 {
		ctrl.LoggerFrom(ctx).Info("deleted works", "count", len(works))
	}
	return nil
}

// finalize deletes a deleted instance's Works in every cluster namespace
// (agents then prune what they applied) and releases the instance.
func (r *Reconciler) finalize(ctx context.Context, key Key, inst *unstructured.Unstructured) error {
	if !controllerutil.ContainsFinalizer(inst, fleetv1alpha1.Finalizer) {
		return nil
	}
	if err := r.deleteWorks(ctx, key, r.APIReader); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(inst.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(inst, fleetv1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, inst, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("instance deleted; its Works are gone")
	return nil
}

// instancePlacement reads the instance's spec.placement.
func instancePlacement(inst *unstructured.Unstructured) (*fleetv1alpha1.ClusterSelector, error) {
	v, ok, _ := unstructured.NestedFieldNoCopy(inst.Object, "spec", fleetv1alpha1.InstancePlacementField)
	if !ok || v == nil {
		return nil, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("spec.placement: %w", err)
	}
	sel := &fleetv1alpha1.ClusterSelector{}
	if err := json.Unmarshal(raw, sel); err != nil {
		return nil, fmt.Errorf("spec.placement: %w", err)
	}
	return sel, nil
}

func permanent(err error) bool {
	var ce *charts.Error
	return errors.As(err, &ce) && ce.Permanent
}

// reportPromiseDeleting writes the status of an instance whose Promise's
// deletion waits for its instances: nothing is rendered, and its Works, on
// the clusters they are on, stay as they are.
func (r *Reconciler) reportPromiseDeleting(ctx context.Context, key Key, inst *unstructured.Unstructured) error {
	works, err := r.listWorks(ctx, key)
	if err != nil {
		return err
	}
	report := instanceplan.Report{Decision: instanceplan.WaitForRevision, Promise: key.Promise, PromiseDeleting: true, Works: works}
	for _, w := range works {
		report.Placement.Clusters = append(report.Placement.Clusters, w.Labels[fleetv1alpha1.LabelCluster])
	}
	report.Offline = r.offline.among(report.Placement.Clusters)
	old := fleetv1alpha1.InstanceStatus{}
	if raw, ok := inst.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &old)
	}
	status := instanceplan.Status(old, inst.GetGeneration(), report, r.Clock.Now())
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := controller.PatchStatus(ctx, r.Client, r.statusWrites.Of(key.Promise), inst, func(u *unstructured.Unstructured) { u.Object["status"] = raw }); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.recordTransition(ctx, inst, old, status)
	return nil
}

// recordTransition logs and emits an Event when the instance's Ready
// condition changes status or reason.
func (r *Reconciler) recordTransition(ctx context.Context, inst *unstructured.Unstructured, old, cur fleetv1alpha1.InstanceStatus) {
	before := meta.FindStatusCondition(old.Conditions, fleetv1alpha1.ConditionReady)
	after := meta.FindStatusCondition(cur.Conditions, fleetv1alpha1.ConditionReady)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("instance readiness changed", "ready", after.Status, "reason", after.Reason, "message", after.Message)
	eventType := corev1.EventTypeNormal
	switch after.Reason {
	case fleetv1alpha1.ReasonSucceeded, fleetv1alpha1.ReasonProgressing, fleetv1alpha1.ReasonPromiseNotReady:
	default:
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(inst, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}
