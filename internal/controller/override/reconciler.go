// Package override is the hub's Override controller. Overrides are applied
// by the instance controller at render time; this controller reports what
// each one affects (the clusters and Works it shaped, so `kubectl get
// overrides` shows it) and whether it is valid and within its scope: an
// Override in a team namespace shapes only that namespace's instances, may
// not move or rename rendered resources, and its patch must stay inside the
// objects it patches (see render.CheckTeamPatch and render.CheckValuesPatch;
// the render refuses the same, per instance).
package override

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// IndexWorkByOverride indexes Works by the Overrides that shaped them
// (spec.overrides, namespace/name).
const IndexWorkByOverride = "spec.overrides"

// Reconciler reconciles Overrides.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock

	// statusWrites is each Override's resourceVersion after this
	// controller's last status write (controller.PatchStatus): its own
	// writes do not wake it (GenerationChangedPredicate).
	statusWrites controller.OwnWrites
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("override", req.String())
	ctx = ctrl.LoggerInto(ctx, log)
	o := &fleetv1alpha1.Override{}
	if err := r.Client.Get(ctx, req.NamespacedName, o); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusWrites.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !o.DeletionTimestamp.IsZero() {
		r.statusWrites.Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{IndexWorkByOverride: placement.OverrideKey(o)}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing works: %w", err)
	}
	refused, err := r.refusal(ctx, o)
	if err != nil {
		return ctrl.Result{}, err
	}
	pending, err := r.pendingWorks(ctx, o, works.Items)
	if err != nil {
		return ctrl.Result{}, err
	}
	before := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
	status := newStatus(o, works.Items, pending, refused, r.Clock.Now())
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, o, func(o *fleetv1alpha1.Override) { o.Status = status }); err != nil {
		return ctrl.Result{}, err
	}
	after := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionReady)
	if after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		log.Info("override readiness changed", "ready", after.Status, "reason", after.Reason, "message", after.Message)
		eventType := corev1.EventTypeNormal
		if after.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(o, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
	}
	return ctrl.Result{}, nil
}

// refusal judges a team's patch as the render will, from what can be known
// without rendering: a JSONMerge or StrategicMerge patch from its spec (no $
// directive, no apiVersion, kind, name or namespace), a Values patch against
// the schema of its Promise's latest revision (when spec.promise names one;
// a change of the Promise judges it again).
// It returns the *render.OverrideError, or nil.
func (r *Reconciler) refusal(ctx context.Context, o *fleetv1alpha1.Override) (error, error) {
	if err := render.CheckTeamPatch(o); err != nil {
		return err, nil
	}
	if o.Spec.Type != fleetv1alpha1.PatchValues || o.Spec.Promise == "" || o.Namespace == fleetv1alpha1.PlatformNamespace {
		return nil, nil
	}
	p := &fleetv1alpha1.Promise{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: o.Spec.Promise}, p); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	content := &p.Spec.PromiseContent
	if latest := p.Status.LatestRevision; latest != "" {
		rev := &fleetv1alpha1.PromiseRevision{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: latest}, rev); err == nil {
			content = &rev.Spec.Content
		} else if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	var oe *render.OverrideError
	if err := render.CheckValuesPatch(content, o); errors.As(err, &oe) {
		return err, nil
	}
	return nil, nil
}

// pendingWorks counts the Works among works (those listing team Override o)
// that render an earlier spec of it: a Work lists the Overrides of the
// instance revision it renders by name, and that revision snapshotted o
// before its last change (instanceplan.RendersEarlierSpec). A platform
// Override applies at once: none of its Works is pending.
func (r *Reconciler) pendingWorks(ctx context.Context, o *fleetv1alpha1.Override, works []fleetv1alpha1.Work) (int32, error) {
	if o.Namespace == fleetv1alpha1.PlatformNamespace || len(works) == 0 {
		return 0, nil
	}
	live, err := instanceplan.SnapshotOverride(o)
	if err != nil {
		return 0, nil // an invalid patch: the status says so, and nothing renders it
	}
	earlier := map[string]bool{} // by instance revision
	var pending int32
	for i := range works {
		rev := works[i].Spec.InstanceRevision
		if rev == "" {
			continue
		}
		is, seen := earlier[rev]
		if !seen {
			cr := &appsv1.ControllerRevision{}
			switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: rev}, cr); {
			case apierrors.IsNotFound(err):
				// Collected: the Work moves on at its instance's next reconcile.
			case err != nil:
				return 0, fmt.Errorf("reading instance revision %s/%s: %w", o.Namespace, rev, err)
			default:
				snapshot, recorded := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]
				is = instanceplan.RendersEarlierSpec(live, snapshot, recorded)
			}
			earlier[rev] = is
		}
		if is {
			pending++
		}
	}
	return pending, nil
}

// newStatus is the Override's status given the Works it shaped (pending of
// them at an earlier spec of it) and, if its patch is refused, why.
func newStatus(o *fleetv1alpha1.Override, works []fleetv1alpha1.Work, pending int32, refused error, now time.Time) fleetv1alpha1.OverrideStatus {
	status := *o.Status.DeepCopy()
	status.ObservedGeneration = o.Generation
	clusters := map[string]bool{}
	for i := range works {
		clusters[works[i].Spec.Cluster] = true
	}
	status.AffectedWorks = int32(len(works))
	status.AffectedClusters = int32(len(clusters))
	status.PendingWorks = pending
	set := fleetv1alpha1.NewConditionSetter(&status.Conditions, o.Generation, now).Set
	if err := placement.CheckOverride(o); err != nil {
		reason := fleetv1alpha1.ReasonInvalidSpec
		var se *placement.ScopeError
		if errors.As(err, &se) {
			reason = fleetv1alpha1.ReasonOutOfScope
		}
		msg := err.Error() + "; it shapes nothing"
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, "")
		return status
	}
	if refused != nil {
		// A render it selects fails, naming it: the instance keeps its Works.
		msg := refused.Error() + "; the instances it selects keep their Works as they were, and say so"
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonPatchNotAllowed, msg)
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonPatchNotAllowed, msg)
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonPatchNotAllowed, "")
		return status
	}
	scope := "any instance and the fleet resources"
	switch {
	case o.Namespace != fleetv1alpha1.PlatformNamespace:
		scope = "instances in namespace " + o.Namespace + " only, each through the Rollout of its instance's change"
	case o.Spec.InstanceSelector != nil:
		scope = "instances matching its instanceSelector"
	}
	if o.Spec.Promise != "" {
		scope = "Promise " + o.Spec.Promise + ": " + scope
	}
	msg := "may shape " + scope
	if pending > 0 {
		msg += fmt.Sprintf("; %d of the %d Works it shapes render an earlier spec of it until their instances' Rollouts move them on", pending, len(works))
	}
	set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, msg)
	set(fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	return status
}
