package plan

import (
	"fmt"
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
	MaxStatusResources = 1000
	MaxMessageLength   = 1024
)

// Resource is what status reports of one manifest's outcome, or of one
// pruned object's.
type Resource struct {
	Group, Version, Kind, Namespace, Name string

	Result  fleetv1alpha1.ApplyResult
	Health  health.Result
	Message string
	// Permanent marks a failure that retrying will not fix: the manifest
	// needs a change (or a kind the member does not have).
	Permanent bool
	// Drift the object has now and the agent leaves (Report, or a failed
	// correction); nil when none was found or it was not judged.
	Drift *drift.Result
	// Corrected is the drift a pass or check undid; nil when none.
	Corrected *drift.Result
	// Accepted is drift a DriftException accepts, left in place whatever
	// the policy; Exception names it. nil when none.
	Accepted  *drift.Result
	Exception string
	// Cause is why the object is not healthy, as seen on the member; nil
	// when healthy or when nothing more specific is known.
	Cause *health.Cause
	// Unmanaged: Skipped for fleet.flotilla.dev/reconcile: disabled on the
	// live object, which anyone who may update the object can write.
	Unmanaged bool
}

// String renders the object for messages: Kind.group/namespace/name.
func (r Resource) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return kind + "/" + r.Name
	}
	return kind + "/" + r.Namespace + "/" + r.Name
}

// key identifies an object regardless of the API version it is served at.
type key struct{ Group, Kind, Namespace, Name string }

func (r Resource) key() key { return key{r.Group, r.Kind, r.Namespace, r.Name} }

// Report is the last apply pass of a Work with the health seen since, as its
// status reports it.
type Report struct {
	Generation       int64
	Revision         string
	InstanceRevision string
	// At is when the pass ran.
	At time.Time
	// Resources has one outcome per manifest, in manifest order; Pruned one
	// per object that left the Work.
	Resources, Pruned []Resource
	// Corrected are the drift corrections made since status was last
	// written (by the pass or by checks since).
	Corrected []Resource
	// DriftJudged says drift is judged on this member (it can dry-run).
	DriftJudged bool
}

// Complete reports whether every manifest is on the member as desired
// (applied, or deliberately skipped): none failed, was refused (outside the
// Work's scope) or is in conflict (an existing object not the Work's).
func Complete(resources []Resource) bool {
	for _, r := range resources {
		if Unapplied(r.Result) {
			return false
		}
	}
	return true
}

// Healthy reports whether every manifest on the member (applied, skipped or
// synced) is healthy: what the Healthy condition says.
func Healthy(resources []Resource) bool {
	var summary health.Summary
	for _, r := range resources {
		switch r.Result {
		case fleetv1alpha1.ApplyResultApplied, fleetv1alpha1.ApplyResultSkipped, fleetv1alpha1.ApplyResultNotSynced:
			summary.Add(r.Health.Status)
		}
	}
	return summary.Status() == fleetv1alpha1.HealthCurrent
}

// Unapplied reports whether a result leaves a manifest not on the member as
// desired: it failed, was refused or is in conflict.
func Unapplied(r fleetv1alpha1.ApplyResult) bool {
	switch r {
	case fleetv1alpha1.ApplyResultFailed, fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused:
		return true
	}
	return false
}

// Status returns the Work status for the last pass, starting from the
// status the hub holds (prev) so that condition transition times and the
// last full apply survive. It is pure: now is passed in.
func Status(prev fleetv1alpha1.WorkStatus, rec Report, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	st.ObservedGeneration = rec.Generation
	// An object left alone by the annotation on the live object holds what
	// was there before: a revision the Work did not run yet is not applied
	// by it, whoever wrote the annotation (a team that may update its
	// objects on the member could otherwise keep a platform's change off
	// them while the Work read it applied and healthy).
	var unmanaged *Resource
	if rec.Revision != prev.AppliedRevision || rec.InstanceRevision != prev.AppliedInstanceRevision {
		for i := range rec.Resources {
			if rec.Resources[i].Unmanaged {
				unmanaged = &rec.Resources[i]
				break
			}
		}
	}
	if Complete(rec.Resources) && unmanaged == nil {
		st.AppliedRevision = rec.Revision
		st.AppliedInstanceRevision = rec.InstanceRevision
		st.LastAppliedTime = ptrTime(rec.At)
	}

	since := driftSince(prev)
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(rec.Resources)+len(rec.Pruned), MaxStatusResources))
	for _, r := range append(append([]Resource(nil), rec.Resources...), rec.Pruned...) {
		if len(st.Resources) == MaxStatusResources {
			break
		}
		rs := resourceStatus(r)
		rs.Drift = resourceDrift(r, since, now)
		st.Resources = append(st.Resources, rs)
	}

	var failedApply, failedPrune, permanent, transient, refusedN, conflictN int
	var firstApplyFailure, firstPruneFailure *Resource
	var summary health.Summary
	var firstUnhealthy, firstFailedHealth *Resource
	for i := range rec.Resources {
		r := &rec.Resources[i]
		switch r.Result {
		case fleetv1alpha1.ApplyResultFailed, fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused:
			failedApply++
			switch r.Result {
			case fleetv1alpha1.ApplyResultRefused:
				refusedN++
			case fleetv1alpha1.ApplyResultConflict:
				conflictN++
			}
			if r.Permanent {
				permanent++
			} else {
				transient++
			}
			if firstApplyFailure == nil {
				firstApplyFailure = r
			}
		case fleetv1alpha1.ApplyResultApplied, fleetv1alpha1.ApplyResultSkipped, fleetv1alpha1.ApplyResultNotSynced:
			summary.Add(r.Health.Status)
			if r.Health.Status == fleetv1alpha1.HealthFailed && (firstFailedHealth == nil || firstFailedHealth.Cause == nil && r.Cause != nil) {
				firstFailedHealth = r // the first with a cause, else the first
			}
			if r.Health.Status != fleetv1alpha1.HealthCurrent && (firstUnhealthy == nil || firstUnhealthy.Cause == nil && r.Cause != nil) {
				firstUnhealthy = r
			}
		}
	}
	for i := range rec.Pruned {
		if rec.Pruned[i].Result == fleetv1alpha1.ApplyResultFailed {
			failedPrune++
			if firstPruneFailure == nil {
				firstPruneFailure = &rec.Pruned[i]
			}
		}
	}

	// The message is the state here (counts, the first failure).
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, rec.Generation, now).Set

	// Applied
	appliedOK := false
	switch {
	case failedApply > 0:
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed,
			applyFailedMessage(failedApply, len(rec.Resources), refusedN, conflictN, firstApplyFailure))
	case unmanaged != nil:
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed,
			fmt.Sprintf("revision %s is not applied in full: %s carries %s=%s on the member, so it keeps what it had; remove the annotation to apply it",
				rec.Revision, unmanaged, fleetv1alpha1.AnnotationReconcile, fleetv1alpha1.ReconcileDisabled))
	case failedPrune > 0:
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonPruneFailed,
			fmt.Sprintf("%d objects that left the Work could not be pruned; first: %s: %s", failedPrune, firstPruneFailure, firstPruneFailure.Message))
	default:
		appliedOK = true
		set(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, appliedMessage(rec))
	}

	// Healthy, judged over what is on the member.
	healthOK := setHealthy(set, summary, firstFailedHealth, firstUnhealthy)

	// Ready: applied in full and healthy.
	applied := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApplied)
	healthy := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionHealthy)
	switch {
	case appliedOK && healthOK:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded,
			fmt.Sprintf("revision %s applied and healthy", rec.Revision))
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
func setDrift(st *fleetv1alpha1.WorkStatus, prev fleetv1alpha1.WorkStatus, rec Report, now time.Time,
	set func(condType string, status metav1.ConditionStatus, reason, message string)) {
	var drifted, accepted []Resource
	for _, r := range rec.Resources {
		switch {
		case r.Drift != nil:
			drifted = append(drifted, r)
		case r.Accepted != nil:
			accepted = append(accepted, r)
		}
	}
	if len(drifted) > 0 || len(accepted) > 0 || len(rec.Corrected) > 0 || prev.Drift != nil {
		sum := &fleetv1alpha1.DriftSummary{}
		if prev.Drift != nil {
			sum = prev.Drift.DeepCopy()
		}
		sum.Unexplained = int32(min(len(drifted), MaxStatusResources)) //nolint:gosec // bounded
		sum.Accepted = int32(min(len(accepted), MaxStatusResources))   //nolint:gosec // bounded
		if n := len(rec.Corrected); n > 0 {
			sum.Corrections += int64(n)
			sum.LastCorrectionTime = ptrTime(now)
		}
		st.Drift = sum
	}
	if !rec.DriftJudged {
		return
	}
	switch {
	case len(drifted) > 0:
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionTrue, fleetv1alpha1.ReasonDriftDetected,
			fmt.Sprintf("%d resources differ from what was applied; first: %s: %s", len(drifted), drifted[0], DescribeDrift(*drifted[0].Drift)))
	case len(rec.Corrected) > 0:
		last := rec.Corrected[len(rec.Corrected)-1]
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftCorrected,
			fmt.Sprintf("corrected drift on %d resources; last: %s: %s", len(rec.Corrected), last, DescribeDrift(*last.Corrected)))
	case len(accepted) > 0:
		set(fleetv1alpha1.ConditionDrifted, metav1.ConditionFalse, fleetv1alpha1.ReasonDriftAccepted,
			fmt.Sprintf("%d resources differ from what was applied as DriftExceptions accept; first: %s: %s (DriftException %s)",
				len(accepted), accepted[0], DescribeDrift(*accepted[0].Accepted), accepted[0].Exception))
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
		out = append(out, Clip(f, 512))
	}
	return out
}

// DescribeDrift renders a drift for a condition message.
func DescribeDrift(d drift.Result) string {
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
func driftSince(prev fleetv1alpha1.WorkStatus) map[key]metav1.Time {
	out := map[key]metav1.Time{}
	for _, rs := range prev.Resources {
		if rs.Drift != nil && rs.Drift.Since != nil {
			out[key{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = *rs.Drift.Since
		}
	}
	return out
}

// resourceDrift is the drift reported on a resource: unexplained drift if
// any (the policy applies to it), with the fields an exception accepts
// alongside; else accepted drift; nil when none.
func resourceDrift(r Resource, since map[key]metav1.Time, now time.Time) *fleetv1alpha1.ResourceDrift {
	res := r.Drift
	d := &fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained}
	switch {
	case res == nil && r.Accepted == nil:
		return nil
	case res == nil:
		res = r.Accepted
		d.State, d.Exception = fleetv1alpha1.DriftAccepted, Clip(r.Exception, 317)
	case r.Accepted != nil:
		d.Exception, d.AcceptedFields = Clip(r.Exception, 317), clipFields(r.Accepted.Fields)
	}
	d.By = Clip(res.By, 253)
	d.Fields = clipFields(res.Fields)
	if t, ok := since[r.key()]; ok {
		d.Since = &t
	} else {
		d.Since = ptrTime(now)
	}
	return d
}

// DeletingStatus is the status of a Work being deleted (held by a finalizer):
// what pruning did.
func DeletingStatus(prev fleetv1alpha1.WorkStatus, generation int64, pruned []Resource, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	st.ObservedGeneration = generation
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(pruned), MaxStatusResources))
	failedPrune := 0
	for _, r := range pruned {
		if r.Result == fleetv1alpha1.ApplyResultFailed {
			failedPrune++
		}
		if len(st.Resources) < MaxStatusResources {
			st.Resources = append(st.Resources, resourceStatus(r))
		}
	}
	reason, msg := fleetv1alpha1.ReasonProgressing, fmt.Sprintf("deleting: %d objects handled", len(pruned))
	if failedPrune > 0 {
		reason, msg = fleetv1alpha1.ReasonPruneFailed, fmt.Sprintf("deleting: %d objects could not be pruned yet", failedPrune)
	}
	fleetv1alpha1.NewConditionSetter(&st.Conditions, generation, now).Set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	return st
}

// applyFailedMessage says how many resources were not applied, of which how
// many were refused (outside the Work's scope) or in conflict (existing
// objects the Work did not create), and names the first.
func applyFailedMessage(failed, total, refusedN, conflictN int, first *Resource) string {
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
	what := first.Message
	if first.Result != fleetv1alpha1.ApplyResultFailed {
		what = string(first.Result) + ": " + what
	}
	return fmt.Sprintf("%s; first: %s: %s", msg, first, what)
}

func appliedMessage(rec Report) string {
	applied, skipped, pruned, kept := 0, 0, 0, 0
	for _, r := range rec.Resources {
		if r.Result == fleetv1alpha1.ApplyResultSkipped {
			skipped++
		} else {
			applied++
		}
	}
	for _, r := range rec.Pruned {
		if r.Result == fleetv1alpha1.ApplyResultPruned {
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

func resourceStatus(r Resource) fleetv1alpha1.ResourceStatus {
	rs := fleetv1alpha1.ResourceStatus{
		Group: r.Group, Version: r.Version, Kind: r.Kind,
		Namespace: r.Namespace, Name: r.Name,
		Result: r.Result, Health: r.Health.Status,
	}
	rs.Message = r.Message
	if rs.Message == "" && r.Health.Status != "" && r.Health.Status != fleetv1alpha1.HealthCurrent {
		rs.Message = r.Health.Message
	}
	rs.Message = Truncate(rs.Message)
	rs.Cause = CauseStatus(r.Cause)
	// Keep the API's bounds even for the identity of a malformed manifest.
	rs.Group, rs.Version, rs.Kind = Clip(rs.Group, 253), Clip(rs.Version, 63), Clip(rs.Kind, 63)
	rs.Namespace, rs.Name = Clip(rs.Namespace, 63), Clip(rs.Name, 253)
	return rs
}

// Settled reports whether the last pass needs no quick re-check: nothing is
// converging and nothing failed that the agent retries by itself.
func Settled(resources, pruned []Resource) bool {
	for _, r := range resources {
		switch {
		case r.Result == fleetv1alpha1.ApplyResultFailed && !r.Permanent:
			return false
		case r.Result == fleetv1alpha1.ApplyResultApplied || r.Result == fleetv1alpha1.ApplyResultSkipped ||
			r.Result == fleetv1alpha1.ApplyResultNotSynced:
			if r.Health.Status == fleetv1alpha1.HealthInProgress || r.Health.Status == fleetv1alpha1.HealthUnknown {
				return false
			}
			if r.Cause != nil {
				// Failed by what the member says (a Pod backing off), not by
				// the object itself: it may recover, look again soon.
				return false
			}
		}
	}
	for _, r := range pruned {
		if r.Result == fleetv1alpha1.ApplyResultFailed {
			return false
		}
	}
	return true
}

// Truncate bounds a message as the Work API does.
func Truncate(s string) string { return Clip(s, MaxMessageLength) }

// Clip shortens s to at most n bytes (so also n characters), on a rune
// boundary, marking the cut with "...".
func Clip(s string, n int) string {
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
	summary health.Summary, firstFailed, firstUnhealthy *Resource) bool {
	switch summary.Status() {
	case fleetv1alpha1.HealthCurrent:
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, summary.String())
		return true
	case fleetv1alpha1.HealthFailed:
		if c := firstFailed.Cause; c != nil {
			// The member's reason is the condition's, so that it travels
			// as it is to the Rollout's failures, Events and metrics.
			// The member's words come first, so that they survive the
			// cuts of one-line views (`flotilla rollout status`).
			where := summary.String()
			if c.Object != "" {
				where = c.Object + "; " + where
			}
			set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, ConditionReason(c.Reason),
				fmt.Sprintf("%s %s: %s (%s)", firstFailed.Kind, objectName(firstFailed.Namespace, firstFailed.Name), c.Brief(), where))
			return false
		}
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonUnhealthy,
			fmt.Sprintf("%s; %s: %s", summary, firstFailed, firstFailed.Health.Message))
	default:
		r := firstUnhealthy
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress,
			fmt.Sprintf("%s; %s %s: %s", summary, r.Kind, objectName(r.Namespace, r.Name), InWords(r.Health.Message)))
	}
	return false
}

// ConditionReason makes a cause's reason a valid condition reason (letters,
// digits, '_', ',' and ':', starting with a letter, at most 1024 bytes);
// Unhealthy when nothing of it is.
func ConditionReason(reason string) string {
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
// 1/2", "Updated: 0/2", "Ready: 1/3") and InWords says them as a person
// would: "1 of 2 replicas available".
var (
	kstatusCounts      = regexp.MustCompile(`\b(Available|Updated|Ready): (\d+)/(\d+)`)
	kstatusTerminating = regexp.MustCompile(`\bPending termination: (\d+)`)
)

// InWords rewrites kstatus's terse workload progress for the Healthy
// condition, which is what a cluster past its progress deadline says it
// was waiting for: "Available: 1/2" becomes "1 of 2 replicas available",
// "Pending termination: 1" "1 old replicas terminating".
func InWords(msg string) string {
	msg = kstatusCounts.ReplaceAllStringFunc(msg, func(m string) string {
		g := kstatusCounts.FindStringSubmatch(m)
		return g[2] + " of " + g[3] + " replicas " + strings.ToLower(g[1])
	})
	return kstatusTerminating.ReplaceAllString(msg, "$1 old replicas terminating")
}

// ReportOnlyStatus returns the Work status for what a report-only agent saw,
// starting from the status the hub holds (prev): the publisher's fields and
// conditions are kept; Healthy, Ready, Reconciling, Stalled and the
// resources are set. It is pure: now is passed in.
func ReportOnlyStatus(prev fleetv1alpha1.WorkStatus, rec Report, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	resources := rec.Resources
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(resources), MaxStatusResources))
	var summary health.Summary
	var firstUnhealthy, firstFailed *Resource
	for i := range resources {
		r := &resources[i]
		if len(st.Resources) < MaxStatusResources {
			st.Resources = append(st.Resources, resourceStatus(*r))
		}
		summary.Add(r.Health.Status)
		if r.Health.Status == fleetv1alpha1.HealthFailed && (firstFailed == nil || firstFailed.Cause == nil && r.Cause != nil) {
			firstFailed = r // the first with a cause, else the first
		}
		if r.Health.Status != fleetv1alpha1.HealthCurrent && (firstUnhealthy == nil || firstUnhealthy.Cause == nil && r.Cause != nil) {
			firstUnhealthy = r
		}
	}
	// The message is the state here (counts, the first failure).
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, rec.Generation, now).Set

	healthOK := setHealthy(set, summary, firstFailed, firstUnhealthy)
	healthy := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionHealthy)

	// Ready: committed (the publisher's Applied, for this generation) and healthy.
	applied := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApplied)
	committed := st.ObservedGeneration == rec.Generation && applied != nil &&
		applied.Status == metav1.ConditionTrue && applied.ObservedGeneration == rec.Generation
	switch {
	case !committed:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress,
			fmt.Sprintf("waiting for the hub to commit revision %s", rec.Revision))
	case healthOK:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded,
			fmt.Sprintf("revision %s committed, synced and healthy", rec.Revision))
	default:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, healthy.Reason, healthy.Message)
	}

	if summary.Failed > 0 {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, healthy.Reason, healthy.Message)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionStalled)
	}
	if summary.InProgress > 0 || summary.Unknown > 0 {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, healthy.Message)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionReconciling)
	}
	return st
}

// CauseStatus is a cause as the Work status reports it.
func CauseStatus(c *health.Cause) *fleetv1alpha1.ResourceCause {
	if c == nil {
		return nil
	}
	return &fleetv1alpha1.ResourceCause{Reason: c.Reason, Message: c.Message, Object: c.Object,
		Container: c.Container, Severity: c.Severity}
}
