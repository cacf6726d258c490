package instance

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/rollup"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// observation is what one reconcile of an instance found.
type observation struct {
	// promiseNotReady explains why the Promise has no revision to render yet.
	promiseNotReady string
	// placement is where the instance lands, or its violations.
	placement placement.Result
	// renderErrors are the clusters whose rendering failed, with the error.
	renderErrors map[string]error
	// works are the instance's Works on its placed clusters.
	works []fleetv1alpha1.Work
	// wrote is how many Works this reconcile created or updated.
	wrote int
	// nextExpiry is when the first DriftException in the Works expires; zero: none.
	nextExpiry time.Time
	// instanceRevision is the instance revision of the current spec; "" when
	// none was made (the instance was not placed).
	instanceRevision string
	// specRollout is the newest Rollout of the instance whose target is
	// instanceRevision; nil when there is none.
	specRollout *fleetv1alpha1.Rollout
	// rendered is what this reconcile rendered, by cluster.
	rendered renderMemo
}

// newStatus returns the status an instance should have given what was
// observed. It keeps condition transition times.
func newStatus(old fleetv1alpha1.InstanceStatus, generation int64, o observation, now time.Time) fleetv1alpha1.InstanceStatus {
	status := *old.DeepCopy()
	status.ObservedGeneration = generation
	set := fleetv1alpha1.NewConditionSetter(&status.Conditions, generation, now).Set
	sum := rollup.SummarizeWorks(o.works)
	status.Clusters = fleetv1alpha1.InstanceClusterCounts{
		Placed:  int32(len(o.placement.Clusters)),
		Ready:   int32(sum.Healthy),
		Failing: int32(sum.Failed),
	}
	status.Revision = mostCommonRevision(sum.ByRevision)
	if o.instanceRevision != "" {
		status.InstanceRevision = o.instanceRevision
	}
	status.AppliedInstanceRevision = appliedInstanceRevision(o.works)
	spec := specApplied(o)
	if spec.reason == "" {
		meta.RemoveStatusCondition(&status.Conditions, fleetv1alpha1.ConditionSpecApplied)
	} else {
		s := metav1.ConditionFalse
		if spec.reason == fleetv1alpha1.ReasonSucceeded {
			s = metav1.ConditionTrue
		}
		set(fleetv1alpha1.ConditionSpecApplied, s, spec.reason, spec.message)
	}

	// Placed.
	placedMsg := ""
	switch {
	case o.promiseNotReady != "":
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionUnknown, fleetv1alpha1.ReasonPromiseNotReady, o.promiseNotReady)
	case len(o.placement.Violations) > 0:
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionFalse, o.placement.Violations[0].Reason, o.placement.Message()+"; no Work is written")
	case len(o.placement.Clusters) == 0:
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionFalse, fleetv1alpha1.ReasonNoMatchingClusters,
			"no cluster matches the Promise's placement, the instance's spec.placement and its namespace's Fleets")
	default:
		placedMsg = fmt.Sprintf("placed on %d clusters: %s", len(o.placement.Clusters), strings.Join(o.placement.Clusters, ", "))
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionTrue, fleetv1alpha1.ReasonPlaced, placedMsg)
	}

	// Stalled: what needs a person.
	stalledReason, stalledMsg := "", ""
	switch {
	case len(o.placement.Violations) > 0:
		stalledReason, stalledMsg = o.placement.Violations[0].Reason, o.placement.Message()
	case len(o.renderErrors) > 0:
		stalledReason, stalledMsg = renderFailure(o.renderErrors)
	case spec.stalled:
		// The fleet settled on an earlier spec and stays there: bringing
		// the spec back in line, or rolling it forward, takes a person.
		stalledReason, stalledMsg = spec.reason, spec.message
	}
	if stalledReason != "" {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, stalledReason, stalledMsg)
	} else {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	}

	// Ready and Reconciling.
	placed := len(o.placement.Clusters)
	var readyReason, readyMsg string
	switch {
	case o.promiseNotReady != "":
		readyReason, readyMsg = fleetv1alpha1.ReasonPromiseNotReady, o.promiseNotReady
	case stalledReason != "":
		readyReason, readyMsg = stalledReason, stalledMsg
	case placed == 0:
		readyReason, readyMsg = fleetv1alpha1.ReasonNoMatchingClusters, "placed on no cluster"
	case sum.Failed > 0:
		readyReason, readyMsg = fleetv1alpha1.ReasonWorksFailing, failureMessage(sum)
	case spec.reason != "" && spec.reason != fleetv1alpha1.ReasonSucceeded:
		// Healthy is not Ready while the clusters run another spec than
		// the one the instance shows.
		readyReason, readyMsg = spec.reason, spec.message
	case sum.Healthy < placed:
		readyReason, readyMsg = fleetv1alpha1.ReasonProgressing, fmt.Sprintf("%d of %d clusters ready", sum.Healthy, placed)
	}
	if readyReason == "" {
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, fmt.Sprintf("ready on %d of %d clusters", placed, placed))
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
		return status
	}
	set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, readyReason, readyMsg)
	if readyReason == fleetv1alpha1.ReasonProgressing || readyReason == fleetv1alpha1.ReasonPromiseNotReady ||
		readyReason == fleetv1alpha1.ReasonRollingBack {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, readyReason, readyMsg)
	} else {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, readyReason, "")
	}
	return status
}

// specState is the SpecApplied condition's reason and message ("" reason:
// not judged), and whether it needs a person.
type specState struct {
	reason, message string
	stalled         bool
}

// specApplied judges whether the instance's clusters run the current spec
// (o.instanceRevision), and if not, why: its Rollout is still moving it, is
// moving the clusters back, or was rolled back or stopped, so the fleet runs
// an earlier spec than the one the instance shows.
func specApplied(o observation) specState {
	want := o.instanceRevision
	if want == "" || len(o.works) == 0 {
		return specState{}
	}
	behind := 0
	for i := range o.works {
		w := &o.works[i]
		if w.Spec.InstanceRevision != want || w.Status.AppliedInstanceRevision != want {
			behind++
		}
	}
	placed := len(o.placement.Clusters)
	if behind == 0 {
		return specState{reason: fleetv1alpha1.ReasonSucceeded,
			message: fmt.Sprintf("%d of %d clusters applied instance revision %s", len(o.works), placed, want)}
	}
	running := appliedInstanceRevision(o.works)
	on := fmt.Sprintf("%d of %d clusters applied instance revision %s of the current spec", len(o.works)-behind, placed, want)
	ro := o.specRollout
	if ro == nil {
		return specState{reason: fleetv1alpha1.ReasonProgressing, message: on}
	}
	name := fmt.Sprintf("Rollout %s/%s", ro.Namespace, ro.Name)
	inLine := fmt.Sprintf("; the fleet runs instance revision %s: apply that spec again to bring the instance in line, "+
		"or change the spec to roll forward", running)
	switch {
	case ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack:
		return specState{reason: fleetv1alpha1.ReasonRollingBack,
			message: fmt.Sprintf("%s is rolling back to instance revision %s; %s", name, ro.Status.RollbackRevision, on)}
	case ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack ||
		(ro.Status.Phase.IsTerminal() && ro.Status.RollbackRevision != ""):
		return specState{reason: fleetv1alpha1.ReasonRolledBack, stalled: true,
			message: fmt.Sprintf("%s rolled the current spec back; %s%s", name, on, inLine)}
	case ro.Status.Phase == fleetv1alpha1.RolloutPhaseHalted || ro.Status.Phase == fleetv1alpha1.RolloutPhaseAborted ||
		ro.Status.Phase == fleetv1alpha1.RolloutPhaseFailed:
		return specState{reason: fleetv1alpha1.ReasonRolloutHalted, stalled: true,
			message: fmt.Sprintf("%s is %s; %s%s", name, ro.Status.Phase, on, inLine)}
	}
	return specState{reason: fleetv1alpha1.ReasonProgressing, message: fmt.Sprintf("%s: %s", name, on)}
}

// appliedInstanceRevision is the instance revision most Works last applied;
// ties go to the greater name, so the answer does not depend on order.
func appliedInstanceRevision(works []fleetv1alpha1.Work) string {
	counts := map[string]int{}
	for i := range works {
		if rev := works[i].Status.AppliedInstanceRevision; rev != "" {
			counts[rev]++
		}
	}
	best, n := "", 0
	for rev, c := range counts {
		if c > n || (c == n && rev > best) {
			best, n = rev, c
		}
	}
	return best
}

// mostCommonRevision is the revision most Works ask for; ties go to the
// greater name, so the answer does not depend on map order.
func mostCommonRevision(byRevision map[string]rollup.Counts) string {
	best, n := "", 0
	for rev, c := range byRevision {
		if c.Total > n || (c.Total == n && rev > best) {
			best, n = rev, c.Total
		}
	}
	return best
}

// renderFailure is the reason and message of failed renders: the first
// cluster's (by name) whose render was refused for crossing the tenant
// boundary, else the first cluster's.
func renderFailure(errs map[string]error) (reason, message string) {
	clusters := make([]string, 0, len(errs))
	for c := range errs {
		clusters = append(clusters, c)
	}
	slices.Sort(clusters)
	shown := clusters[0]
	reason = renderReason(errs[shown])
	for _, c := range clusters {
		if r := renderReason(errs[c]); r != fleetv1alpha1.ReasonRenderFailed {
			shown, reason = c, r
			break
		}
	}
	what := "rendering failed"
	if reason != fleetv1alpha1.ReasonRenderFailed {
		what = "the render was refused"
	}
	if len(clusters) == 1 {
		return reason, fmt.Sprintf("%s on cluster %s; its Work is left as it was: %v", what, shown, errs[shown])
	}
	return reason, fmt.Sprintf("%s on %d clusters (%s); their Works are left as they were: %s: %v",
		what, len(clusters), strings.Join(clusters, ", "), shown, errs[shown])
}

// renderReason is the Ready reason of a failed render.
func renderReason(err error) string {
	var violation *scope.Violation
	var override *render.OverrideError
	switch {
	case errors.As(err, &violation):
		return fleetv1alpha1.ReasonOutputNotAllowed
	case errors.As(err, &override):
		return fleetv1alpha1.ReasonPatchNotAllowed
	case errors.Is(err, render.ErrValueCreatesStructure):
		return fleetv1alpha1.ReasonValueCreatesStructure
	case errors.Is(err, render.ErrBudgetExceeded):
		return fleetv1alpha1.ReasonRenderBudgetExceeded
	default:
		return fleetv1alpha1.ReasonRenderFailed
	}
}

func failureMessage(sum rollup.Summary) string {
	parts := make([]string, 0, len(sum.Failures))
	for _, f := range sum.Failures {
		parts = append(parts, fmt.Sprintf("%s: %s %s", f.Cluster, f.Reason, f.Message))
	}
	slices.SortFunc(parts, func(a, b string) int { return cmp.Compare(a, b) })
	return fmt.Sprintf("%d clusters failing: %s", sum.Failed, strings.Join(parts, "; "))
}
