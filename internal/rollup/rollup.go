// Package rollup summarises the status of many Works: how many are applied,
// healthy, failed or still progressing, per revision, and which fail and why.
// It is pure: controllers list Works (by the hub's field indexes) and call it.
package rollup

import (
	"cmp"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// MaxFailures bounds Summary.Failures, so a status that embeds it stays small
// however much of the fleet fails.
const MaxFailures = 10

// maxMessage bounds each failure's message.
const maxMessage = 256

// State is a Work's place in a roll-up.
type State string

const (
	// StateHealthy: the agent applied the current spec and every resource is Current.
	StateHealthy State = "Healthy"
	// StateFailed: the agent applied the current spec and something failed
	// (apply error, a resource Refused or in Conflict, Stalled, or a
	// resource kstatus judges Failed).
	StateFailed State = "Failed"
	// StateProgressing: the agent has not reported on the current spec yet,
	// or its resources are still converging.
	StateProgressing State = "Progressing"
)

// Counts are numbers of Works. Healthy + Failed + Progressing == Total;
// Applied counts those whose current spec the agent applied in full (healthy
// or not).
type Counts struct {
	Total       int
	Applied     int
	Healthy     int
	Failed      int
	Progressing int
}

// Failure is one failing Work.
type Failure struct {
	Cluster   string
	Namespace string
	Name      string
	Revision  string
	Reason    string
	Message   string
}

// Summary is the roll-up of a set of Works.
type Summary struct {
	Counts
	// ByRevision counts Works by the revision they ask for (spec.revision).
	ByRevision map[string]Counts
	// AppliedRevisions counts Works by the revision last applied in full
	// (status.appliedRevision): what runs on the members now. Works never
	// applied are not counted.
	AppliedRevisions map[string]int
	// Failures lists up to MaxFailures failing Works, ordered by cluster and
	// name; Failed says how many there are in all.
	Failures []Failure
}

// SummarizeWorks rolls up works. The result does not depend on their order.
func SummarizeWorks(works []fleetv1alpha1.Work) Summary {
	s := Summary{ByRevision: map[string]Counts{}, AppliedRevisions: map[string]int{}}
	var failures []Failure
	for i := range works {
		w := &works[i]
		state, applied := Classify(w)
		s.add(state, applied)
		byRev := s.ByRevision[w.Spec.Revision]
		byRev.add(state, applied)
		s.ByRevision[w.Spec.Revision] = byRev
		if r := w.Status.AppliedRevision; r != "" {
			s.AppliedRevisions[r]++
		}
		if state == StateFailed {
			failures = append(failures, Explain(w))
		}
	}
	slices.SortFunc(failures, func(a, b Failure) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	if len(failures) > MaxFailures {
		failures = failures[:MaxFailures]
	}
	s.Failures = failures
	return s
}

func (c *Counts) add(state State, applied bool) {
	c.Total++
	if applied {
		c.Applied++
	}
	switch state {
	case StateHealthy:
		c.Healthy++
	case StateFailed:
		c.Failed++
	default:
		c.Progressing++
	}
}

// Classify returns a Work's state, and whether the agent applied its current
// spec in full. Only a report on the current generation counts: until the
// agent observes a new spec, the Work is Progressing whatever it said before.
func Classify(w *fleetv1alpha1.Work) (state State, applied bool) {
	if w.Status.ObservedGeneration != w.Generation {
		return StateProgressing, false
	}
	conds := w.Status.Conditions
	applied = meta.IsStatusConditionTrue(conds, fleetv1alpha1.ConditionApplied) &&
		w.Status.AppliedRevision == w.Spec.Revision
	switch {
	case meta.IsStatusConditionTrue(conds, fleetv1alpha1.ConditionStalled),
		meta.IsStatusConditionFalse(conds, fleetv1alpha1.ConditionApplied),
		failedResource(w) != nil:
		return StateFailed, applied
	case applied && meta.IsStatusConditionTrue(conds, fleetv1alpha1.ConditionReady):
		return StateHealthy, applied
	default:
		return StateProgressing, applied
	}
}

// Explain describes a failed Work: its cluster, name, revision and why it
// fails, with the message bounded.
func Explain(w *fleetv1alpha1.Work) Failure {
	reason, message := failureReason(w)
	return Failure{
		Cluster: w.Spec.Cluster, Namespace: w.Namespace, Name: w.Name,
		Revision: w.Spec.Revision, Reason: reason, Message: fleetv1alpha1.ClipMessage(message, maxMessage),
	}
}

// failureReason explains why a failed Work fails: Stalled, then Applied=False,
// then its first failed resource.
func failureReason(w *fleetv1alpha1.Work) (reason, message string) {
	conds := w.Status.Conditions
	if c := meta.FindStatusCondition(conds, fleetv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason, c.Message
	}
	if c := meta.FindStatusCondition(conds, fleetv1alpha1.ConditionApplied); c != nil && c.Status == metav1.ConditionFalse {
		return c.Reason, c.Message
	}
	r := failedResource(w)
	if r == nil {
		return "", ""
	}
	reason = fleetv1alpha1.ReasonApplyFailed
	what := r.Message
	switch r.Result {
	case fleetv1alpha1.ApplyResultFailed:
	case fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused:
		what = string(r.Result) + ": " + what
	default:
		reason = fleetv1alpha1.ReasonUnhealthy
		if r.Cause != nil {
			reason = r.Cause.Reason // what the agent saw on the member, e.g. ImagePullBackOff
		}
	}
	return reason, fmt.Sprintf("%s %s: %s", r.Kind, objectName(r.Namespace, r.Name), what)
}

// failedResource returns the first resource that was not applied (failed,
// refused as outside the Work's scope, or in conflict with an existing
// object the Work did not create) or that kstatus judges Failed; nil when
// none was.
func failedResource(w *fleetv1alpha1.Work) *fleetv1alpha1.ResourceStatus {
	for i := range w.Status.Resources {
		r := &w.Status.Resources[i]
		switch {
		case r.Result == fleetv1alpha1.ApplyResultFailed, r.Result == fleetv1alpha1.ApplyResultConflict,
			r.Result == fleetv1alpha1.ApplyResultRefused, r.Health == fleetv1alpha1.HealthFailed:
			return r
		}
	}
	return nil
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
