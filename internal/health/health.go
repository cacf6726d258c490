// Package health judges the health of objects observed on a member cluster.
// It is pure: it reads objects it is given and talks to no API server.
//
// Per-object health comes from kstatus (sigs.k8s.io/cli-utils/pkg/kstatus),
// the rules Flux and kpt use for health checks: built-in kinds
// have specific rules (a Deployment is Current when its new ReplicaSet is
// available), anything else is judged from observedGeneration and the
// Ready/Reconciling/Stalled conditions, and a kind with none of those is
// Current as soon as it exists.
package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Result is the health of one object.
type Result struct {
	// Status is Current, InProgress, Failed or Unknown.
	Status fleetv1alpha1.HealthStatus
	// Message explains the judgement, e.g. "Available: 1/3".
	Message string
}

// Of judges the health of a live object: kstatus's verdict, except that a
// StatefulSet whose Pods still run an earlier revision (an OnDelete or
// partitioned update kstatus takes as done), a suspended Job, and a custom
// object whose Ready condition is of an earlier generation are InProgress. A nil object (not found on the member) is Unknown; so is an
// object kstatus cannot read, with the reason in the message. It never
// panics on malformed input.
func Of(obj *unstructured.Unstructured) Result {
	if obj == nil {
		return Result{Status: fleetv1alpha1.HealthUnknown, Message: "not found on the member"}
	}
	res, err := kstatus.Compute(obj)
	if err != nil {
		return Result{Status: fleetv1alpha1.HealthUnknown, Message: fmt.Sprintf("judging health: %v", err)}
	}
	status := fromKstatus(res.Status)
	if status == fleetv1alpha1.HealthCurrent {
		if held, ok := statefulSetHeldBack(obj); ok {
			return held
		}
		if suspended, ok := jobSuspended(obj); ok {
			return suspended
		}
		if stale, ok := staleReady(obj); ok {
			return stale
		}
	}
	return Result{Status: status, Message: res.Message}
}

// fromKstatus maps kstatus's statuses onto the API's four. An object being
// deleted is still converging (InProgress); NotFound is Unknown because the
// agent has not seen it yet.
func fromKstatus(s kstatus.Status) fleetv1alpha1.HealthStatus {
	switch s {
	case kstatus.CurrentStatus:
		return fleetv1alpha1.HealthCurrent
	case kstatus.InProgressStatus, kstatus.TerminatingStatus:
		return fleetv1alpha1.HealthInProgress
	case kstatus.FailedStatus:
		return fleetv1alpha1.HealthFailed
	default:
		return fleetv1alpha1.HealthUnknown
	}
}

// Summary counts objects by health.
type Summary struct {
	Current, InProgress, Failed, Unknown int
}

// Summarize counts health statuses; an empty status counts as Unknown.
func Summarize(statuses ...fleetv1alpha1.HealthStatus) Summary {
	var s Summary
	for _, st := range statuses {
		s.Add(st)
	}
	return s
}

// Add counts one more status.
func (s *Summary) Add(st fleetv1alpha1.HealthStatus) {
	switch st {
	case fleetv1alpha1.HealthCurrent:
		s.Current++
	case fleetv1alpha1.HealthInProgress:
		s.InProgress++
	case fleetv1alpha1.HealthFailed:
		s.Failed++
	default:
		s.Unknown++
	}
}

// Total is the number of objects counted.
func (s Summary) Total() int { return s.Current + s.InProgress + s.Failed + s.Unknown }

// Status aggregates the counts, worst first: Failed if anything failed, else
// InProgress if anything is converging, else Unknown if anything was not
// judged, else Current (also for nothing at all: an empty set is healthy).
func (s Summary) Status() fleetv1alpha1.HealthStatus {
	switch {
	case s.Failed > 0:
		return fleetv1alpha1.HealthFailed
	case s.InProgress > 0:
		return fleetv1alpha1.HealthInProgress
	case s.Unknown > 0:
		return fleetv1alpha1.HealthUnknown
	default:
		return fleetv1alpha1.HealthCurrent
	}
}

// String renders the counts for condition messages, e.g. "2/3 current, 1 in progress".
func (s Summary) String() string {
	msg := fmt.Sprintf("%d/%d current", s.Current, s.Total())
	if s.InProgress > 0 {
		msg += fmt.Sprintf(", %d in progress", s.InProgress)
	}
	if s.Failed > 0 {
		msg += fmt.Sprintf(", %d failed", s.Failed)
	}
	if s.Unknown > 0 {
		msg += fmt.Sprintf(", %d unknown", s.Unknown)
	}
	return msg
}
