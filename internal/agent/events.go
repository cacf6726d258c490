package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	kclock "k8s.io/utils/clock"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// EventDriftExceptionExpired is the reason of the Event the agent records
// when drift a DriftException accepted is accepted no longer because the
// exception expired (or left the Work). The other drift Events use the
// Drifted condition's reasons: DriftDetected, DriftAccepted, DriftCorrected.
const EventDriftExceptionExpired = "DriftExceptionExpired"

// eventComponent is the source of the agent's Events.
const eventComponent = fleetv1alpha1.AgentEventSource

// newEventRecorder records core/v1 Events on Works in the cluster's hub
// namespace (the agent may create and patch Events there), through a client
// that knows Events alone (hubkube.go). The recorder aggregates similar
// Events and rate-limits each Work's as client-go's does, so a flapping
// object cannot flood the hub (eventrecorder.go). stop ends it.
func newEventRecorder(ctx context.Context, h *hubClient, cluster string) (*eventRecorder, func()) {
	r := newEventRecorderFor(ctx, h.kube.events(h.namespace), corev1.EventSource{Component: eventComponent, Host: cluster}, kclock.RealClock{})
	return r, r.stop
}

// recordCorrections records one DriftCorrected Event per correction made.
func (a *agent) recordCorrections(work *fleetv1alpha1.Work, corrected []resourceResult) {
	if a.events == nil {
		return
	}
	for _, r := range corrected {
		a.events.Eventf(work, corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected,
			"corrected drift on %s: %s", r.ref, plan.DescribeDrift(*r.corrected))
	}
}

// recordDriftTransitions records the drift transitions between two
// statuses of a Work, per resource: unexplained drift appearing
// (DriftDetected: left in place, by the Report policy or a failed
// correction), drift becoming accepted (DriftAccepted), and accepted drift
// losing its exception (DriftExceptionExpired). Checks that find what the
// last one found record nothing.
func (a *agent) recordDriftTransitions(work *fleetv1alpha1.Work, prev, cur fleetv1alpha1.WorkStatus, now time.Time) {
	if a.events == nil {
		return
	}
	for _, t := range driftTransitions(prev, cur, work.Spec.DriftExceptions, now) {
		a.events.Event(work, t.eventType, t.reason, t.message)
	}
}

// transition is one Event to record.
type transition struct {
	eventType, reason, message string
}

// driftTransitions compares the drift of each resource in prev and cur.
// excs and now tell whether an exception that accepted drift before is still
// in force.
func driftTransitions(prev, cur fleetv1alpha1.WorkStatus, excs []fleetv1alpha1.WorkDriftException, now time.Time) []transition {
	before := map[refKey]*fleetv1alpha1.ResourceDrift{}
	for i := range prev.Resources {
		rs := &prev.Resources[i]
		if rs.Drift != nil {
			before[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = rs.Drift
		}
	}
	active := map[string]bool{}
	for _, e := range excs {
		if drift.Active(e, now) {
			active[e.Name] = true
		}
	}
	var out []transition
	for i := range cur.Resources {
		rs := &cur.Resources[i]
		old, d := before[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}], rs.Drift
		ref := resourceName(rs)
		oldExc, oldAccepted, oldBy := acceptedPart(old)
		newExc, newAccepted, newBy := acceptedPart(d)
		if oldExc != "" && !active[oldExc] && newExc != oldExc {
			out = append(out, transition{corev1.EventTypeNormal, EventDriftExceptionExpired,
				fmt.Sprintf("DriftException %s expired: drift on %s (%s) is no longer accepted", oldExc, ref, describeFields(oldAccepted, oldBy))})
		}
		if d == nil {
			continue
		}
		if d.State == fleetv1alpha1.DriftUnexplained && (old == nil || old.State != fleetv1alpha1.DriftUnexplained) {
			out = append(out, transition{corev1.EventTypeWarning, fleetv1alpha1.ReasonDriftDetected,
				fmt.Sprintf("drift on %s left in place: %s", ref, fields(d))})
		}
		if newExc != "" && newExc != oldExc {
			out = append(out, transition{corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftAccepted,
				fmt.Sprintf("drift on %s accepted by DriftException %s: %s", ref, newExc, describeFields(newAccepted, newBy))})
		}
	}
	return out
}

// resourceName renders a resource of a Work status as objectRef does.
func resourceName(rs *fleetv1alpha1.ResourceStatus) string {
	return objectRef{Group: rs.Group, Version: rs.Version, Kind: rs.Kind, Namespace: rs.Namespace, Name: rs.Name}.String()
}

// fields describes a reported drift: its fields and who made it.
func fields(d *fleetv1alpha1.ResourceDrift) string {
	return describeFields(d.Fields, d.By)
}

// describeFields renders drifted fields and who changed them for an Event.
func describeFields(fields []string, by string) string {
	return plan.DescribeDrift(drift.Result{Fields: fields, Count: len(fields), By: by})
}

// acceptedPart is the exception accepting a reported drift, the fields it
// accepts and who changed them: all fields when the state is Accepted,
// acceptedFields alongside unexplained drift (by tells of the unexplained
// fields then, so it is left out); no exception ("") otherwise.
func acceptedPart(d *fleetv1alpha1.ResourceDrift) (exception string, fields []string, by string) {
	switch {
	case d == nil || d.Exception == "":
		return "", nil, ""
	case d.State == fleetv1alpha1.DriftAccepted:
		return d.Exception, d.Fields, d.By
	case len(d.AcceptedFields) > 0:
		return d.Exception, d.AcceptedFields, ""
	}
	return "", nil, ""
}
