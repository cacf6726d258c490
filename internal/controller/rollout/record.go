package rollout

import (
	"context"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// eventAction is the action named on the Rollout controller's Events.
const eventAction = "Rollout"

// record reports a step whose status is stored: the engine's Events on the
// Rollout, an Event on the FleetFreeze that holds or rolls it back, the
// transition and rollback counters, and the logs: transitions at Info,
// admissions at V(1). old is the status the step started from.
func (r *Reconciler) record(ctx context.Context, ro *fleetv1alpha1.Rollout, old fleetv1alpha1.RolloutStatus, d rollout.Decision) {
	log := ctrl.LoggerFrom(ctx)
	st := &ro.Status
	owner := metrics.OwnerOf(ro)
	for _, e := range d.Events {
		r.Recorder.Eventf(ro, nil, string(e.Type), e.Reason, eventAction, "%s", e.Message)
	}
	for _, f := range newFailures(old.Failures, st.Failures) {
		r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, ReasonClusterFailed, eventAction, "%s", failureEvent(f))
		r.Metrics.ClusterFailed(f.Reason, owner)
		log.Info("cluster failed", "cluster", f.Cluster, "wave", f.Wave, "reason", f.Reason, "message", f.Message)
	}
	if old.Phase != st.Phase || old.CurrentWave != st.CurrentWave {
		log.Info("rollout moved", "from", old.Phase, "phase", st.Phase, "wave", st.CurrentWave,
			"revision", ro.Spec.TargetRevision, "percentOnTarget", st.PercentOnTarget, "failed", st.Counts.Failed)
	}
	if old.Phase != st.Phase {
		r.Metrics.RolloutTransition(st.Phase, owner)
	}
	cause, rollingBack := rollbackCause(ro.Spec, &old, st)
	if rollingBack {
		r.Metrics.RolloutRollback(cause, owner)
		log.Info("rollback started", "cause", cause, "wave", st.CurrentWave, "revision", st.RollbackRevision)
	}
	// The freeze that acted is the one the status names, not the one observed.
	switch by := st.RolledBackBy(); {
	case by != "" && old.RolledBackBy() == "":
		r.freezeEvent(ctx, by, ro, corev1.EventTypeWarning, fleetv1alpha1.ReasonRolloutRolledBack,
			"rolls back Rollout %s/%s to %s", ro.Namespace, ro.Name, st.RollbackRevision)
	case st.HeldBy() != "" && st.HeldBy() != old.HeldBy():
		r.freezeEvent(ctx, st.HeldBy(), ro, corev1.EventTypeNormal, fleetv1alpha1.ReasonRolloutHeld,
			"holds Rollout %s/%s (%s, wave %s)", ro.Namespace, ro.Name, st.Phase, or(st.CurrentWave, "none"))
	}
	logAdmissions(ctx, d.Admit)
}

// rollbackCause says why a Rollout that moved from one phase to another
// started rolling back, and whether it did: a requested rollback, a freeze
// (the status names the one that rolled it back), else a failure budget.
func rollbackCause(spec fleetv1alpha1.RolloutSpec, old, st *fleetv1alpha1.RolloutStatus) (metrics.RollbackCause, bool) {
	if st.Phase != fleetv1alpha1.RolloutPhaseRollingBack || old.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		return "", false
	}
	switch {
	case st.RolledBackBy() != "" && old.RolledBackBy() == "":
		// Before a request: one that cannot proceed stays in the spec.
		return metrics.RollbackFreeze, true
	case spec.Rollback != nil:
		return metrics.RollbackManual, true
	default:
		return metrics.RollbackFailure, true
	}
}

// freezeEvent records an Event on the FleetFreeze name, naming the Rollout
// as the related object. A freeze already gone gets none.
func (r *Reconciler) freezeEvent(ctx context.Context, name string, ro *fleetv1alpha1.Rollout, typ, reason, format string, args ...any) {
	f := &fleetv1alpha1.FleetFreeze{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, f); err != nil {
		ctrl.LoggerFrom(ctx).V(1).Info("no event on the fleet freeze", "freeze", name, "error", err.Error())
		return
	}
	r.Recorder.Eventf(f, ro, typ, reason, "Freeze", format, args...)
}

// logAdmissions logs the clusters admitted in one step at V(1): until the
// instance controller rewrites a cluster's Works (and logs that at Info),
// the next step admits it again.
func logAdmissions(ctx context.Context, admissions []rollout.Admission) {
	log := ctrl.LoggerFrom(ctx).V(1)
	for _, a := range admissions {
		log.Info("admitted cluster", "cluster", a.Cluster, "wave", a.Wave, "revision", a.Revision)
	}
}

// block stores the status of a Rollout that cannot be planned, as the
// engine decides it (Stalled with why, Aborted if an abort is asked for,
// or rolling back when observed: in.Clusters is complete), and reports it
// once when it becomes blocked or blocked for another reason.
func (r *Reconciler) block(ctx context.Context, ro *fleetv1alpha1.Rollout, in rollout.Input, b *blocked, observed bool) error {
	d := rollout.PlanBlocked(in, rollout.Blocked{Reason: b.reason, Message: b.message, Observed: observed})
	old := ro.Status
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, ro, setStatus(d.Status)); err != nil {
		return err
	}
	if len(d.Events) > 0 {
		ctrl.LoggerFrom(ctx).Info("rollout blocked", "reason", b.reason, "message", b.message, "revision", ro.Spec.TargetRevision)
	}
	r.record(ctx, ro, old, d)
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ReasonStatusTooLarge is the reason of the Warning Event recorded when the
// API server refuses a Rollout's status write for its size (etcd stores at
// most 1.5 MiB in one object by default).
const ReasonStatusTooLarge = "StatusTooLarge"

// tooLarge reports whether a write was refused for its size: by etcd
// ("request is too large"), or by the API server itself (413).
func tooLarge(err error) bool {
	return apierrors.IsRequestEntityTooLargeError(err) || strings.Contains(err.Error(), "request is too large")
}

// ReasonClusterFailed is the reason of the Event recorded when a Rollout
// newly counts a cluster as failed; the message carries the failure's own
// reason (ImagePullBackOff, ProgressDeadlineExceeded…) and message.
const ReasonClusterFailed = "ClusterFailed"

// newFailures returns the failures of now that were not in before (by
// cluster, wave and reason): a cluster that fails, or fails for another
// reason. The failure list is bounded, so a long-failed cluster pushed out
// and back in is reported again; that is rare and harmless.
func newFailures(before, now []fleetv1alpha1.ClusterFailure) []fleetv1alpha1.ClusterFailure {
	type key struct{ cluster, wave, reason string }
	seen := make(map[key]bool, len(before))
	for _, f := range before {
		seen[key{f.Cluster, f.Wave, f.Reason}] = true
	}
	var out []fleetv1alpha1.ClusterFailure
	for _, f := range now {
		if !seen[key{f.Cluster, f.Wave, f.Reason}] {
			out = append(out, f)
		}
	}
	return out
}

// failureEvent is the message of a ClusterFailed Event.
func failureEvent(f fleetv1alpha1.ClusterFailure) string {
	msg := "cluster " + f.Cluster
	if f.Wave != "" {
		msg += " (wave " + f.Wave + ")"
	}
	msg += " failed: " + f.Reason
	if f.Message != "" {
		msg += ": " + f.Message
	}
	// An Event's note holds at most 1 kB.
	if len(msg) > 1000 {
		cut := 1000
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
