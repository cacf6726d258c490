// Package driftexception is the hub's DriftException controller. The
// instance controller copies exceptions in force into the Works they may
// excuse drift on, and the agents judge drift against them; this controller
// only reports on an exception: whether it is still in force and how many
// drifted resources it accepts now, as the agents report them.
package driftexception

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// Reconciler writes DriftException status.
type Reconciler struct {
	Client   client.Client
	Clock    clock.PassiveClock
	Recorder events.EventRecorder

	// statusWrites is each exception's resourceVersion after this
	// controller's last status write (controller.PatchStatus): its own
	// writes do not wake it (GenerationChangedPredicate).
	statusWrites controller.OwnWrites
}

// SetupWithManager registers the DriftException controller with mgr. It
// needs the Work index controller.IndexWorkByDriftException (SetupIndexes).
func SetupWithManager(mgr ctrl.Manager) error {
	r := &Reconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}, Recorder: controller.EventRecorder(mgr, EventSource)}
	return ctrl.NewControllerManagedBy(mgr).
		Named("driftexception").
		WithOptions(controller.Options(0)).
		For(&fleetv1alpha1.DriftException{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The agents' reports name the exceptions that accept drift, and
		// the hub's spec those it gave: those named before and after a
		// change of either are counted again.
		Watches(&fleetv1alpha1.Work{}, handler.Funcs{
			CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				if w, ok := e.Object.(*fleetv1alpha1.Work); ok {
					enqueue(q, controller.CarriedExceptions(w))
				}
			},
			UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				o, ok1 := e.ObjectOld.(*fleetv1alpha1.Work)
				n, ok2 := e.ObjectNew.(*fleetv1alpha1.Work)
				if !ok1 || !ok2 {
					return
				}
				enqueue(q, controller.AcceptingExceptions(o), controller.AcceptingExceptions(n))
				if was, is := controller.CarriedExceptions(o), controller.CarriedExceptions(n); !slices.Equal(was, is) {
					enqueue(q, was, is)
				}
			},
			DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
				if w, ok := e.Object.(*fleetv1alpha1.Work); ok {
					enqueue(q, controller.CarriedExceptions(w))
				}
			},
		}).
		Complete(controller.RequeueOnConflict(r))
}

// enqueue adds the exceptions named namespace/name.
func enqueue(q workqueue.TypedRateLimitingInterface[reconcile.Request], names ...[]string) {
	for _, list := range names {
		for _, n := range list {
			ns, name, ok := splitName(n)
			if ok {
				q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
			}
		}
	}
}

func splitName(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	e := &fleetv1alpha1.DriftException{}
	if err := r.Client.Get(ctx, req.NamespacedName, e); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusWrites.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{controller.IndexWorkByDriftException: e.Namespace + "/" + e.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing works: %w", err)
	}
	now := r.Clock.Now()
	status := Status(e, works.Items, now)
	was := meta.FindStatusCondition(e.Status.Conditions, fleetv1alpha1.ConditionActive)
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, e, func(e *fleetv1alpha1.DriftException) { e.Status = status }); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.recordTransition(ctx, e, was)
	if now.Before(e.Spec.ExpiresAt.Time) {
		return ctrl.Result{RequeueAfter: e.Spec.ExpiresAt.Sub(now) + time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// Status is an exception's status at now: Active until expiresAt, and the
// number of drifted resources of works whose drift (or part of it) it accepts:
// counted only while it is in force, and only on Works the hub gave it to.
func Status(e *fleetv1alpha1.DriftException, works []fleetv1alpha1.Work, now time.Time) fleetv1alpha1.DriftExceptionStatus {
	st := *e.Status.DeepCopy()
	st.ObservedGeneration = e.Generation
	name := e.Namespace + "/" + e.Name
	var matched, carriedBy int32
	for i := range works {
		we, ok := carried(&works[i], name, now)
		if !now.Before(e.Spec.ExpiresAt.Time) || !ok {
			// Expired, or never given to this Work: whatever its agent
			// last reported (an offline agent writes nothing), the
			// exception accepts nothing there now.
			continue
		}
		carriedBy++
		for _, rs := range works[i].Status.Resources {
			if acceptedBy(rs, we) {
				matched++
			}
		}
	}
	st.MatchedResources = matched
	st.Works = carriedBy
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, e.Generation, now)
	until := e.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	if now.Before(e.Spec.ExpiresAt.Time) {
		message := "drift it covers is accepted until " + until + " (owner " + e.Spec.Owner + ")"
		if carriedBy == 0 {
			// In force, yet accepting nothing: say so rather than let
			// the owner believe the drift is covered.
			message += "; no Work carries it yet: it selects no object the hub delivers to the clusters it selects, " +
				"or each such Work already carries 16 exceptions (the platform's first)"
		}
		set.Set(fleetv1alpha1.ConditionActive, metav1.ConditionTrue, fleetv1alpha1.ReasonInForce, message)
	} else {
		set.Set(fleetv1alpha1.ConditionActive, metav1.ConditionFalse, fleetv1alpha1.ReasonExpired,
			"expired at "+until+"; the drift it covered is unexplained again and the drift policy applies; delete it to tidy up")
	}
	// Like a freeze, an exception needs nothing to settle: Ready once
	// observed, in force or expired (Active says which).
	set.Ready(fleetv1alpha1.ReasonSucceeded, "observed")
	return st
}

// carried returns w's copy of the exception named name, and whether the hub
// gave it to w and it is in force at now.
func carried(w *fleetv1alpha1.Work, name string, now time.Time) (fleetv1alpha1.WorkDriftException, bool) {
	for _, we := range w.Spec.DriftExceptions {
		if we.Name == name {
			return we, now.Before(we.ExpiresAt.Time)
		}
	}
	return fleetv1alpha1.WorkDriftException{}, false
}

// acceptedBy reports whether rs reports drift that we accepts, in full or
// some fields beside unexplained drift, and that we covers: an agent naming
// it for another resource, or a field outside its paths, counts nothing.
func acceptedBy(rs fleetv1alpha1.ResourceStatus, we fleetv1alpha1.WorkDriftException) bool {
	d := rs.Drift
	if d == nil || d.Exception != we.Name {
		return false
	}
	fields := d.AcceptedFields
	if d.State == fleetv1alpha1.DriftAccepted {
		fields = d.Fields
	} else if len(fields) == 0 {
		return false
	}
	return drift.CoversDrift(we, drift.Resource{Group: rs.Group, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}, fields)
}

// recordTransition logs and records the exception expiring.
func (r *Reconciler) recordTransition(ctx context.Context, e *fleetv1alpha1.DriftException, was *metav1.Condition) {
	c := meta.FindStatusCondition(e.Status.Conditions, fleetv1alpha1.ConditionActive)
	if c == nil || c.Status != metav1.ConditionFalse || (was != nil && was.Status == metav1.ConditionFalse) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("drift exception expired", "owner", e.Spec.Owner)
	r.Recorder.Eventf(e, nil, corev1.EventTypeNormal, c.Reason, "Expire", "%s", c.Message)
}
