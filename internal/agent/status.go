package agent

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/health"
)

// Bounds from the Work API.
const (
	maxStatusResources = 1000
	maxMessageLength   = 1024
)

// passRecord is the last apply of a Work with the health seen since.
type passRecord struct {
	generation       int64
	revision         string
	instanceRevision string
	at               time.Time
	pass             *applyPass
	// corrected are the drift corrections made since status was last
	// written (by this pass or by checks since).
	corrected []resourceResult
	// driftJudged says drift is judged on this member (it can dry-run).
	driftJudged bool
}

// computeStatus returns the Work status for the last pass, starting from the
// status the hub holds (prev) so that condition transition times and the
// last full apply survive. It is pure: now is passed in.
func computeStatus(prev fleetv1alpha1.WorkStatus, rec *passRecord, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	st.ObservedGeneration = rec.generation
	pass := rec.pass
	if pass.complete() {
		st.AppliedRevision = rec.revision
		st.AppliedInstanceRevision = rec.instanceRevision
		st.LastAppliedTime = ptrTime(rec.at)
	}

	since := driftSince(prev)
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(pass.resources)+len(pass.pruned), maxStatusResources))
	for _, r := range append(append([]resourceResult(nil), pass.resources...), pass.pruned...) {
		if len(st.Resources) == maxStatusResources {
			break
		}
		rs := resourceStatus(r)
		rs.Drift = resourceDrift(r, since, now)
		st.Resources = append(st.Resources, rs)
	}

	var failedApply, failedPrune, permanent, transient, refusedN, conflictN int
	var firstApplyFailure, firstPruneFailure *resourceResult
	var summary health.Summary
	var firstUnhealthy, firstFailedHealth *resourceResult
	for i := range pass.resources {
		r := &pass.resources[i]
		switch r.result {
		case fleetv1alpha1.ApplyResultFailed, fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused:
			failedApply++
			switch r.result {
			case fleetv1alpha1.ApplyResultRefused:
				refusedN++
			case fleetv1alpha1.ApplyResultConflict:
				conflictN++
			}
			if r.permanent {
				permanent++
			} else {
				transient++
			}
			if firstApplyFailure == nil {
				firstApplyFailure = r
			}
		case fleetv1alpha1.ApplyResultApplied, fleetv1alpha1.ApplyResultSkipped, fleetv1alpha1.ApplyResultNotSynced:
			summary.Add(r.health.Status)
			if r.health.Status == fleetv1alpha1.HealthFailed && (firstFailedHealth == nil || firstFailedHealth.cause == nil && r.cause != nil) {
				firstFailedHealth = r // the first with a cause, else the first
			}
			if r.health.Status != fleetv1alpha1.HealthCurrent && (firstUnhealthy == nil || firstUnhealthy.cause == nil && r.cause != nil) {
				firstUnhealthy = r
			}
		}
	}
	for i := range pass.pruned {
		if pass.pruned[i].result == fleetv1alpha1.ApplyResultFailed {
			failedPrune++
			if firstPruneFailure == nil {
				firstPruneFailure = &pass.pruned[i]
			}
		}
	}

	// The message is the state here (counts, the first failure): refreshed.
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, rec.generation, now).RefreshingMessages().Set

	// Applied
	appliedOK := false
	switch {
	case failedApply > 0:
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed,
			applyFailedMessage(failedApply, len(pass.resources), refusedN, conflictN, firstApplyFailure))
	case failedPrune > 0:
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonPruneFailed,
			fmt.Sprintf("%d objects that left the Work could not be pruned; first: %s: %s", failedPrune, firstPruneFailure.ref, firstPruneFailure.message))
	default:
		appliedOK = true
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, appliedMessage(pass))
	}

	// Healthy, judged over what is on the member.
	healthOK := setHealthy(set, summary, firstFailedHealth, firstUnhealthy)

	// Ready: applied in full and healthy.
	applied := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApplied)
	healthy := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionHealthy)
	switch {
	case appliedOK && healthOK:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded,
			fmt.Sprintf("revision %s applied and healthy", rec.revision))
	case !appliedOK:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, applied.Reason, applied.Message)
	default:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, healthy.Reason, healthy.Message)
	}

	// Stalled: needs a person (bad manifests, a resource that will not converge).
	switch {
	case permanent > 0:
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonInvalidSpec, applied.Message)
	case summary.Failed > 0:
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, healthy.Reason, healthy.Message)
	default:
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionStalled)
	}
	setDrift(&st, prev, rec, now, set)

	// Reconciling: the agent is still working on it by itself.
	switch {
	case transient > 0 || failedPrune > 0:
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, "retrying: "+applied.Message)
	case summary.InProgress > 0 || summary.Unknown > 0:
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, healthy.Message)
	default:
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionReconciling)
	}
	return st
}

// setDrift sets the drift summary and the Drifted condition: True while an
// object differs from what was applied and no DriftException accepts it
// (drift policy Report, or a failed correction); False with reason
// DriftCorrected once the agent undid drift (until drift is seen again),
// DriftAccepted while all drift left is accepted, NoDrift otherwise. The
// condition is left out on members where drift is not judged.
func setDrift(st *fleetv1alpha1.WorkStatus, prev fleetv1alpha1.WorkStatus, rec *passRecord, now time.Time,
	set func(condType string, status metav1.ConditionStatus, reason, message string)) {
	var drifted, accepted []resourceResult
	for _, r := range rec.pass.resources {
		switch {
		case r.drift != nil:
			drifted = append(drifted, r)
		case r.accepted != nil:
			accepted = append(accepted, r)
		}
	}
	if len(drifted) > 0 || len(accepted) > 0 || len(rec.corrected) > 0 || prev.Drift != nil {
		sum := &fleetv1alpha1.DriftSummary{}
		if prev.Drift != nil {
			sum = prev.Drift.DeepCopy()
		}
		sum.Unexplained = int32(min(len(drifted), maxStatusResources)) //nolint:gosec // bounded
		sum.Accepted = int32(min(len(accepted), maxStatusResources))   //nolint:gosec // bounded
		if n := len(rec.corrected); n > 0 {
			sum.Corrections += int64(n)
			sum.LastCorrectionTime = ptrTime(now)
		}
		st.Drift = sum
	}
	if !rec.driftJudged {
		return
	}
	switch {
	case len(drifted) > 0:
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionTrue, fleetv1alpha1.ReasonDriftDetected,
			fmt.Sprintf("%d resources differ from what was applied; first: %s: %s", len(drifted), drifted[0].ref, describeDrift(*drifted[0].drift)))
	case len(rec.corrected) > 0:
		last := rec.corrected[len(rec.corrected)-1]
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftCorrected,
			fmt.Sprintf("corrected drift on %d resources; last: %s: %s", len(rec.corrected), last.ref, describeDrift(*last.corrected)))
	case len(accepted) > 0:
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftAccepted,
			fmt.Sprintf("%d resources differ from what was applied as DriftExceptions accept; first: %s: %s (DriftException %s)",
				len(accepted), accepted[0].ref, describeDrift(*accepted[0].accepted), accepted[0].exception))
	default:
		if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionDrifted); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == fleetv1alpha1.ReasonDriftCorrected {
			return // keep saying what was corrected last
		}
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonNoDrift, "managed fields are as applied")
	}
}

// clipFields bounds each field path as the API does.
func clipFields(fields []string) []string {
	var out []string
	for _, f := range fields {
		out = append(out, clip(f, 512))
	}
	return out
}

// describeDrift renders a drift for a condition message.
func describeDrift(d drift.Result) string {
	if d.Deleted {
		return "deleted"
	}
	msg := strings.Join(d.Fields, ", ")
	if d.Count > len(d.Fields) {
		msg += fmt.Sprintf(" and %d more", d.Count-len(d.Fields))
	}
	if d.By != "" {
		msg += " (by " + d.By + ")"
	}
	return msg
}

// driftSince maps each resource that had drift in prev to when it was first seen.
func driftSince(prev fleetv1alpha1.WorkStatus) map[refKey]metav1.Time {
	out := map[refKey]metav1.Time{}
	for _, rs := range prev.Resources {
		if rs.Drift != nil && rs.Drift.Since != nil {
			out[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = *rs.Drift.Since
		}
	}
	return out
}

// resourceDrift is the drift reported on a resource: unexplained drift if
// any (the policy applies to it), with the fields an exception accepts
// alongside; else accepted drift; nil when none.
func resourceDrift(r resourceResult, since map[refKey]metav1.Time, now time.Time) *fleetv1alpha1.ResourceDrift {
	res := r.drift
	d := &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained}
	switch {
	case res == nil && r.accepted == nil:
		return nil
	case res == nil:
		res = r.accepted
		d.State, d.Exception = fleetv1alpha1.DriftAccepted, clip(r.exception, 317)
	case r.accepted != nil:
		d.Exception, d.AcceptedFields = clip(r.exception, 317), clipFields(r.accepted.Fields)
	}
	d.By = clip(res.By, 253)
	d.Fields = clipFields(res.Fields)
	if t, ok := since[r.ref.key()]; ok {
		d.Since = &t
	} else {
		d.Since = ptrTime(now)
	}
	return d
}

// deletingStatus is the status of a Work being deleted (held by a finalizer):
// what pruning did.
func deletingStatus(prev fleetv1alpha1.WorkStatus, generation int64, pruned []resourceResult, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	st.ObservedGeneration = generation
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(pruned), maxStatusResources))
	failedPrune := 0
	for _, r := range pruned {
		if r.result == fleetv1alpha1.ApplyResultFailed {
			failedPrune++
		}
		if len(st.Resources) < maxStatusResources {
			st.Resources = append(st.Resources, resourceStatus(r))
		}
	}
	reason, msg := fleetv1alpha1.ReasonProgressing, fmt.Sprintf("deleting: %d objects handled", len(pruned))
	if failedPrune > 0 {
		reason, msg = fleetv1alpha1.ReasonPruneFailed, fmt.Sprintf("deleting: %d objects could not be pruned yet", failedPrune)
	}
	fleetv1alpha1.NewConditionSetter(&st.Conditions, generation, now).RefreshingMessages().
		Set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	return st
}

// applyFailedMessage says how many resources were not applied, of which how
// many were refused (outside the Work's scope) or in conflict (existing
// objects the Work did not create), and names the first.
func applyFailedMessage(failed, total, refusedN, conflictN int, first *resourceResult) string {
	msg := fmt.Sprintf("%d of %d resources failed to apply", failed, total)
	var kinds []string
	if refusedN > 0 {
		kinds = append(kinds, fmt.Sprintf("%d refused: outside the Work's scope", refusedN))
	}
	if conflictN > 0 {
		kinds = append(kinds, fmt.Sprintf("%d in conflict: existing objects this Work did not create", conflictN))
	}
	if len(kinds) > 0 {
		msg += " (" + strings.Join(kinds, "; ") + ")"
	}
	what := first.message
	if first.result != fleetv1alpha1.ApplyResultFailed {
		what = string(first.result) + ": " + what
	}
	return fmt.Sprintf("%s; first: %s: %s", msg, first.ref, what)
}

func appliedMessage(pass *applyPass) string {
	applied, skipped, pruned, kept := 0, 0, 0, 0
	for _, r := range pass.resources {
		if r.result == fleetv1alpha1.ApplyResultSkipped {
			skipped++
		} else {
			applied++
		}
	}
	for _, r := range pass.pruned {
		if r.result == fleetv1alpha1.ApplyResultPruned {
			pruned++
		} else {
			kept++
		}
	}
	msg := fmt.Sprintf("%d resources applied", applied)
	if skipped > 0 {
		msg += fmt.Sprintf(", %d skipped (reconcile disabled)", skipped)
	}
	if pruned > 0 {
		msg += fmt.Sprintf(", %d pruned", pruned)
	}
	if kept > 0 {
		msg += fmt.Sprintf(", %d left the Work but were left in place", kept)
	}
	return msg
}

func resourceStatus(r resourceResult) fleetv1alpha1.ResourceStatus {
	rs := fleetv1alpha1.ResourceStatus{
		Group: r.ref.Group, Version: r.ref.Version, Kind: r.ref.Kind,
		Namespace: r.ref.Namespace, Name: r.ref.Name,
		Result: r.result, Health: r.health.Status,
	}
	rs.Message = r.message
	if rs.Message == "" && r.health.Status != "" && r.health.Status != fleetv1alpha1.HealthCurrent {
		rs.Message = r.health.Message
	}
	rs.Message = truncate(rs.Message)
	rs.Cause = causeStatus(r.cause)
	// Keep the API's bounds even for the identity of a malformed manifest.
	rs.Group, rs.Version, rs.Kind = clip(rs.Group, 253), clip(rs.Version, 63), clip(rs.Kind, 63)
	rs.Namespace, rs.Name = clip(rs.Namespace, 63), clip(rs.Name, 253)
	return rs
}

// settled reports whether the last pass needs no quick re-check: nothing is
// converging and nothing failed that the agent retries by itself.
func settled(pass *applyPass) bool {
	for _, r := range pass.resources {
		switch {
		case r.result == fleetv1alpha1.ApplyResultFailed && !r.permanent:
			return false
		case r.result == fleetv1alpha1.ApplyResultApplied || r.result == fleetv1alpha1.ApplyResultSkipped ||
			r.result == fleetv1alpha1.ApplyResultNotSynced:
			if r.health.Status == fleetv1alpha1.HealthInProgress || r.health.Status == fleetv1alpha1.HealthUnknown {
				return false
			}
			if r.cause != nil {
				// Failed by what the member says (a Pod backing off), not by
				// the object itself: it may recover, look again soon.
				return false
			}
		}
	}
	for _, r := range pass.pruned {
		if r.result == fleetv1alpha1.ApplyResultFailed {
			return false
		}
	}
	return true
}

// Re-check backoff while a Work converges.
const (
	minRecheck = time.Second
	maxRecheck = 30 * time.Second
)

// recheckAfter is the delay before the next look at a Work: backing off
// from minRecheck to maxRecheck while it is unsettled (attempt counts the
// unsettled looks so far), the resync interval once settled; jittered so
// that many Works (and many agents) do not move in step.
func recheckAfter(isSettled bool, attempt int, resync time.Duration, rnd func() float64) time.Duration {
	if isSettled {
		// ±10% around the resync interval.
		return time.Duration(float64(resync) * (0.9 + 0.2*rnd()))
	}
	d := minRecheck
	for i := 0; i < attempt && d < maxRecheck; i++ {
		d *= 2
	}
	d = min(d, maxRecheck)
	// Up to +25%, never below the minimum.
	return time.Duration(float64(d) * (1 + 0.25*rnd()))
}

func jitterRand() float64 { return rand.Float64() } //nolint:gosec // jitter, not security

func truncate(s string) string { return clip(s, maxMessageLength) }

// clip shortens s to at most n bytes (so also n characters), on a rune
// boundary, marking the cut with "...".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut, suffix := n-3, "..."
	if cut < 0 {
		cut, suffix = n, ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}

// setHealthy sets the Healthy condition from the health of the resources,
// naming the first failed (or else the first not yet current) one, and
// reports whether all of them are current.
func setHealthy(set func(condType string, status metav1.ConditionStatus, reason, message string),
	summary health.Summary, firstFailed, firstUnhealthy *resourceResult) bool {
	switch summary.Status() {
	case fleetv1alpha1.HealthCurrent:
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, summary.String())
		return true
	case fleetv1alpha1.HealthFailed:
		if c := firstFailed.cause; c != nil {
			// The member's reason is the condition's, so that it travels
			// as it is to the Rollout's failures, Events and metrics.
			// The member's words come first, so that they survive the
			// cuts of one-line views (`flotilla rollout status`).
			where := summary.String()
			if c.Object != "" {
				where = c.Object + "; " + where
			}
			set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, conditionReason(c.Reason),
				fmt.Sprintf("%s %s: %s (%s)", firstFailed.ref.Kind, objectName(firstFailed.ref.Namespace, firstFailed.ref.Name), c.Brief(), where))
			return false
		}
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy,
			fmt.Sprintf("%s; %s: %s", summary, firstFailed.ref, firstFailed.health.Message))
	default:
		r := firstUnhealthy
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress,
			fmt.Sprintf("%s; %s %s: %s", summary, r.ref.Kind, objectName(r.ref.Namespace, r.ref.Name), inWords(r.health.Message)))
	}
	return false
}

// conditionReason makes a cause's reason a valid condition reason (letters,
// digits, '_', ',' and ':', starting with a letter, at most 1024 bytes);
// Unhealthy when nothing of it is.
func conditionReason(reason string) string {
	var b strings.Builder
	for _, r := range reason {
		switch {
		case r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
		case b.Len() > 0 && (r >= '0' && r <= '9' || r == '_' || r == ',' || r == ':'):
		default:
			continue
		}
		if b.Len() == 128 {
			break
		}
		b.WriteRune(r)
	}
	out := strings.TrimRight(b.String(), ",:")
	if out == "" {
		return fleetv1alpha1.ReasonUnhealthy
	}
	return out
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// kstatusCounts matches kstatus's replica counts of workloads ("Available:
// 1/2", "Updated: 0/2", "Ready: 1/3") and inWords says them as a person
// would: "1 of 2 replicas available".
var (
	kstatusCounts      = regexp.MustCompile(`\b(Available|Updated|Ready): (\d+)/(\d+)`)
	kstatusTerminating = regexp.MustCompile(`\bPending termination: (\d+)`)
)

// inWords rewrites kstatus's terse workload progress for the Healthy
// condition, which is what a cluster past its progress deadline says it
// was waiting for: "Available: 1/2" becomes "1 of 2 replicas available",
// "Pending termination: 1" "1 old replicas terminating".
func inWords(msg string) string {
	msg = kstatusCounts.ReplaceAllStringFunc(msg, func(m string) string {
		g := kstatusCounts.FindStringSubmatch(m)
		return g[2] + " of " + g[3] + " replicas " + strings.ToLower(g[1])
	})
	return kstatusTerminating.ReplaceAllString(msg, "$1 old replicas terminating")
}
