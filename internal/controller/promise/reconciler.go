// Package promise is the hub's Promise controller. For each Promise it
// generates and installs the instance CRD from spec.api, checks that the
// templates render every declared example, snapshots what renders into an
// immutable, content-addressed PromiseRevision, garbage-collects unused
// revisions, reports where each revision runs, and guards deletion while
// instances exist. Rendering instances is the instance controller's job.
package promise

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
)

// Requeue intervals.
const (
	// retryChart is how soon an unreachable chart repository is tried again.
	retryChart = 30 * time.Second
	// retryDeletion is how often a Promise held by its instances looks again
	// (instance deletions also wake it).
	retryDeletion = 30 * time.Second
)

// RolloutStarter starts the Rollout that moves a Promise's instances from
// the revision they run to its new latest revision. It must be idempotent.
// The Rollout controller's Starter implements it; the hub wires the two
// together, so neither controller imports the other.
type RolloutStarter interface {
	StartRollout(ctx context.Context, p *fleetv1alpha1.Promise, previous, latest string) error
}

// Reconciler reconciles Promises.
type Reconciler struct {
	// Client reads from the hub's cache and writes.
	Client client.Client
	// APIReader reads from the API server: CRDs Flotilla does not manage (the
	// cache holds only its own), and whether instances still exist before the
	// API is deleted.
	APIReader client.Reader
	// Instances reads instances (unstructured) from the cache the instance
	// controller watches them with.
	Instances client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Charts    *charts.Resolver
	// Rollouts, if set, starts the Rollout of each new latest revision.
	Rollouts RolloutStarter
	// rendered remembers content that renders its examples.
	rendered hashSet
	// Kinds is told when a Promise's instance kind is served and when it is gone.
	Kinds *instancekinds.Registry

	// statusWrites is each Promise's resourceVersion after this
	// controller's last status write, revisionWrites each revision's, by
	// Promise (controller.PatchStatus): its own status writes do not wake
	// it (generation predicate; revisions' updates are ignored).
	statusWrites   controller.OwnWrites
	revisionWrites controller.OwnWritesByOwner
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("promise", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	p := &fleetv1alpha1.Promise{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			// Its revisions go with it (owner references).
			r.statusWrites.Forget(req.NamespacedName)
			r.revisionWrites.Forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	if !controllerutil.ContainsFinalizer(p, fleetv1alpha1.Finalizer) {
		patch := client.MergeFrom(p.DeepCopy())
		controllerutil.AddFinalizer(p, fleetv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, p, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	now := r.Clock.Now()
	before := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	status, created, result, err := r.reconcile(ctx, p, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if prev := p.Status.LatestRevision; r.Rollouts != nil && prev != "" && status.LatestRevision != prev {
		// Before the new revision is published: whoever sees it finds its
		// Rollout, and a crash here starts the same Rollout again.
		if err := r.Rollouts.StartRollout(ctx, p, prev, status.LatestRevision); err != nil {
			return ctrl.Result{}, fmt.Errorf("starting the rollout of %s: %w", status.LatestRevision, err)
		}
	}
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, p, func(p *fleetv1alpha1.Promise) { p.Status = status }); err != nil {
		return ctrl.Result{}, err
	}
	if created != "" {
		log.Info("created revision", "revision", created)
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, fleetv1alpha1.ReasonRevisionCreated, "CreateRevision",
			"created PromiseRevision %s", created)
	}
	r.recordTransition(ctx, p, before)
	return result, nil
}

// recordTransition logs and emits an Event when Ready changes status or reason.
func (r *Reconciler) recordTransition(ctx context.Context, p *fleetv1alpha1.Promise, before *metav1.Condition) {
	after := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("promise readiness changed", "ready", after.Status, "reason", after.Reason, "message", after.Message)
	eventType := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue && after.Reason != fleetv1alpha1.ReasonProgressing {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(p, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}

// reconcile returns the Promise's new status, the revision it created (if
// any) and when to look again. It observes the Promise's revisions and its
// content (prepare: the CRD generated, the chart resolved, the examples
// rendered); then writes, each step idempotent and in the order the next
// depends on: the instance CRD, then, once it is Established, the revision
// (with its chart snapshot), the kind's watches, and the collection of unused
// revisions; and last decides the status from what it found (newConditions).
func (r *Reconciler) reconcile(ctx context.Context, p *fleetv1alpha1.Promise, now time.Time) (fleetv1alpha1.PromiseStatus, string, ctrl.Result, error) {
	var none fleetv1alpha1.PromiseStatus
	revisions, err := r.revisions(ctx, p.Name)
	if err != nil {
		return none, "", ctrl.Result{}, err
	}
	prep, prob, err := r.prepare(ctx, p)
	if err != nil {
		return none, "", ctrl.Result{}, err
	}
	o := outcome{problem: prob, rendered: prob == nil}
	if latest := findRevision(revisions, p.Status.LatestRevision); latest != nil {
		o.latest, o.latestNumber = latest.Name, latest.Spec.Revision
	}

	if o.problem == nil {
		o.established, o.problem, err = r.installAPI(ctx, p, prep.crd)
		if err != nil {
			return none, "", ctrl.Result{}, err
		}
	} else {
		// The CRD stays as the last good content left it.
		o.established = r.ownedCRDEstablished(ctx, p)
	}
	var created string
	if o.problem == nil && o.established {
		rev, isNew, err := r.recordRevision(ctx, p, prep, revisions)
		if err != nil {
			return none, "", ctrl.Result{}, err
		}
		if isNew {
			created = rev.Name
			revisions = append(revisions, *rev)
		}
		o.latest, o.latestNumber = rev.Name, rev.Spec.Revision
	}
	if o.established {
		if o.instances, err = r.serveInstances(ctx, p); err != nil {
			return none, "", ctrl.Result{}, err
		}
	}
	usage, deleted, err := r.collectRevisions(ctx, p, revisions, o.latest)
	if err != nil {
		return none, "", ctrl.Result{}, err
	}

	status := *p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	status.LatestRevision = o.latest
	status.Instances = o.instances
	status.Revisions = RevisionStatuses(revisions, deleted, usage)
	newConditions(&status, p.Generation, o, now)
	var result ctrl.Result
	if o.problem != nil && !o.problem.stalled {
		result.RequeueAfter = retryChart
	}
	return status, created, result, nil
}

// serveInstances registers the Promise's instance kind, so the controllers
// that watch instances start watching it, and counts its instances.
func (r *Reconciler) serveInstances(ctx context.Context, p *fleetv1alpha1.Promise) (int32, error) {
	if err := r.Kinds.Register(ctx, p.Name, instanceapi.GVK(&p.Spec.API)); err != nil {
		return 0, fmt.Errorf("watching %s instances: %w", p.Spec.API.Kind, err)
	}
	return r.countInstances(ctx, p)
}

// countInstances counts the Promise's instances in the cache.
func (r *Reconciler) countInstances(ctx context.Context, p *fleetv1alpha1.Promise) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list := &unstructured.UnstructuredList{}
	gvk := instanceapi.GVK(&p.Spec.API)
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.Instances.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("counting %s instances: %w", gvk.Kind, err)
	}
	return int32(len(list.Items)), nil
}
