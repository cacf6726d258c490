package instanceplan

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

// Report is what one reconcile of an instance found and did: what the
// status is made from.
type Report struct {
	// Decision is the Routing's.
	Decision Decision
	// Promise names the Promise (in the PromiseNotReady message).
	Promise string
	// PromiseDeleting says the Promise is being deleted and its deletion
	// waits for its instances: nothing is rendered (WaitForRevision), the
	// Works stay as they are.
	PromiseDeleting bool
	// Placement is where the instance lands, or its violations.
	Placement placement.Result
	// Failed are the clusters whose rendering failed, with the error.
	Failed map[string]error
	// Works are the instance's Works on its placed clusters, as written.
	Works []fleetv1alpha1.Work
	// InstanceRevision is the instance revision of the current spec; empty
	// unless the Decision is Render.
	InstanceRevision string
	// SpecRollout is the newest Rollout of the instance whose target is
	// InstanceRevision; nil when there is none.
	SpecRollout *fleetv1alpha1.Rollout
	// Offline are the placed clusters that are Offline: their agents' last
	// reports are not current, so a Work there is not counted ready.
	Offline map[string]bool
	// Held are the clusters that left the placement but keep their Works
	// (Plan.Held), for HeldFor.
	Held    []string
	HeldFor HoldReason
	// Waiting are the placed clusters a new instance is not written to
	// while a FleetFreeze is in force (Plan.Waiting).
	Waiting []string
}

// NewReport is the Report of routing r once carried out: failed are the
// failed renders, works the subject's Works as they now are, by cluster.
func NewReport(r Routing, failed map[string]error, works map[string]*fleetv1alpha1.Work) Report {
	return Report{
		Decision:         r.Decision,
		Promise:          r.Subject.Promise,
		Placement:        r.Placement,
		Failed:           failed,
		Works:            OnClusters(works, r.Placement.Clusters),
		InstanceRevision: r.InstanceRevision,
		SpecRollout:      r.SpecRollout,
	}
}

// heldMessage tells of the clusters that left the placement and keep their
// Works, and why ("" when none), naming up to 10.
func (o Report) heldMessage() string {
	if len(o.Held) == 0 {
		return ""
	}
	return "; " + HeldMessage(o.Held, o.HeldFor, "the instance")
}

// HeldMessage says that held clusters keep their Works, and why, naming up
// to 10; deleting owner (the instance, the Promise) removes them.
func HeldMessage(held []string, why HoldReason, owner string) string {
	names := namedUpTo(held, maxNamedClusters)
	if why == HeldForNoCluster {
		return fmt.Sprintf("%d clusters left the placement but keep their Works: the placement matches no cluster, "+
			"which the hub takes for a mistake (a Fleet deleted, a selector or a label mistyped) rather than remove "+
			"every Work at once; fix the placement, or delete %s to remove them: %s", len(held), owner, names)
	}
	return fmt.Sprintf("%d clusters left the placement but keep their Works while a FleetFreeze is in force: %s", len(held), names)
}

// WaitingMessage says that a new subject's Works wait for the FleetFreeze
// in force to lift, naming up to 10 of its placed clusters.
func WaitingMessage(waiting []string, owner string) string {
	return fmt.Sprintf("a FleetFreeze is in force: %s is new and passes no wave, so the kill switch holds it whole; "+
		"its Works are written to its %d clusters when the freeze lifts: %s", owner, len(waiting), namedUpTo(waiting, maxNamedClusters))
}

// promiseNotReady explains why there is nothing to render yet ("": there is).
func (o Report) promiseNotReady() string {
	if o.Decision != WaitForRevision {
		return ""
	}
	if o.PromiseDeleting {
		return fmt.Sprintf("Promise %s is being deleted and waits for its instances: the hub renders none of them, "+
			"and their Works stay as they are; delete this instance, or ask the platform", o.Promise)
	}
	return fmt.Sprintf("Promise %s has no revision yet (see its conditions)", o.Promise)
}

// Status returns the status an instance should have given what a reconcile
// found and did. It keeps condition transition times.
func Status(old fleetv1alpha1.InstanceStatus, generation int64, o Report, now time.Time) fleetv1alpha1.InstanceStatus {
	status := *old.DeepCopy()
	status.ObservedGeneration = generation
	set := fleetv1alpha1.NewConditionSetter(&status.Conditions, generation, now).Set
	sum := rollup.SummarizeWorks(o.Works)
	ready, offline := readyOnline(o.Works, o.Offline)
	status.Clusters = fleetv1alpha1.InstanceClusterCounts{
		Placed:  int32(len(o.Placement.Clusters)),
		Ready:   int32(ready),
		Failing: int32(sum.Failed),
		Offline: int32(len(offline)),
	}
	status.Revision = mostCommonRevision(sum.ByRevision)
	if o.InstanceRevision != "" {
		status.InstanceRevision = o.InstanceRevision
	}
	status.AppliedInstanceRevision = appliedInstanceRevision(o.Works)
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
	notReady := o.promiseNotReady()
	switch {
	case notReady != "":
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionUnknown, fleetv1alpha1.ReasonPromiseNotReady, notReady)
	case len(o.Placement.Violations) > 0:
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionFalse, o.Placement.Violations[0].Reason, o.Placement.Message()+"; no Work is written")
	case len(o.Placement.Clusters) == 0:
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionFalse, fleetv1alpha1.ReasonNoMatchingClusters,
			"no cluster matches the Promise's placement, the instance's spec.placement and its namespace's Fleets"+o.heldMessage())
	default:
		placedMsg = fmt.Sprintf("placed on %d clusters: %s", len(o.Placement.Clusters), strings.Join(o.Placement.Clusters, ", "))
		set(fleetv1alpha1.ConditionPlaced, metav1.ConditionTrue, fleetv1alpha1.ReasonPlaced, placedMsg+o.heldMessage())
	}

	// Stalled: what needs a person.
	stalledReason, stalledMsg := "", ""
	switch {
	case len(o.Placement.Violations) > 0:
		stalledReason, stalledMsg = o.Placement.Violations[0].Reason, o.Placement.Message()
	case len(o.Failed) > 0:
		stalledReason, stalledMsg = renderFailure(o.Failed)
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
	placed := len(o.Placement.Clusters)
	var readyReason, readyMsg string
	switch {
	case notReady != "":
		readyReason, readyMsg = fleetv1alpha1.ReasonPromiseNotReady, notReady
	case stalledReason != "":
		readyReason, readyMsg = stalledReason, stalledMsg
	case placed == 0:
		readyReason, readyMsg = fleetv1alpha1.ReasonNoMatchingClusters, "placed on no cluster"
	case sum.Failed > 0:
		readyReason, readyMsg = fleetv1alpha1.ReasonWorksFailing, failureMessage(sum)
	case len(o.Waiting) > 0:
		readyReason, readyMsg = fleetv1alpha1.ReasonFleetFrozen, WaitingMessage(o.Waiting, "the instance")
	case spec.reason != "" && spec.reason != fleetv1alpha1.ReasonSucceeded:
		// Healthy is not Ready while the clusters run another spec than
		// the one the instance shows.
		readyReason, readyMsg = spec.reason, spec.message
	case ready+len(offline) == placed && len(offline) > 0:
		// Nothing left to converge that the hub can see: what runs on the
		// Offline clusters is not known.
		readyReason, readyMsg = fleetv1alpha1.ReasonClustersOffline, fmt.Sprintf("%d of %d clusters ready; %s",
			ready, placed, offlineMessage(offline))
	case ready < placed:
		readyReason, readyMsg = fleetv1alpha1.ReasonProgressing, fmt.Sprintf("%d of %d clusters ready", ready, placed)
		if len(offline) > 0 {
			readyMsg += "; " + offlineMessage(offline)
		}
	}
	if readyReason == "" {
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, fmt.Sprintf("ready on %d of %d clusters", placed, placed))
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
		return status
	}
	set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, readyReason, readyMsg)
	if readyReason == fleetv1alpha1.ReasonProgressing || readyReason == fleetv1alpha1.ReasonPromiseNotReady ||
		readyReason == fleetv1alpha1.ReasonRollingBack || readyReason == fleetv1alpha1.ReasonFleetFrozen {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, readyReason, readyMsg)
	} else {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, readyReason, "")
	}
	return status
}

// readyOnline counts the Works that are healthy on clusters not Offline,
// and lists the Works' clusters that are Offline, sorted.
func readyOnline(works []fleetv1alpha1.Work, offline map[string]bool) (ready int, offlineClusters []string) {
	for i := range works {
		w := &works[i]
		if offline[w.Spec.Cluster] {
			offlineClusters = append(offlineClusters, w.Spec.Cluster)
			continue
		}
		if state, _ := rollup.Classify(w); state == rollup.StateHealthy {
			ready++
		}
	}
	slices.Sort(offlineClusters)
	return ready, offlineClusters
}

// maxNamedClusters bounds the clusters a condition's message names (the
// Offline ones of Ready, the held ones of Placed).
const maxNamedClusters = 10

// offlineMessage says which clusters are Offline, naming the first few.
func offlineMessage(clusters []string) string {
	return fmt.Sprintf("%d Offline (%s): what runs there is not known; their agents' last reports are not counted",
		len(clusters), namedUpTo(clusters, maxNamedClusters))
}

// namedUpTo lists the first n clusters, and "…" for any more.
func namedUpTo(clusters []string, n int) string {
	named := strings.Join(clusters[:min(len(clusters), n)], ", ")
	if len(clusters) > n {
		named += ", …"
	}
	return named
}

// specState is the SpecApplied condition's reason and message ("" reason:
// not judged), and whether it needs a person.
type specState struct {
	reason, message string
	stalled         bool
}

// specApplied judges whether the instance's clusters run the current spec
// (o.InstanceRevision), and if not, why: its Rollout is still moving it, is
// moving the clusters back, or was rolled back or stopped, so the fleet runs
// an earlier spec than the one the instance shows.
func specApplied(o Report) specState {
	want := o.InstanceRevision
	if want == "" || len(o.Works) == 0 {
		return specState{}
	}
	behind := 0
	for i := range o.Works {
		w := &o.Works[i]
		if w.Spec.InstanceRevision != want || w.Status.AppliedInstanceRevision != want {
			behind++
		}
	}
	placed := len(o.Placement.Clusters)
	if behind == 0 {
		return specState{reason: fleetv1alpha1.ReasonSucceeded,
			message: fmt.Sprintf("%d of %d clusters applied instance revision %s", len(o.Works), placed, want)}
	}
	running := appliedInstanceRevision(o.Works)
	on := fmt.Sprintf("%d of %d clusters applied instance revision %s of the current spec", len(o.Works)-behind, placed, want)
	ro := o.SpecRollout
	if ro == nil {
		return specState{reason: fleetv1alpha1.ReasonProgressing, message: on}
	}
	name := fmt.Sprintf("Rollout %s/%s", ro.Namespace, ro.Name)
	inLine := fmt.Sprintf("; the fleet runs instance revision %s: apply that spec and its Overrides again to bring the instance in line, "+
		"or change them to roll forward", running)
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

// ErrWorkNameTaken: a Work's name on its cluster is held by a Work the hub
// does not own for the subject (Subject.Owns), which is left as it is.
var ErrWorkNameTaken = errors.New("the name is taken by a Work the hub does not own for this subject and cluster")

// renderFailure is the reason and message of failed renders (and of Works
// that could not be written, ErrWorkNameTaken): the first cluster's (by
// name) whose render was refused, else the first cluster's.
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
	what, kept, keptAll := "rendering failed", "its Work is left as it was", "their Works are left as they were"
	switch reason {
	case fleetv1alpha1.ReasonRenderFailed:
	case fleetv1alpha1.ReasonWorkNameTaken:
		what, kept, keptAll = "the Work could not be created", "the Work holding its name is left as it is", "the Works holding their names are left as they are"
	default:
		what = "the render was refused"
	}
	if len(clusters) == 1 {
		return reason, fmt.Sprintf("%s on cluster %s; %s: %v", what, shown, kept, errs[shown])
	}
	return reason, fmt.Sprintf("%s on %d clusters (%s); %s: %s: %v",
		what, len(clusters), strings.Join(clusters, ", "), keptAll, shown, errs[shown])
}

// renderReason is the Ready reason of a failed render.
func renderReason(err error) string {
	var violation *scope.Violation
	var override *render.OverrideError
	var spec *render.SpecError
	switch {
	case errors.As(err, &violation):
		return fleetv1alpha1.ReasonOutputNotAllowed
	case errors.As(err, &override):
		return fleetv1alpha1.ReasonPatchNotAllowed
	case errors.As(err, &spec):
		return fleetv1alpha1.ReasonInvalidSpec
	case errors.Is(err, render.ErrValueCreatesStructure):
		return fleetv1alpha1.ReasonValueCreatesStructure
	case errors.Is(err, render.ErrBudgetExceeded):
		return fleetv1alpha1.ReasonRenderBudgetExceeded
	case errors.Is(err, ErrWorkNameTaken):
		return fleetv1alpha1.ReasonWorkNameTaken
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

// SameConditions reports whether two condition lists agree on every type's
// status and reason. A reconcile that wrote Works puts off a status write
// that says nothing new by them (see the controller's Reconcile).
func SameConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for _, c := range a {
		d := meta.FindStatusCondition(b, c.Type)
		if d == nil || d.Status != c.Status || d.Reason != c.Reason {
			return false
		}
	}
	return true
}
