package rollout

import (
	"slices"
	"strconv"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// AnnotationChangeGeneration on a Rollout the hub created records the
// generation of the Promise (or instance) whose change it carries; it orders
// Rollouts created within the same second.
const AnnotationChangeGeneration = fleetv1alpha1.Group + "/change-generation"

// Newest returns the Rollout that governs a subject: the most recently
// created of rollouts (creation time, then Promise or instance generation,
// then LaterName), or nil for none.
func Newest(rollouts []fleetv1alpha1.Rollout) *fleetv1alpha1.Rollout {
	var newest *fleetv1alpha1.Rollout
	for i := range rollouts {
		if r := &rollouts[i]; newest == nil || newer(r, newest) {
			newest = r
		}
	}
	return newest
}

// newer reports whether a was created after b.
func newer(a, b *fleetv1alpha1.Rollout) bool {
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	ga, gb := changeGeneration(a), changeGeneration(b)
	if ga != gb {
		return ga > gb
	}
	return LaterName(a.Name, b.Name)
}

// LaterName orders the names of two Rollouts of one subject created in the
// same second, from the same generation: the longer, then the greater, is
// the later, so that the hub's <kind>-<name>-<generation>-10 comes after
// its -9 (a change of the team's Overrides at the same generation).
func LaterName(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func changeGeneration(r *fleetv1alpha1.Rollout) int64 {
	g, err := strconv.ParseInt(r.Annotations[AnnotationChangeGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return g
}

// SupersededBy names the Rollout that supersedes r among rollouts of the same
// subject (the newest, when it is not r), or "".
func SupersededBy(r *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) string {
	n := Newest(rollouts)
	if n == nil || n.Name == r.Name && n.Namespace == r.Namespace || !newer(n, r) {
		return ""
	}
	return n.Name
}

// Unsettled lists the targets of the Rollouts of ro's subject (among
// rollouts) created before ro that ended without settling the clusters they
// reached (Superseded, Aborted, Failed: those clusters stay where they are
// until the next Rollout moves them), other than ro's own revisions. A
// cluster of ro's target set that renders one (the canary of a change a fix
// forward superseded before ro admitted it) is ro's to move back: its
// rollback returns it to the rollback revision, as its end would settle it.
func Unsettled(ro *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) []string {
	var out []string
	for i := range rollouts {
		q := &rollouts[i]
		switch q.Status.Phase {
		case fleetv1alpha1.RolloutPhaseSuperseded, fleetv1alpha1.RolloutPhaseAborted, fleetv1alpha1.RolloutPhaseFailed:
		default:
			continue
		}
		rev := q.Spec.TargetRevision
		if rev != ro.Spec.FromRevision && rev != ro.Spec.TargetRevision && newer(ro, q) && !slices.Contains(out, rev) {
			out = append(out, rev)
		}
	}
	return out
}

// StableRevision is the revision a subject's clusters settle on once r (its
// governing Rollout) is over, and so the fromRevision of the Rollout that
// follows it: the target after success, the rollback revision once a
// rollback started, and otherwise (in flight, aborted, failed) fromRevision,
// or the target for a first rollout.
func StableRevision(r *fleetv1alpha1.Rollout) string {
	if r.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
		return r.Spec.TargetRevision
	}
	if r.Status.RollbackRevision != "" {
		return r.Status.RollbackRevision
	}
	return or(r.Spec.FromRevision, r.Spec.TargetRevision)
}
