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
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/promise"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// Key identifies what the controller renders: an instance of a Promise, or,
// with Namespace and Name empty, the Promise's fleet resources.
type Key struct {
	Promise   string
	Namespace string
	Name      string
}

// IsFleet reports whether k is a Promise's fleet resources.
func (k Key) IsFleet() bool { return k.Name == "" }

// Subject is the Work subject k renders.
func (k Key) Subject() fleetv1alpha1.WorkSubject {
	s := fleetv1alpha1.WorkSubject{Promise: k.Promise}
	if !k.IsFleet() {
		s.Instance = &fleetv1alpha1.InstanceReference{Namespace: k.Namespace, Name: k.Name}
	}
	return s
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
	Charts    *promise.Charts
	Kinds     *promise.Kinds
	// AdmitLatest renders every cluster at the latest revisions at once,
	// whatever Rollouts say (Options.AdmitLatest).
	AdmitLatest bool
	// InstanceRollouts, if set, starts the Rollout of each instance change.
	InstanceRollouts InstanceRolloutStarter
	// Metrics counts Works written and renders; nil counts nothing.
	Metrics *metrics.Hub

	views     viewCache
	revisions revisionCache
	// deferred holds the keys whose status write was put off once (see
	// Reconcile), each with the renders of the reconcile that put it off
	// (renderMemo), which the next reconcile of the key reuses where
	// nothing they were made from changed.
	deferred sync.Map
}

// statusDelay is how long an instance's status report waits after its Works
// were written (see Reconcile).
const statusDelay = 100 * time.Millisecond

// sameConditions reports whether two condition lists agree on every type's
// status and reason.
func sameConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		d := meta.FindStatusCondition(b, c.Type)
		if d == nil || d.Status != c.Status || d.Reason != c.Reason {
			return false
		}
	}
	return true
}

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
		return ctrl.Result{}, r.deleteWorks(ctx, key, nil)
	}
	inst := promise.NewInstance(promise.GVK(&p.Spec.API))
	if err := r.Cache.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: key.Name}, inst); err != nil {
		if apierrors.IsNotFound(err) {
			r.deferred.Delete(key)
			return ctrl.Result{}, r.deleteWorks(ctx, key, nil)
		}
		return ctrl.Result{}, fmt.Errorf("reading instance: %w", err)
	}
	if !inst.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, r.finalize(ctx, key, inst)
	}
	if !p.DeletionTimestamp.IsZero() {
		// The Promise controller decides what happens to its instances.
		return ctrl.Result{}, nil
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
	status := newStatus(old, inst.GetGeneration(), o, r.Clock.Now())
	if o.wrote > 0 && sameConditions(old.Conditions, status.Conditions) {
		// Works change what runs on members; the status only reports. When a
		// change fans out to many instances, write every Work first: report
		// a little later, at low priority (once; the next reconcile writes it).
		if _, deferred := r.deferred.LoadOrStore(key, o.rendered); !deferred {
			return ctrl.Result{RequeueAfter: statusDelay, Priority: ptr.To(handler.LowPriority)}, nil
		}
	}
	r.deferred.Delete(key)
	result := ctrl.Result{}
	if !o.nextExpiry.IsZero() {
		// Drop the expired DriftException from the Works then.
		result.RequeueAfter = max(o.nextExpiry.Sub(r.Clock.Now()), 0) + time.Second
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&status)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("encoding status: %w", err)
	}
	if err := controller.PatchStatus(ctx, r.Client, inst, func(u *unstructured.Unstructured) { u.Object["status"] = raw }); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.recordTransition(ctx, inst, old, status)
	return result, nil
}

// reconcileInstance places and renders an instance, writes its Works and
// returns what the status is made from.
func (r *Reconciler) reconcileInstance(ctx context.Context, key Key, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured) (observation, error) {
	o := observation{renderErrors: map[string]error{}}
	latest := p.Status.LatestRevision
	existing, err := r.works(ctx, key)
	if err != nil {
		return o, err
	}
	if latest == "" {
		o.promiseNotReady = fmt.Sprintf("Promise %s has no revision yet (see its conditions)", p.Name)
		return o, nil
	}
	view, err := r.view(ctx)
	if err != nil {
		return o, err
	}
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: key.Namespace}, ns); client.IgnoreNotFound(err) != nil {
		return o, fmt.Errorf("reading namespace %s: %w", key.Namespace, err)
	}
	narrow, err := instancePlacement(inst)
	if err != nil {
		o.placement = placement.Result{Violations: []placement.Violation{{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: err.Error()}}}
		return o, nil
	}
	o.placement = view.Place(placement.Request{
		Promise:   p.Spec.Placement,
		Instance:  narrow,
		Namespace: placement.Namespace{Name: key.Namespace, Labels: ns.Labels},
	})
	if len(o.placement.Violations) > 0 {
		// Nothing is written, and nothing already written is taken away: a
		// violation is most often a mistake in a Fleet, to be fixed.
		o.works = pick(existing, o.placement.Clusters)
		return o, nil
	}
	overrides, err := r.overrides(ctx)
	if err != nil {
		return o, err
	}
	exceptions, err := r.driftExceptions(ctx, key, r.Clock.Now())
	if err != nil {
		return o, err
	}
	latestInst, err := r.ensureInstanceRevision(ctx, key, inst, existing)
	if err != nil {
		return o, err
	}
	if err := r.startInstanceRollout(ctx, p, inst, existing, latestInst); err != nil {
		return o, err
	}
	o.instanceRevision = latestInst
	if o.specRollout, err = r.specRollout(ctx, key, latestInst); err != nil {
		return o, err
	}
	rt, err := r.routesFor(ctx, key)
	if err != nil {
		return o, err
	}
	renderable := inst.DeepCopy()
	unstructured.RemoveNestedField(renderable.Object, "spec", fleetv1alpha1.InstancePlacementField)
	renderables := map[string]*unstructured.Unstructured{latestInst: renderable}
	instLabels := inst.GetLabels()

	// The renders of the reconcile that put this one's status off, if any:
	// that reconcile wrote the Works, this one reports them, and need not
	// render what nothing changed since.
	var memo renderMemo
	if m, ok := r.deferred.Load(key); ok {
		memo, _ = m.(renderMemo)
	}
	o.rendered = renderMemo{}
	var writes []pendingWrite
	for _, cluster := range o.placement.Clusters {
		log := ctrl.LoggerFrom(ctx).WithValues("cluster", cluster)
		current := existing[cluster]
		rev, err := r.admitted(ctx, key, rt, cluster, current, latest)
		if err != nil {
			return o, err
		}
		curInst := ""
		if current != nil {
			curInst = current.Spec.InstanceRevision
		}
		instRev := rt.instanceRevision(cluster, curInst, latestInst)
		renderable, ok := renderables[instRev]
		if !ok {
			if renderable, err = r.renderableAt(ctx, inst, instRev); err != nil {
				return o, err
			}
			renderables[instRev] = renderable
		}
		facts, _ := view.Cluster(cluster)
		selected := view.SelectOverrides(overrides, placement.Subject{
			Promise:  key.Promise,
			Cluster:  cluster,
			Instance: &placement.Instance{Namespace: key.Namespace, Name: key.Name, Labels: instLabels},
		})
		chart, err := r.Charts.Load(ctx, &rev.Spec.Content)
		if err != nil {
			if !permanent(err) {
				return o, err
			}
			o.renderErrors[cluster] = err
			continue
		}
		// The admitted revision's output confines the render (and, through
		// the Work, the agent): an earlier revision keeps its own.
		sc, err := scope.ForInstance(rev.Spec.Content.Output, key.Namespace, key.Name)
		if err != nil {
			o.renderErrors[cluster] = fmt.Errorf("promise revision %s: %w", rev.Name, err)
			continue
		}
		if sc.Kinds == nil {
			sc.Kinds = []fleetv1alpha1.OutputKind{} // no output: nothing is allowed (and the Work says so)
		}
		in := render.Input{
			Promise:   key.Promise,
			Revision:  rev.Name,
			Content:   &rev.Spec.Content,
			Instance:  renderable,
			Cluster:   render.ClusterFacts{Name: cluster, Labels: facts.Labels, KubernetesVersion: facts.KubernetesVersion},
			Overrides: selected,
			Chart:     chart,
			Scope:     sc,
		}
		fp := renderFingerprint(in, instRev, latestInst, inst.GetResourceVersion())
		if m, ok := memo[cluster]; ok && m.fingerprint == fp {
			o.rendered[cluster] = m
			writes = append(writes, pendingWrite{cluster: cluster, revs: revisions{rev.Name, instRev}, out: m.out, current: current,
				rollout:    rt.admittedBy(cluster, rev.Name),
				exceptions: workExceptions(view.View, cluster, m.out.Manifests, exceptions),
				confine:    confinement{scope: sc, adoption: adoption(rev.Spec.Content.Output)}})
			continue
		}
		start := time.Now()
		out, err := render.Render(in)
		r.Metrics.Rendered(time.Since(start))
		if err == nil && instRev != latestInst {
			// The cluster keeps an earlier spec until a Rollout admits it to
			// the new one; a new spec that cannot render is reported now,
			// not when its turn comes.
			in.Instance = renderables[latestInst]
			_, err = render.Render(in)
		}
		if err != nil {
			r.Metrics.RenderFailed(key.Promise)
			log.V(1).Info("render failed", "revision", rev.Name, "error", err.Error())
			o.renderErrors[cluster] = err
			continue
		}
		o.rendered[cluster] = memoEntry{fingerprint: fp, out: out}
		writes = append(writes, pendingWrite{cluster: cluster, revs: revisions{rev.Name, instRev}, out: out, current: current,
			rollout:    rt.admittedBy(cluster, rev.Name),
			exceptions: workExceptions(view.View, cluster, out.Manifests, exceptions),
			confine:    confinement{scope: sc, adoption: adoption(rev.Spec.Content.Output)}})
	}
	written, err := r.writeAll(ctx, key, writes, p.Spec.DriftPolicy)
	for i, w := range written {
		if w == nil {
			continue // not written: its write failed, or another's did first
		}
		if w != writes[i].current {
			o.wrote++
		}
		// The status rolls up what was just written, not the cache, which
		// has not seen the write yet.
		existing[writes[i].cluster] = w
	}
	if err != nil {
		return o, err
	}
	if err := r.deleteUnplaced(ctx, existing, o.placement.Clusters); err != nil {
		return o, err
	}
	o.works = pick(existing, o.placement.Clusters)
	o.nextExpiry = nextExpiry(pickMap(existing, o.placement.Clusters))
	return o, nil
}

// reconcileFleet writes the Promise's fleet-resource Works: one per cluster
// of its placement, for the revision admitted there. It returns when the
// first DriftException in them expires (zero: none).
func (r *Reconciler) reconcileFleet(ctx context.Context, key Key, p *fleetv1alpha1.Promise) (time.Time, error) {
	if p == nil {
		return time.Time{}, r.deleteWorks(ctx, key, nil)
	}
	if !p.DeletionTimestamp.IsZero() || p.Status.LatestRevision == "" {
		return time.Time{}, nil
	}
	existing, err := r.works(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	view, err := r.view(ctx)
	if err != nil {
		return time.Time{}, err
	}
	overrides, err := r.overrides(ctx)
	if err != nil {
		return time.Time{}, err
	}
	exceptions, err := r.driftExceptions(ctx, key, r.Clock.Now())
	if err != nil {
		return time.Time{}, err
	}
	rt, err := r.routesFor(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	res := view.Place(placement.Request{Promise: p.Spec.Placement, Namespace: placement.Namespace{Name: fleetv1alpha1.PlatformNamespace}})
	var keep []string
	var failed []error
	for _, cluster := range res.Clusters {
		current := existing[cluster]
		rev, err := r.admitted(ctx, key, rt, cluster, current, p.Status.LatestRevision)
		if err != nil {
			return time.Time{}, err
		}
		if len(rev.Spec.Content.FleetResources) == 0 {
			continue
		}
		keep = append(keep, cluster)
		facts, _ := view.Cluster(cluster)
		out, err := render.RenderFleetResources(render.Input{
			Promise:   key.Promise,
			Revision:  rev.Name,
			Content:   &rev.Spec.Content,
			Cluster:   render.ClusterFacts{Name: cluster, Labels: facts.Labels, KubernetesVersion: facts.KubernetesVersion},
			Overrides: view.SelectOverrides(overrides, placement.Subject{Promise: key.Promise, Cluster: cluster}),
		})
		if err != nil {
			r.Metrics.RenderFailed(key.Promise)
			failed = append(failed, fmt.Errorf("%s: %w", cluster, err))
			continue
		}
		w, err := r.write(ctx, key, cluster, revisions{promise: rev.Name}, rt.admittedBy(cluster, rev.Name), out, p.Spec.DriftPolicy, current,
			workExceptions(view.View, cluster, out.Manifests, exceptions), confinement{adoption: adoption(rev.Spec.Content.Output)})
		if err != nil {
			return time.Time{}, err
		}
		existing[cluster] = w
	}
	if len(failed) > 0 {
		err := errors.Join(failed...)
		ctrl.LoggerFrom(ctx).Info("rendering fleet resources failed; their Works are left as they were", "error", err.Error())
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonRenderFailed, "RenderFleetResources",
			"rendering fleet resources failed; their Works are left as they were: %v", err)
	}
	if err := r.deleteUnplaced(ctx, existing, keep); err != nil {
		return time.Time{}, err
	}
	return nextExpiry(pickMap(existing, keep)), nil
}

// renderMemo holds, by cluster, what one reconcile of an instance rendered
// and from what. It lives only from the reconcile that writes an instance's
// Works to the one, a moment later, that reports its status (see
// Reconcile): without it, every change would render each instance twice.
type renderMemo map[string]memoEntry

type memoEntry struct {
	fingerprint string
	out         render.Output
}

// renderFingerprint names everything a render of in reads: the revision
// (its content is immutable), the instance revision rendered and the
// current spec's (checked for errors too; both name their spec's hash), the
// instance object itself (its resourceVersion: metadata, spec), the
// cluster's facts and the selected Overrides (uid and resourceVersion).
// Two renders with the same fingerprint give the same output.
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
		b.WriteString(string(o.UID) + "@" + o.ResourceVersion)
		b.WriteByte(0)
	}
	return b.String()
}

// pickMap keeps the Works of clusters.
func pickMap(works map[string]*fleetv1alpha1.Work, clusters []string) map[string]*fleetv1alpha1.Work {
	out := make(map[string]*fleetv1alpha1.Work, len(clusters))
	for _, c := range clusters {
		if w, ok := works[c]; ok {
			out[c] = w
		}
	}
	return out
}

// admitted returns the PromiseRevision cluster is admitted to.
func (r *Reconciler) admitted(ctx context.Context, key Key, rt routes, cluster string, current *fleetv1alpha1.Work, latest string) (*fleetv1alpha1.PromiseRevision, error) {
	cur := ""
	if current != nil {
		cur = current.Spec.Revision
	}
	name := rt.revision(cluster, cur, latest)
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

// pendingWrite is one cluster's rendered Work, waiting to be written.
type pendingWrite struct {
	cluster string
	revs    revisions
	// rollout names the Rollout that admitted the cluster to revs.promise.
	rollout *fleetv1alpha1.RolloutReference
	out     render.Output
	current *fleetv1alpha1.Work
	// exceptions are the DriftExceptions for the Work.
	exceptions []fleetv1alpha1.WorkDriftException
	confine    confinement
}

// confinement is what the agent checks a Work's manifests against again:
// its scope (instances only) and the Promise's adoption policy.
type confinement struct {
	scope    *fleetv1alpha1.WorkScope
	adoption fleetv1alpha1.AdoptionPolicy
}

// adoption is the adoption policy of a revision's output, Never by default.
func adoption(out *fleetv1alpha1.PromiseOutput) fleetv1alpha1.AdoptionPolicy {
	if out == nil || out.Adoption == "" {
		return fleetv1alpha1.AdoptionNever
	}
	return out.Adoption
}

// writeAll writes the Works of writes, writeParallelism at a time, and
// returns each one as it now is (nil where it was not written). After a
// failure no new write starts; the first error is returned.
func (r *Reconciler) writeAll(ctx context.Context, key Key, writes []pendingWrite, drift fleetv1alpha1.DriftPolicy) ([]*fleetv1alpha1.Work, error) {
	written := make([]*fleetv1alpha1.Work, len(writes))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(writeParallelism, len(writes)) {
		wg.Go(func() {
			for i := range next {
				w := writes[i]
				out, err := r.write(ctx, key, w.cluster, w.revs, w.rollout, w.out, drift, w.current, w.exceptions, w.confine)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				written[i] = out
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
	return written, firstErr
}

// revisions is what a Work renders: a PromiseRevision and, for an instance,
// an instance revision.
type revisions struct {
	promise, instance string
}

// write renders out into the cluster's Work, writing only a change, and
// returns the Work as it now is. rollout names the Rollout that admitted
// revs.promise there (nil: none).
func (r *Reconciler) write(ctx context.Context, key Key, cluster string, revs revisions, rollout *fleetv1alpha1.RolloutReference, out render.Output,
	drift fleetv1alpha1.DriftPolicy, existing *fleetv1alpha1.Work, exceptions []fleetv1alpha1.WorkDriftException, confine confinement) (*fleetv1alpha1.Work, error) {
	desired, err := desiredWork(key, cluster, revs, out.Manifests, out.AppliedOverrides, drift, rollout)
	if err != nil {
		return nil, err
	}
	desired.Spec.DriftExceptions = exceptions
	desired.Spec.Scope = confine.scope
	desired.Spec.Adoption = confine.adoption
	moved := existing == nil || existing.Spec.Revision != revs.promise || existing.Spec.InstanceRevision != revs.instance
	if moved {
		desired.Annotations = map[string]string{fleetv1alpha1.AnnotationAdmittedAt: r.Clock.Now().UTC().Format(time.RFC3339)}
	}
	w, op, err := writeWork(ctx, r.Client, r.APIReader, existing, desired)
	if err != nil {
		return nil, err
	}
	if op != "" {
		r.Metrics.WorkWritten(op)
		log := ctrl.LoggerFrom(ctx).WithValues("cluster", cluster, "revision", revs.promise, "instanceRevision", revs.instance)
		if rollout != nil {
			log = log.WithValues("rollout", rollout.Namespace+"/"+rollout.Name, "wave", rollout.Wave)
		}
		if moved {
			// The transition a Rollout's admission leads to, once per Work.
			log.Info("work moved to revision", "operation", op)
		} else {
			log.V(1).Info("wrote work", "operation", op)
		}
	}
	return w, nil
}

// startInstanceRollout asks for the Rollout of an instance change when some
// of its Works render an earlier instance revision.
func (r *Reconciler) startInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, works map[string]*fleetv1alpha1.Work, latest string) error {
	if r.InstanceRollouts == nil {
		return nil
	}
	previous := ""
	for _, w := range works {
		if rev := w.Spec.InstanceRevision; rev != "" && rev != latest && (previous == "" || rev < previous) {
			previous = rev
		}
	}
	if previous == "" {
		return nil
	}
	if err := r.InstanceRollouts.StartInstanceRollout(ctx, p, inst, previous, latest); err != nil {
		return fmt.Errorf("starting the rollout of instance revision %s: %w", latest, err)
	}
	return nil
}

// works returns the subject's Works from the cache, by cluster.
func (r *Reconciler) works(ctx context.Context, key Key) (map[string]*fleetv1alpha1.Work, error) {
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
	out := map[string]*fleetv1alpha1.Work{}
	want := key.Subject()
	for i := range list.Items {
		w := &list.Items[i]
		if w.Spec.Subject.Promise != want.Promise || (w.Spec.Subject.Instance == nil) != key.IsFleet() || !w.DeletionTimestamp.IsZero() {
			continue
		}
		if !hubOwned(w) {
			continue // written by someone else (an ad hoc Work): never the hub's to replace or delete
		}
		out[w.Spec.Cluster] = w
	}
	return out, nil
}

// hubOwned reports whether the hub wrote w (see desiredWork's labels). Works
// applied by people or other tools share the namespace and may name the same
// subject; the hub leaves them alone.
func hubOwned(w *fleetv1alpha1.Work) bool {
	return w.Labels[fleetv1alpha1.LabelManagedBy] == fleetv1alpha1.ManagedByValue
}

func pick(works map[string]*fleetv1alpha1.Work, clusters []string) []fleetv1alpha1.Work {
	out := make([]fleetv1alpha1.Work, 0, len(clusters))
	for _, c := range clusters {
		if w, ok := works[c]; ok {
			out = append(out, *w)
		}
	}
	return out
}

// deleteUnplaced deletes the Works on clusters the subject is no longer placed on.
func (r *Reconciler) deleteUnplaced(ctx context.Context, existing map[string]*fleetv1alpha1.Work, placed []string) error {
	keep := make(map[string]bool, len(placed))
	for _, c := range placed {
		keep[c] = true
	}
	for cluster, w := range existing {
		if keep[cluster] {
			continue
		}
		if err := r.Client.Delete(ctx, w); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting work %s/%s: %w", w.Namespace, w.Name, err)
		}
		r.Metrics.WorkWritten("delete")
		ctrl.LoggerFrom(ctx).Info("removed from cluster", "cluster", cluster)
	}
	return nil
}

// deleteWorks deletes every Work of the subject. With reader set, it lists
// them from there (the API server) rather than the cache.
func (r *Reconciler) deleteWorks(ctx context.Context, key Key, reader client.Reader) error {
	var works []*fleetv1alpha1.Work
	if reader == nil {
		byCluster, err := r.works(ctx, key)
		if err != nil {
			return err
		}
		for _, w := range byCluster {
			works = append(works, w)
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
		for i := range list.Items {
			w := &list.Items[i]
			if i := w.Spec.Subject.Instance; i != nil && i.Namespace == key.Namespace && i.Name == key.Name && hubOwned(w) {
				works = append(works, w)
			}
		}
	}
	for _, w := range works {
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
	var ce *promise.ChartError
	return errors.As(err, &ce) && ce.Permanent
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
