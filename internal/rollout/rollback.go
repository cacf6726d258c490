package rollout

import (
	"fmt"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// requestedRollback starts the rollback asked for in spec.rollback, to its
// toRevision or else fromRevision. With neither, the rollout cannot roll
// back and, since the request cannot be withdrawn, it ends Failed.
func (p *planner) requestedRollback() outcome {
	rb := p.in.Spec.Rollback
	rev := or(rb.ToRevision, p.in.Spec.FromRevision)
	actor := actorOf(rb.By)
	if rev == "" {
		return outcome{phase: fleetv1alpha1.RolloutPhaseFailed, wave: p.st.CurrentWave, actor: actor, reason: ReasonCannotRollBack,
			message: "rollback requested, but there is no revision to return to (no toRevision and no fromRevision)", warning: true}
	}
	msg := "rollback to " + rev + " requested"
	if rb.Message != "" {
		msg += ": " + rb.Message
	}
	return p.startRollback(rev, actor, fleetv1alpha1.ReasonRollingBack, msg)
}

// startRollback records the rollback revision and takes the first step.
func (p *planner) startRollback(rev, actor, reason, message string) outcome {
	p.st.RollbackRevision = rev
	p.recordFailures()
	p.stopWaves(true)
	o := p.rollBack()
	o.actor, o.reason, o.warning, o.cause, o.force = actor, reason, true, message, true
	return o
}

// rollBack admits every cluster of the frozen set that renders the target
// back to the rollback revision, all at once (even offline ones, which
// apply it when they return), and ends RolledBack once none renders or runs
// the target any more. Offline clusters are waited for, unless the offline
// policy is Skip. A Halt freeze holds the rollback: nothing is admitted.
func (p *planner) rollBack() outcome {
	rev, target := p.st.RollbackRevision, p.in.Spec.TargetRevision
	held := p.in.Freeze != nil && p.in.Freeze.Action != fleetv1alpha1.FreezeRollback
	skipOffline := p.in.Strategy.OfflinePolicy == fleetv1alpha1.OfflineSkip
	left, skipped := 0, 0
	for _, w := range p.waves {
		for i, o := range w.obs {
			if o == nil {
				continue
			}
			switch {
			case o.Revision != rev && p.touches(o.Revision):
				// Still to do, even once admitted here: its Work changes
				// only after this plan, so the run cannot end yet. A
				// change an earlier Rollout left here goes back too.
				left++
				if !held {
					p.admitCluster(w, i, rev)
				}
			case o.Revision == rev && o.AppliedRevision != rev && p.touches(o.AppliedRevision) && (o.Online || !skipOffline):
				left++
			case o.Revision == rev && o.AppliedRevision != rev && p.touches(o.AppliedRevision):
				skipped++
			}
		}
	}
	if left == 0 {
		msg := "every cluster is back on " + rev
		if skipped > 0 {
			// Not waited for, but not back either: say so.
			msg = fmt.Sprintf("every cluster is back on %s except %s offline (offlinePolicy Skip, not waited for), still on %s until %s",
				rev, clusters(skipped), target, returns(skipped))
		}
		return outcome{phase: fleetv1alpha1.RolloutPhaseRolledBack, wave: p.st.CurrentWave, reason: fleetv1alpha1.ReasonRolledBack,
			message: msg, warning: true}
	}
	msg := fmt.Sprintf("rolling back to %s: %s still on %s", rev, clusters(left), target)
	if held {
		msg = fmt.Sprintf("rollback to %s held by FleetFreeze %s: %s; %s still on %s", rev, p.in.Freeze.Name, p.in.Freeze.Reason, clusters(left), target)
	}
	o := outcome{phase: fleetv1alpha1.RolloutPhaseRollingBack, wave: p.st.CurrentWave, reason: fleetv1alpha1.ReasonRollingBack,
		message: msg, warning: true}
	if held {
		o.freeze = p.in.Freeze.Name
	}
	return o
}

// returns is "it returns" for one, "they return" for more.
func returns(n int) string {
	if n == 1 {
		return "it returns"
	}
	return "they return"
}

// RanInFull reports whether revision rev is one the subject's whole target
// set ran: the target of a Rollout (ro, or one of rollouts: the subject's)
// that succeeded, or where a Rollout the hub started started from, unless
// an earlier Rollout targeted it (and did not succeed): a revert starts from
// the in-flight target it undoes, which only the clusters that Rollout
// reached took. A requested rollback of an instance's Rollout admits every
// cluster at once, so the team that may ask for one (and may start
// Rollouts by hand, naming their fromRevision) may not return to a
// revision that never passed the strategy's gates (its change's canary
// only, then rolled back or reverted, say).
func RanInFull(rev string, ro *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) bool {
	all := append([]fleetv1alpha1.Rollout{*ro}, rollouts...)
	for i := range all {
		if all[i].Spec.TargetRevision == rev && all[i].Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
			return true
		}
	}
	return hubStartedFrom(rev, all)
}

// hubStartedFrom reports whether a Rollout of all that the hub started
// started from rev, other than a revert of an earlier Rollout's target
// (revertsTo): the hub starts a Rollout from what the fleet settled on, so
// the fleet ran rev in full then.
func hubStartedFrom(rev string, all []fleetv1alpha1.Rollout) bool {
	for i := range all {
		if r := &all[i]; r.Spec.FromRevision == rev && r.Annotations[fleetv1alpha1.AnnotationStartedBy] == ActorHub && !revertsTo(r, all) {
			return true
		}
	}
	return false
}

// StartsFromPartial reports whether ro starts from a revision only some of
// its target set took, as far as the Rollouts of its subject (rollouts)
// show: the target of an earlier Rollout, none of which succeeded (a
// revert of a change in flight starts from it), and from which no Rollout
// the hub started (other than a revert) started. So a fix forward made
// while a revert was in flight, which starts from the revert's target (the
// revision the change it undoes started from), may be rolled back to it. A
// Promise's Rollout is the platform's, whose fromRevision is trusted
// otherwise; an instance's is judged by RanInFull.
func StartsFromPartial(ro *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) bool {
	from := ro.Spec.FromRevision
	if from == "" {
		return false
	}
	all := append([]fleetv1alpha1.Rollout{*ro}, rollouts...)
	earlier := false
	for _, q := range all {
		if q.Spec.TargetRevision != from {
			continue
		}
		if q.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
			return false
		}
		earlier = earlier || newer(ro, &q)
	}
	return earlier && !hubStartedFrom(from, all)
}

// FromIsPartial reports whether ro's fromRevision is one only some of its
// target set took, as far as the subject's Rollouts (rollouts) show: for a
// Promise's Rollout (the platform's, whose fromRevision is trusted
// otherwise), a revert's (StartsFromPartial); for an instance's (the team's,
// which may name any fromRevision on a Rollout of its own), any the fleet
// is not shown to have run in full (RanInFull). False for no Rollout.
func FromIsPartial(ro *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) bool {
	switch {
	case ro == nil || ro.Spec.FromRevision == "":
		return false
	case ro.Spec.Subject.Instance != nil:
		return !RanInFull(ro.Spec.FromRevision, ro, rollouts)
	}
	return StartsFromPartial(ro, rollouts)
}

// IsRevert reports whether ro undoes an earlier Rollout of its subject
// (among rollouts) that did not succeed: it starts from that Rollout's
// target, which only the clusters it reached took, and returns to where that
// Rollout started (or was rolling back to), which the rest of the fleet runs.
// The hub starts one when a subject changes back while its change is in
// flight (or ended without settling).
func IsRevert(ro *fleetv1alpha1.Rollout, rollouts []fleetv1alpha1.Rollout) bool {
	if ro == nil || ro.Spec.FromRevision == "" {
		return false
	}
	to := ro.Spec.TargetRevision
	for i := range rollouts {
		q := &rollouts[i]
		if q.Spec.TargetRevision == ro.Spec.FromRevision && (q.Spec.FromRevision == to || q.Status.RollbackRevision == to) &&
			q.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded && newer(ro, q) {
			return true
		}
	}
	return false
}

// revertsTo reports whether r starts from the target of an earlier Rollout
// of all (none of which succeeded: see RanInFull).
func revertsTo(r *fleetv1alpha1.Rollout, all []fleetv1alpha1.Rollout) bool {
	for i := range all {
		if q := &all[i]; q.Spec.TargetRevision == r.Spec.FromRevision && newer(r, q) {
			return true
		}
	}
	return false
}
