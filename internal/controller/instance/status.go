package instance

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/rollup"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// maxMessage bounds condition messages built from lists.
const maxMessage = 1024

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
}

// newStatus returns the status an instance should have given what was
// observed. It keeps instanceRevision (not written by this controller) and
// condition transition times.
func newStatus(old fleetv1alpha1.InstanceStatus, generation int64, o observation, now time.Time) fleetv1alpha1.InstanceStatus {
	status := *old.DeepCopy()
	status.ObservedGeneration = generation
	set := func(typ string, s metav1.ConditionStatus, reason, message string) {
		controller.SetCondition(&status.Conditions, metav1.Condition{
			Type: typ, Status: s, Reason: reason, Message: truncate(message), ObservedGeneration: generation,
		}, now)
	}
	sum := rollup.SummarizeWorks(o.works)
	status.Clusters = fleetv1alpha1.InstanceClusterCounts{
		Placed:  int32(len(o.placement.Clusters)),
		Ready:   int32(sum.Healthy),
		Failing: int32(sum.Failed),
	}
	status.Revision = mostCommonRevision(sum.ByRevision)

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
	case sum.Healthy < placed:
		readyReason, readyMsg = fleetv1alpha1.ReasonProgressing, fmt.Sprintf("%d of %d clusters ready", sum.Healthy, placed)
	}
	if readyReason == "" {
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, fmt.Sprintf("ready on %d of %d clusters", placed, placed))
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
		return status
	}
	set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, readyReason, readyMsg)
	if readyReason == fleetv1alpha1.ReasonProgressing || readyReason == fleetv1alpha1.ReasonPromiseNotReady {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, readyReason, readyMsg)
	} else {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, readyReason, "")
	}
	return status
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

func truncate(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
