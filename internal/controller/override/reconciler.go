// Package override is the hub's Override controller. Overrides are applied
// by the instance controller at render time; this controller reports what
// each one affects (the clusters and Works it shaped, so `kubectl get
// overrides` shows it) and whether it is valid and within its scope: an
// Override in a team namespace shapes only that namespace's instances and may
// not move or rename rendered resources.
package override

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

// IndexWorkByOverride indexes Works by the Overrides that shaped them
// (spec.overrides, namespace/name).
const IndexWorkByOverride = "spec.overrides"

// Reconciler reconciles Overrides.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("override", req.String())
	ctx = ctrl.LoggerInto(ctx, log)
	o := &fleetv1alpha1.Override{}
	if err := r.Client.Get(ctx, req.NamespacedName, o); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !o.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{IndexWorkByOverride: placement.OverrideKey(o)}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing works: %w", err)
	}
	before := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
	status := newStatus(o, works.Items, r.Clock.Now())
	if err := controller.PatchStatus(ctx, r.Client, o, func(o *fleetv1alpha1.Override) { o.Status = status }); err != nil {
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

// newStatus is the Override's status given the Works it shaped.
func newStatus(o *fleetv1alpha1.Override, works []fleetv1alpha1.Work, now time.Time) fleetv1alpha1.OverrideStatus {
	status := *o.Status.DeepCopy()
	status.ObservedGeneration = o.Generation
	clusters := map[string]bool{}
	for i := range works {
		clusters[works[i].Spec.Cluster] = true
	}
	status.AffectedWorks = int32(len(works))
	status.AffectedClusters = int32(len(clusters))
	set := func(typ string, s metav1.ConditionStatus, reason, message string) {
		controller.SetCondition(&status.Conditions, metav1.Condition{
			Type: typ, Status: s, Reason: reason, Message: message, ObservedGeneration: o.Generation,
		}, now)
	}
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
	scope := "any instance and the fleet resources"
	switch {
	case o.Namespace != fleetv1alpha1.PlatformNamespace:
		scope = "instances in namespace " + o.Namespace + " only"
	case o.Spec.InstanceSelector != nil:
		scope = "instances matching its instanceSelector"
	}
	if o.Spec.Promise != "" {
		scope = "Promise " + o.Spec.Promise + ": " + scope
	}
	set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "may shape "+scope)
	set(fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	return status
}
