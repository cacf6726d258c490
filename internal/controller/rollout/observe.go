package rollout

import (
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// adoptionOf is status.adoption of a Deadline rollout: the instances it
// moves (those with a Work on one of its target clusters) and, among them,
// those whose owners adopted its target (adopted). An instance on none of
// those clusters is no choice the Rollout acts on: counted, a team's
// instances placed nowhere, annotated or not, made the platform read most
// owners as having adopted (or as not) and force, or wait, on that.
func adoptionOf(works map[string][]*fleetv1alpha1.Work, targets []string, adopted func(*fleetv1alpha1.Work) bool) *fleetv1alpha1.AdoptionStatus {
	instances := map[types.NamespacedName]bool{} // adopted or not
	for _, c := range targets {
		for _, w := range works[c] {
			if i := w.Spec.Subject.Instance; i != nil {
				instances[types.NamespacedName{Namespace: i.Namespace, Name: i.Name}] = adopted(w)
			}
		}
	}
	a := &fleetv1alpha1.AdoptionStatus{Instances: int32(len(instances))}
	for _, ok := range instances {
		if ok {
			a.Adopted++
		}
	}
	return a
}

// observeCluster sums up a subject's Works on one cluster (at least one) as
// the engine sees a cluster. Only the Works the Rollout moves count for it:
// those of instances (and fleet resources) that were there when it started
// (joined says which came since; nil: every Work, before the start). A new
// instance's Work is not the Rollout's, and neither is a failure on another
// revision than the cluster's.
//
//   - Revision is the target as soon as any Work renders it (the cluster was
//     admitted, even if a crash left some of its Works behind); otherwise
//     the revision the Works render (the first, by name, when they differ).
//   - AppliedRevision is the revision every moved Work applied in full, if
//     they agree; else the target if one of them still runs it while the
//     cluster renders another revision (a rollback not applied everywhere
//     yet), so that the rollback waits for it; else "".
//   - Health is the worst of the moved Works': Failed, then Progressing (a
//     Work the agent has not acted on yet counts as Progressing, and so does
//     a moved Work not yet on the target of an admitted cluster), then
//     Healthy.
//   - Unattributed is the first failing Work (by name) whose failure is not
//     the Rollout's: one on another revision than the cluster's Revision
//     (not admitted yet, left behind, or a new instance still at the old
//     revision), or one created after the start, whatever its revision;
//     else the first moved Work on the target that fails after its other
//     revision moved last (an instance change admitted there after the
//     Promise's Rollout, or the reverse: movedLaterByOther). That
//     failure follows the other change, whose own Rollout judges it: here
//     the Work counts as Progressing, neither healthy nor failed.
//   - AdmittedAt and HealthSince are the latest of the moved Works'.
//   - Adopted is true when every instance on the cluster adopted the target
//     (adopted reports an instance Work's adoption; fleet Works do not adopt).
//   - Checks are the agents' reports of the checks of Rollout ro
//     (agentChecks).
//   - OnlineSince is when the Cluster's Available condition last turned
//     True (the hub's Cluster controller dates it): the cluster's return,
//     from which its wave's bake counts.
//
// sub is the Rollout's subject: which revision of a Work it moves
// (PromiseRevision or instance revision).
func observeCluster(c *fleetv1alpha1.Cluster, works []*fleetv1alpha1.Work, ro, target string, joined func(*fleetv1alpha1.Work) bool,
	sub subject, adopted func(*fleetv1alpha1.Work) bool) rollout.ClusterObservation {
	revisionOf := sub.revisionOf
	sort.Slice(works, func(i, j int) bool { return works[i].Name < works[j].Name })
	o := rollout.ClusterObservation{
		Name:   c.Name,
		Labels: c.Labels,
		Online: c.Status.Availability == fleetv1alpha1.ClusterAvailabilityAvailable,
		Health: rollout.HealthHealthy,
	}
	if hb := c.Status.LastHeartbeatTime; hb != nil {
		o.LastSeen = hb.Time
	}
	if up := meta.FindStatusCondition(c.Status.Conditions, fleetv1alpha1.ConditionAvailable); o.Online && up != nil && up.Status == metav1.ConditionTrue {
		o.OnlineSince = up.LastTransitionTime.Time
	}
	instances, adopters := 0, 0
	for i, w := range works {
		rendered, _ := revisionOf(w)
		if i == 0 || rendered == target {
			o.Revision = rendered
		}
		if w.Spec.Subject.Instance != nil {
			instances++
			if adopted != nil && adopted(w) {
				adopters++
			}
		}
	}
	o.Adopted = instances > 0 && adopters == instances
	moved := works
	if joined != nil {
		moved = nil
		for _, w := range works {
			if !joined(w) {
				moved = append(moved, w)
			}
		}
		if len(moved) == 0 {
			// Every Work was replaced since the start: judge what is there.
			moved = works
		}
	}
	isMoved := make(map[*fleetv1alpha1.Work]bool, len(moved))
	for _, w := range moved {
		isMoved[w] = true
	}

	applied, appliedAgree, runsTarget := "", true, false
	var later *rollout.Unattributed // a failure that follows the other revision's move
	for i, w := range moved {
		rendered, appliedRev := revisionOf(w)
		if i == 0 {
			applied = appliedRev
		} else if appliedRev != applied {
			appliedAgree = false
		}
		runsTarget = runsTarget || appliedRev == target
		if t := admittedAt(w); t.After(o.AdmittedAt) && rendered == target {
			o.AdmittedAt = t
		}
		h, since, reason, message := workHealth(w)
		if since.After(o.HealthSince) {
			o.HealthSince = since
		}
		if other, kind, moved := sub.movedLaterByOther(w); h == rollout.HealthFailed && rendered == target && moved {
			if later == nil {
				later = &rollout.Unattributed{Revision: other, Reason: reason,
					Message: workLabel(w) + ": " + message + " (since " + kind + " " + other + " was admitted, after " + target + ")", Since: since}
			}
			h, reason = rollout.HealthProgressing, fleetv1alpha1.ReasonProgressing
			message = "failing since " + kind + " " + other + " was admitted, after " + target + ": that change's failure, not this Rollout's"
		}
		if rendered != o.Revision {
			// Left behind on an admitted cluster: the Rollout moves it next.
			h, reason, message = rollout.HealthProgressing, fleetv1alpha1.ReasonProgressing, "not on "+target+" yet"
		}
		if worse(h, o.Health) {
			o.Health, o.Reason, o.Message = h, reason, message
			if inst := w.Spec.Subject.Instance; inst != nil && message != "" {
				o.Message = inst.Namespace + "/" + inst.Name + ": " + message
			}
		}
	}
	if appliedAgree {
		o.AppliedRevision = applied
	} else if runsTarget && o.Revision != target {
		// Some moved Works still run the target on a cluster that no
		// longer renders it (being rolled back): it has not left the
		// target, and a rollback must wait for it. On a cluster that
		// renders the target, "" keeps it from counting as applied.
		o.AppliedRevision = target
	}
	if o.Revision != target && o.Message == "" && len(moved) > 0 {
		// No Work here renders the target: should the Rollout have
		// admitted the cluster (its instance held, or its render
		// failing), the engine's failure names whose Work stays behind.
		w := moved[0]
		if i := slices.IndexFunc(moved, func(w *fleetv1alpha1.Work) bool { return w.Spec.Subject.Instance != nil }); i >= 0 {
			w = moved[i]
		}
		rendered, _ := revisionOf(w)
		o.Message = workLabel(w) + " renders " + rendered
	}
	o.Checks = agentChecks(moved, ro, target, revisionOf)
	if o.AdmittedAt.IsZero() {
		for _, w := range moved {
			if t := admittedAt(w); t.After(o.AdmittedAt) {
				o.AdmittedAt = t
			}
		}
	}
	for _, w := range works {
		rendered, _ := revisionOf(w)
		if isMoved[w] && rendered == target {
			continue
		}
		if h, since, reason, message := workHealth(w); h == rollout.HealthFailed {
			o.Unattributed = &rollout.Unattributed{Revision: rendered, Reason: reason, Message: workLabel(w) + ": " + message, Since: since}
			break
		}
	}
	if o.Unattributed == nil {
		o.Unattributed = later
	}
	return o
}

// joinedSince says which Works came to a Rollout's clusters after it
// started (startedAt): those of an instance created since, a new instance,
// or of one the hub no longer knows (deleted). instanceCreated holds when
// each instance the Works name was created; it is read only if a Work was
// created after the start (nil: none known). A Work written again since
// for an instance that was there (deleted by hand, or its placement left
// the cluster and came back) is the Rollout's as the one it replaces was:
// judged by its creation alone, its failure on the target went
// unattributed and the cluster counted healthy on the other instances.
// Fleet resources are the Promise's, there before its Rollout.
func joinedSince(startedAt time.Time, instanceCreated func() map[types.NamespacedName]time.Time) func(*fleetv1alpha1.Work) bool {
	var created map[types.NamespacedName]time.Time
	return func(w *fleetv1alpha1.Work) bool {
		i := w.Spec.Subject.Instance
		if !w.CreationTimestamp.After(startedAt) || i == nil {
			return false
		}
		if created == nil {
			created = instanceCreated()
		}
		at, ok := created[types.NamespacedName{Namespace: i.Namespace, Name: i.Name}]
		return !ok || at.After(startedAt)
	}
}

// workLabel names what a Work renders: its instance, or the fleet resources.
func workLabel(w *fleetv1alpha1.Work) string {
	if inst := w.Spec.Subject.Instance; inst != nil {
		return inst.Namespace + "/" + inst.Name
	}
	return "fleet resources"
}

// severity orders health from best to worst.
var severity = map[rollout.Health]int{
	rollout.HealthHealthy:     0,
	rollout.HealthProgressing: 1,
	rollout.HealthUnknown:     2,
	rollout.HealthFailed:      3,
}

func worse(a, b rollout.Health) bool { return severity[a] > severity[b] }

// workHealth judges one Work: Progressing until the agent has acted on its
// current spec; Failed when the apply failed or a resource failed (Healthy
// False with any reason but InProgress: Unhealthy, or the cause the agent
// saw, such as ImagePullBackOff); Healthy when every resource is Current;
// Unknown before any report. since is when
// that health began.
func workHealth(w *fleetv1alpha1.Work) (h rollout.Health, since time.Time, reason, message string) {
	if w.Status.ObservedGeneration < w.Generation && !sameRevisionApplied(w) {
		return rollout.HealthProgressing, admittedAt(w), fleetv1alpha1.ReasonProgressing, "waiting for the agent to apply the new revision"
	}
	if a := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionApplied); a != nil && a.Status == "False" &&
		(a.Reason == fleetv1alpha1.ReasonApplyFailed || a.Reason == fleetv1alpha1.ReasonPruneFailed) {
		return rollout.HealthFailed, a.LastTransitionTime.Time, a.Reason, a.Message
	}
	c := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionHealthy)
	switch {
	case c == nil:
		return rollout.HealthUnknown, time.Time{}, fleetv1alpha1.ReasonProgressing, "no health reported yet"
	case c.Status == "True":
		return rollout.HealthHealthy, c.LastTransitionTime.Time, c.Reason, c.Message
	case c.Reason != fleetv1alpha1.ReasonInProgress && c.Reason != fleetv1alpha1.ReasonProgressing:
		// Unhealthy, or the cause the agent saw on the member
		// (ImagePullBackOff, CrashLoopBackOff, Unschedulable…): failed now,
		// with that reason, not at the progress deadline.
		return rollout.HealthFailed, c.LastTransitionTime.Time, c.Reason, c.Message
	}
	return rollout.HealthProgressing, c.LastTransitionTime.Time, c.Reason, c.Message
}

// sameRevisionApplied says a Work whose generation moved on still renders the
// revision (and instance revision) its agent last applied in full: a change
// that is not the rollout's, such as a DriftException or an Override edit.
// Its last judged health stands until the agent reports again; judging it
// Progressing since admission would fail a long-healthy cluster whose wave
// began more than a progress deadline ago.
func sameRevisionApplied(w *fleetv1alpha1.Work) bool {
	return w.Status.AppliedRevision == w.Spec.Revision && w.Status.AppliedInstanceRevision == w.Spec.InstanceRevision
}

// admittedAt reads a Work's admission time; zero when it has none.
func admittedAt(w *fleetv1alpha1.Work) time.Time {
	t, err := time.Parse(time.RFC3339, w.Annotations[fleetv1alpha1.AnnotationAdmittedAt])
	if err != nil {
		return time.Time{}
	}
	return t
}

// movedLaterByOther reports whether a Work's last move changed only its
// other revision (its instance revision for a Promise's Rollout, its
// PromiseRevision for an instance's), and names that revision and its
// kind: a team's instance change admitted on a cluster after the Promise's
// Rollout admitted it, or a Promise change admitted where the instance's
// Rollout had. A move of both, or an unknown one (a Work written before
// the hub recorded what moved), counts for both.
func (s subject) movedLaterByOther(w *fleetv1alpha1.Work) (other, kind string, later bool) {
	switch moved := w.Annotations[fleetv1alpha1.AnnotationMoved]; {
	case s.instance == nil && moved == instanceplan.MovedInstanceRevision:
		return w.Spec.InstanceRevision, "instance revision", true
	case s.instance != nil && moved == instanceplan.MovedRevision:
		return w.Spec.Revision, "the Promise's revision", true
	}
	return "", "", false
}
