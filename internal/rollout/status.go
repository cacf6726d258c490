package rollout

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Bounds of the status lists (the API's maxItems).
const (
	maxHistory  = 50
	maxFailures = 50
)

// rollup recomputes the counts of every wave and of the whole run, the
// percentage on target, the failures and, in Deadline mode, the adoption.
// While rolling back (and once rolled back) the failure list keeps the
// failures that led there.
func (p *planner) rollup() {
	var total fleetv1alpha1.RolloutCounts
	var failures, unattributed []fleetv1alpha1.ClusterFailure
	for _, w := range p.waves {
		a := p.assess(w)
		w.st.Counts = a.counts
		total = addCounts(total, a.counts)
		failures = append(failures, a.failures...)
		unattributed = append(unattributed, a.unattributed...)
		if !rollingBack(p.st.Phase) {
			p.wake(a.next)
			// A completed wave says whether every cluster of it is healthy
			// on the target now, not only when it completed.
			if completed(w.st.Phase) {
				w.st.Phase = fleetv1alpha1.WavePhaseSucceeded
				if a.notHealthy > 0 {
					w.st.Phase = fleetv1alpha1.WavePhaseSucceededWithFailures
				}
			}
		}
	}
	p.st.UnattributedFailures, p.st.UnattributedFailureCount = boundFailures(unattributed), int32(len(unattributed))
	p.st.Counts = total
	p.st.PercentOnTarget = 100
	if total.Total > 0 {
		p.st.PercentOnTarget = int32(int64(total.Healthy) * 100 / int64(total.Total))
	}
	if !rollingBack(p.st.Phase) {
		p.setFailures(failures)
	}
	if mode(p.in.Spec) == fleetv1alpha1.UpdateModeDeadline {
		p.rollupAdoption(total.Total)
	}
}

// rollupAdoption counts the clusters whose owners adopted the target, until
// the deadline: once the rest are forced the counts stay as they were when
// it passed, so an annotation written after the waves moved a cluster does
// not read as its owner's choice (AdoptionFrozen).
func (p *planner) rollupAdoption(total int32) {
	if AdoptionFrozen(p.prev) {
		return
	}
	if p.st.Adoption == nil {
		p.st.Adoption = &fleetv1alpha1.AdoptionStatus{}
	}
	var adopted int32
	for _, w := range p.waves {
		for _, o := range w.obs {
			if o != nil && o.Adopted {
				adopted++
			}
		}
	}
	p.st.Adoption.Instances, p.st.Adoption.Adopted = total, adopted
}

// recordFailures records the failures as they stand, before a rollback
// moves the failed clusters off the target.
func (p *planner) recordFailures() {
	var failures []fleetv1alpha1.ClusterFailure
	for _, w := range p.waves {
		failures = append(failures, p.assess(w).failures...)
	}
	p.setFailures(failures)
}

func (p *planner) setFailures(fs []fleetv1alpha1.ClusterFailure) {
	p.st.Failures, p.st.FailureCount = boundFailures(fs), int32(len(fs))
}

// rollingBack reports whether the phase is a rollback's.
func rollingBack(phase fleetv1alpha1.RolloutPhase) bool {
	return phase == fleetv1alpha1.RolloutPhaseRollingBack || phase == fleetv1alpha1.RolloutPhaseRolledBack
}

func addCounts(a, b fleetv1alpha1.RolloutCounts) fleetv1alpha1.RolloutCounts {
	return fleetv1alpha1.RolloutCounts{
		Total:    a.Total + b.Total,
		Admitted: a.Admitted + b.Admitted,
		Healthy:  a.Healthy + b.Healthy,
		Failed:   a.Failed + b.Failed,
		Pending:  a.Pending + b.Pending,
		Offline:  a.Offline + b.Offline,
	}
}

// boundFailures keeps the most recent failures, newest first (ties by
// cluster name).
func boundFailures(fs []fleetv1alpha1.ClusterFailure) []fleetv1alpha1.ClusterFailure {
	if len(fs) == 0 {
		return nil
	}
	slices.SortFunc(fs, func(a, b fleetv1alpha1.ClusterFailure) int {
		if c := b.Time.Compare(a.Time.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Cluster, b.Cluster)
	})
	return slices.Clip(fs[:min(len(fs), maxFailures)])
}

// phaseConditions are the kstatus conditions of each phase: whether it is
// Ready, Reconciling or Stalled (needs a person). A Rollout that ended is
// Ready (kstatus: Current) when it did what was asked of it: it succeeded,
// was aborted, rolled back on request (spec.rollback, a Rollback freeze), or
// was superseded by a newer Rollout that carries the subject on; it is
// Stalled (Failed) when its change failed: Failed, or RolledBack because
// the failure budget was exceeded (rolledBackOnFailure), which a person
// follows up with a fixed change.
var phaseConditions = map[fleetv1alpha1.RolloutPhase]struct{ ready, reconciling, stalled bool }{
	fleetv1alpha1.RolloutPhaseProgressing:        {reconciling: true},
	fleetv1alpha1.RolloutPhaseBaking:             {reconciling: true},
	fleetv1alpha1.RolloutPhaseWaitingForApproval: {reconciling: true},
	fleetv1alpha1.RolloutPhaseRollingBack:        {reconciling: true},
	fleetv1alpha1.RolloutPhasePaused:             {},
	fleetv1alpha1.RolloutPhaseHalted:             {stalled: true},
	fleetv1alpha1.RolloutPhaseFailed:             {stalled: true},
	fleetv1alpha1.RolloutPhaseSucceeded:          {ready: true},
	fleetv1alpha1.RolloutPhaseRolledBack:         {ready: true},
	fleetv1alpha1.RolloutPhaseAborted:            {ready: true},
	fleetv1alpha1.RolloutPhaseSuperseded:         {ready: true},
}

// setConditions sets Ready, Reconciling and Stalled from the phase, and the
// domain conditions Approved, Frozen and Superseded.
func (p *planner) setConditions(o outcome) {
	phase := p.st.Phase
	pc := phaseConditions[phase]
	// The reason names the state, not what led to it, so that planning
	// again from this status sets the same conditions.
	reason := string(phase)
	switch phase {
	case fleetv1alpha1.RolloutPhasePaused:
		if p.in.Freeze != nil {
			reason = fleetv1alpha1.ReasonFleetFrozen
		}
	case fleetv1alpha1.RolloutPhaseHalted:
		reason = fleetv1alpha1.ReasonFailureBudgetExceeded
	case fleetv1alpha1.RolloutPhaseFailed:
		reason = or(o.reason, reason)
	case fleetv1alpha1.RolloutPhaseSuperseded:
		reason = fleetv1alpha1.ReasonSupersededByRollout
	case fleetv1alpha1.RolloutPhaseSucceeded:
		if p.degraded() {
			reason = fleetv1alpha1.ReasonSucceededWithFailures
		}
	case fleetv1alpha1.RolloutPhaseRolledBack:
		if p.rolledBackOnFailure() {
			pc.ready, pc.stalled = false, true
		}
	}
	if b := o.blocked; b != nil {
		pc.ready, pc.reconciling, pc.stalled, reason = false, false, true, b.Reason
	}
	p.setCondition(fleetv1alpha1.ConditionReady, pc.ready, reason, o.message)
	p.setCondition(fleetv1alpha1.ConditionReconciling, pc.reconciling, reason, o.message)
	p.setCondition(fleetv1alpha1.ConditionStalled, pc.stalled, reason, o.message)
	if reason == fleetv1alpha1.ReasonSucceededWithFailures {
		p.setCondition(fleetv1alpha1.ConditionDegraded, true, reason, o.message)
	} else {
		meta.RemoveStatusCondition(&p.st.Conditions, fleetv1alpha1.ConditionDegraded)
	}

	if f := p.in.Freeze; f != nil && !phase.IsTerminal() {
		p.setCondition(fleetv1alpha1.ConditionFrozen, true, fleetv1alpha1.ReasonFleetFrozen, "FleetFreeze "+f.Name+": "+f.Reason)
	} else {
		meta.RemoveStatusCondition(&p.st.Conditions, fleetv1alpha1.ConditionFrozen)
	}
	p.setHeldBy()
	if phase == fleetv1alpha1.RolloutPhaseSuperseded {
		p.setCondition(fleetv1alpha1.ConditionSuperseded, true, fleetv1alpha1.ReasonSupersededByRollout, "superseded by Rollout "+p.st.SupersededBy)
	}
	p.setApproved()
}

// setHeldBy names, in status.freeze.heldBy, the freeze that holds the
// rollout whenever its Frozen condition is True, and clears it otherwise;
// status.freeze is unset while it names nothing.
func (p *planner) setHeldBy() {
	held := ""
	if f := p.in.Freeze; f != nil && !p.st.Phase.IsTerminal() {
		held = f.Name
	}
	if held != "" {
		p.freezeStatus().HeldBy = held
	} else if p.st.Freeze != nil {
		p.st.Freeze.HeldBy = ""
	}
	if p.st.Freeze != nil && *p.st.Freeze == (fleetv1alpha1.RolloutFreezeStatus{}) {
		p.st.Freeze = nil
	}
}

// freezeStatus is status.freeze, created when unset.
func (p *planner) freezeStatus() *fleetv1alpha1.RolloutFreezeStatus {
	if p.st.Freeze == nil {
		p.st.Freeze = &fleetv1alpha1.RolloutFreezeStatus{}
	}
	return p.st.Freeze
}

// degraded reports whether some wave completed with clusters not healthy
// on the target.
func (p *planner) degraded() bool {
	return slices.ContainsFunc(p.st.Waves, func(w fleetv1alpha1.WaveStatus) bool {
		return w.Phase == fleetv1alpha1.WavePhaseSucceededWithFailures
	})
}

// setApproved reports the current wave's approval, for waves that need one.
func (p *planner) setApproved() {
	i := slices.IndexFunc(p.waves, func(w *wave) bool { return w.st.Name == p.st.CurrentWave })
	if i < 0 || !p.waves[i].cfg.approval || p.st.Phase.IsTerminal() || rollingBack(p.st.Phase) {
		meta.RemoveStatusCondition(&p.st.Conditions, fleetv1alpha1.ConditionApproved)
		return
	}
	w := p.waves[i]
	if rec := w.st.Approval; rec != nil {
		p.setCondition(fleetv1alpha1.ConditionApproved, true, fleetv1alpha1.ReasonSucceeded,
			"wave "+w.st.Name+" approved by "+actorOf(rec.By))
		return
	}
	msg := "wave " + w.st.Name + " waits for an approval"
	if w.unmatched != "" {
		msg = w.unmatched
	}
	p.setCondition(fleetv1alpha1.ConditionApproved, false, fleetv1alpha1.ReasonWaitingForApproval, msg)
}

// rolledBackOnFailure reports whether a RolledBack Rollout was rolled back
// because its failure budget was exceeded (or a check failed), rather than
// on a person's request (spec.rollback) or by a Rollback freeze. What
// started the rollback decides, as its history entry recorded it: the hub
// alone, no freeze. A spec.rollback written later (during the rollback,
// which does not act on it, or after the end, which an ended Rollout's
// spec may still take) does not turn a change that failed into one rolled
// back on request. Without that entry (trimmed from the history), the
// request and the freeze as they are now.
func (p *planner) rolledBackOnFailure() bool {
	h := p.st.History
	for i := len(h) - 1; i >= 0; i-- {
		if rollingBack(h[i].To) && !rollingBack(h[i].From) {
			return h[i].Actor == ActorHub && h[i].Freeze == "" && p.st.RolledBackBy() == ""
		}
	}
	return p.in.Spec.Rollback == nil && p.st.RolledBackBy() == ""
}

// Ended is the decision for a Rollout whose phase is terminal, from its
// spec and status alone (what it moved may be gone): it acts no more, and
// its status only follows the generation, with the conditions of its
// outcome. Plan and PlanBlocked decide the same for such a Rollout.
func Ended(in Input) Decision {
	p := newPlanner(in, nil)
	p.settleEnded()
	return p.decision()
}

// settleEnded keeps the conditions of a Rollout that ended true to the
// current generation: it acts no more, so a spec edited after the end
// changes nothing but the generation its status observed. The reason and
// message stay those it ended with (Failed's reason names why).
func (p *planner) settleEnded() {
	o := outcome{phase: p.st.Phase}
	if c := meta.FindStatusCondition(p.prev.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		o.reason, o.message = c.Reason, c.Message
	}
	p.setConditions(o)
}

// setCondition sets one condition at now, for the Rollout's generation.
// Messages carry the state (counts, the wave): refreshed every plan.
func (p *planner) setCondition(typ string, ok bool, reason, message string) {
	fleetv1alpha1.NewConditionSetter(&p.st.Conditions, p.in.Generation, p.now).SetBool(typ, ok, reason, message)
}

// AdoptionFrozen reports whether a Deadline rollout's adoption counts are
// final: its deadline forced the rest through the waves before the plan
// that starts from status st.
func AdoptionFrozen(st *fleetv1alpha1.RolloutStatus) bool {
	return st.Adoption != nil && st.Adoption.ForcedAt != nil
}
