// Package freeze is the hub's FleetFreeze controller. The Rollout controller
// enforces a freeze (it passes the active one to the engine); this controller
// only reports on it: whether it is still active, how many Rollouts it holds
// and how many it rolled back.
package freeze

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// Reconciler writes FleetFreeze status.
type Reconciler struct {
	Client   client.Client
	Clock    clock.PassiveClock
	Recorder events.EventRecorder

	// statusWrites is each freeze's resourceVersion after this controller's
	// last status write (controller.PatchStatus).
	statusWrites controller.OwnWrites
}

// SetupWithManager registers the FleetFreeze controller with mgr.
func SetupWithManager(mgr ctrl.Manager) error {
	r := &Reconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}, Recorder: controller.EventRecorder(mgr, EventSource)}
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).
		Named("fleetfreeze").
		WithOptions(controller.Options(0)).
		For(&fleetv1alpha1.FleetFreeze{}).
		// Rollouts it holds or rolls back change its counts.
		Watches(&fleetv1alpha1.Rollout{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			list := &fleetv1alpha1.FleetFreezeList{}
			if err := c.List(ctx, list); err != nil {
				return nil
			}
			out := make([]reconcile.Request, 0, len(list.Items))
			for _, f := range list.Items {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&f)})
			}
			return out
		})).
		Complete(controller.RequeueOnConflict(r))
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	f := &fleetv1alpha1.FleetFreeze{}
	if err := r.Client.Get(ctx, req.NamespacedName, f); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusWrites.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	rollouts := &fleetv1alpha1.RolloutList{}
	if err := r.Client.List(ctx, rollouts); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing rollouts: %w", err)
	}
	now := r.Clock.Now()
	status := Status(f, rollouts.Items, now)
	was := meta.FindStatusCondition(f.Status.Conditions, fleetv1alpha1.ConditionActive)
	wasActive := was != nil && was.Status == metav1.ConditionTrue
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, f, func(f *fleetv1alpha1.FleetFreeze) { f.Status = status }); err != nil {
		return ctrl.Result{}, err
	}
	r.recordTransition(ctx, f, wasActive)
	if lifts := f.LiftsAt(); f.ActiveAt(now) && !lifts.IsZero() {
		return ctrl.Result{RequeueAfter: lifts.Sub(now) + time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// Status is a freeze's status at now: Active until `until`, the Rollouts it
// holds (status.freeze.heldBy names it) and the Rollouts it rolled back
// (status.freeze.rolledBackBy names it). Only those fields count, never the
// text of a condition or history message.
func Status(f *fleetv1alpha1.FleetFreeze, rollouts []fleetv1alpha1.Rollout, now time.Time) fleetv1alpha1.FleetFreezeStatus {
	st := *f.Status.DeepCopy()
	st.ObservedGeneration = f.Generation
	st.HeldRollouts, st.RolledBackRollouts = 0, 0
	for i := range rollouts {
		ro := &rollouts[i].Status
		if ro.HeldBy() == f.Name && !ro.Phase.IsTerminal() {
			st.HeldRollouts++
		}
		if ro.RolledBackBy() == f.Name {
			st.RolledBackRollouts++
		}
	}
	active := f.ActiveAt(now)
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, f.Generation, now)
	action := f.EffectiveAction()
	if active {
		msg := fmt.Sprintf("no rollout admits any cluster (%s): %s", action, f.Spec.Reason)
		if action == fleetv1alpha1.FreezeRollback {
			msg = "every rollout in flight rolls back, and none admits a cluster: " + f.Spec.Reason
		}
		set.Set(fleetv1alpha1.ConditionActive, metav1.ConditionTrue, fleetv1alpha1.ReasonFleetFrozen, msg)
	} else {
		set.Set(fleetv1alpha1.ConditionActive, metav1.ConditionFalse, fleetv1alpha1.ReasonExpired,
			"ended at "+f.Spec.Until.UTC().Format(time.RFC3339)+"; delete it to tidy up")
	}
	// A freeze needs nothing to settle: it is in force (or expired) as soon
	// as it is observed, so it is Ready then, whether active or not.
	set.Ready(fleetv1alpha1.ReasonSucceeded, "observed")
	return st
}

// recordTransition logs and records the freeze becoming active or expired,
// once its status says so.
func (r *Reconciler) recordTransition(ctx context.Context, f *fleetv1alpha1.FleetFreeze, wasActive bool) {
	c := meta.FindStatusCondition(f.Status.Conditions, fleetv1alpha1.ConditionActive)
	active := c != nil && c.Status == metav1.ConditionTrue
	if c == nil || active == wasActive {
		return
	}
	log := ctrl.LoggerFrom(ctx).WithValues("freeze", f.Name)
	if active {
		log.Info("fleet freeze active", "action", f.Spec.Action, "frozenBy", f.Spec.FrozenBy, "reason", f.Spec.Reason)
		r.Recorder.Eventf(f, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonActivated, "Freeze", "%s",
			fleetv1alpha1.EventNote(c.Message, or(f.Spec.FrozenBy, "unknown")))
		return
	}
	log.Info("fleet freeze expired")
	r.Recorder.Eventf(f, nil, corev1.EventTypeNormal, c.Reason, "Freeze", "%s", c.Message)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
