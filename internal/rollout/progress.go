package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// advance moves the rollout forward through its waves in order: the first
// wave not done is active; when it completes, the next one may start in the
// same plan. A held rollout (paused or frozen) admits nothing, starts no
// wave and defers its failure budget, but its waves still complete.
func (p *planner) advance(hold bool) outcome {
	if o, waiting := p.adoptionWindow(); waiting {
		if !hold && p.allAdoptedAndHealthy() {
			return p.completeEarly()
		}
		p.admitAdopted(hold)
		return o
	}
	o := p.advanceWaves(hold)
	if isForward(o.phase) {
		p.admitAdopted(hold)
	}
	return o
}

// advanceWaves steps the active wave, and the next ones while they complete.
func (p *planner) advanceWaves(hold bool) outcome {
	forced := p.forcedNow()
	for _, w := range p.waves {
		if w.done() {
			continue
		}
		o, completed := p.stepWave(w, hold)
		if completed {
			continue
		}
		if forced {
			o.reason, o.cause = fleetv1alpha1.ReasonDeadlineReached, join("the deadline passed; the rest are forced through the waves", o.cause)
			// Whoever last changed the update policy set the deadline
			// (moving it to now forces the rollout); otherwise it is the
			// Promise's, and the step the hub's.
			if pc := p.in.Spec.PolicyChange; pc != nil {
				o.actor = changeActor(pc)
			}
		}
		return o
	}
	return p.succeeded("every wave completed")
}

// succeeded is the Succeeded outcome. Clusters not healthy on the target
// (failed within budget, skipped offline, unhealthy since their wave
// completed) make it SucceededWithFailures, named in the message.
func (p *planner) succeeded(why string) outcome {
	o := outcome{phase: fleetv1alpha1.RolloutPhaseSucceeded, reason: fleetv1alpha1.ReasonSucceeded,
		message: fmt.Sprintf("%s; %s is on %s", why, p.in.Spec.Subject.Promise, p.in.Spec.TargetRevision)}
	var notHealthy, total, overBudget, gone int
	var failures []fleetv1alpha1.ClusterFailure
	for _, w := range p.waves {
		a := p.assess(w)
		notHealthy += a.notHealthy
		gone += a.gone
		total += int(a.counts.Total)
		failures = append(failures, a.failures...)
		if len(a.failures) > w.cfg.maxFailures {
			// Failed after the wave completed: not checked again, but
			// not within its budget either.
			overBudget += len(a.failures)
		}
	}
	if notHealthy > 0 {
		o.reason, o.warning = fleetv1alpha1.ReasonSucceededWithFailures, true
		o.message += fmt.Sprintf(", but %d of %s %s not healthy on it", notHealthy, clusters(total), isAre(notHealthy))
		switch {
		case overBudget > 0:
			o.message += fmt.Sprintf(" (%d failed, %d of them over the budget of a wave that had completed: %s)",
				len(failures), overBudget, listFailures(boundFailures(failures), 5))
		case len(failures) > 0:
			o.message += fmt.Sprintf(" (%d failed within the budget: %s)", len(failures), listFailures(boundFailures(failures), 5))
		}
	}
	if gone > 0 {
		// Not a failure, and not on the target: "is on" says so of the
		// clusters still in the fleet only.
		o.message += fmt.Sprintf("; %d of %s left the fleet without reaching it", gone, clusters(total))
	}
	return o
}

// stepWave works on the active wave: start it (once approved), enforce its
// failure budget, admit clusters up to maxConcurrency, and complete it once
// every cluster is healthy, failed or skipped and the healthy ones baked. It
// reports whether the wave completed.
func (p *planner) stepWave(w *wave, hold bool) (outcome, bool) {
	var o outcome
	if !w.started() {
		if hold {
			return outcome{phase: fleetv1alpha1.RolloutPhaseProgressing, wave: w.st.Name}, false
		}
		// Clusters adopted early (Deadline mode) may have failed already:
		// a wave over its budget does not start, nor ask for an approval.
		if a := p.assess(w); len(a.failures) > w.cfg.maxFailures {
			return p.onFailure(w, a), false
		}
		p.gateAfterNothingShown(w)
		approval := p.approvalFor(w)
		if w.cfg.approval && approval == nil {
			w.st.Phase = fleetv1alpha1.WavePhaseWaitingForApproval
			o := outcome{phase: fleetv1alpha1.RolloutPhaseWaitingForApproval, wave: w.st.Name,
				reason:  fleetv1alpha1.ReasonWaitingForApproval,
				message: fmt.Sprintf("wave %s (%s) waits for an approval", w.st.Name, clusters(len(w.st.Clusters)))}
			if w.unmatched != "" {
				o.message, o.warning = o.message+": "+w.unmatched, true
			}
			return o, false
		}
		o = p.startWave(w, approval)
	}

	a := p.assess(w)
	overBudget := len(a.failures) > w.cfg.maxFailures
	if overBudget && !hold {
		return p.onFailure(w, a), false
	}
	checkFailed := p.waveCheckFailed(w)
	if checkFailed != "" && !hold {
		return p.failWave(w, fmt.Sprintf("wave %s failed its check: %s", w.st.Name, checkFailed)), false
	}
	// An inconclusive check holds the wave: nothing more is admitted, and
	// it does not complete, until a person re-runs or skips the check.
	held := p.inconclusive(w)
	if !hold && held == "" && p.admitWave(w, a) {
		a = p.assess(w)
	}
	// A held wave over its budget, or whose check failed, does not
	// complete either: onFailure waits for the resume, which applies it,
	// rather than find the wave done and start the next one.
	if a.unfinished > 0 || (hold && (overBudget || checkFailed != "")) {
		if w.st.Phase == fleetv1alpha1.WavePhaseBaking {
			p.event(EventNormal, ReasonBakeReset, fmt.Sprintf("wave %s: bake reset, a cluster is no longer healthy", w.st.Name))
		}
		w.st.Phase, w.st.BakeStartedAt, w.st.CompletedAt = fleetv1alpha1.WavePhaseProgressing, nil, nil
		p.wake(a.next)
		return p.holdForCheck(p.progressOutcome(w, a, o), held), false
	}
	start, baking := p.bake(w, a)
	if start.IsZero() && a.healthy > 0 {
		// No bake time: the checks that run through the bake are
		// measured from when the wave was first seen complete.
		start = a.bakeStart
		if a.bakeUnknown || start.IsZero() {
			start = p.now
		}
		if w.st.Phase == fleetv1alpha1.WavePhaseBaking && w.st.BakeStartedAt != nil {
			start = w.st.BakeStartedAt.Time
		}
	}
	gate := p.checkGate(w, a, start)
	if baking || gate != "" || held != "" {
		w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseBaking, nil
		if w.st.BakeStartedAt == nil {
			w.st.BakeStartedAt = ptr(stamp(start))
		}
		msg := fmt.Sprintf("wave %s: %d healthy, baking for %s until %s", w.st.Name, a.healthy, w.cfg.bakeTime,
			start.Add(w.cfg.bakeTime).UTC().Format(time.RFC3339))
		if a.healthy == 0 {
			// Held for its checks (checkGate) with nothing baking: a
			// cluster healthy again starts the bake afresh.
			w.st.BakeStartedAt = nil
			msg = fmt.Sprintf("wave %s: no cluster healthy on the target", w.st.Name)
		}
		if gate != "" {
			msg += "; waiting for checks: " + gate
		}
		o := outcome{phase: fleetv1alpha1.RolloutPhaseBaking, wave: w.st.Name, reason: fleetv1alpha1.ReasonBaking,
			message: msg, waveStarted: o.waveStarted, actor: o.actor, cause: o.cause}
		return p.holdForCheck(o, held), false
	}
	w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseSucceeded, ptr(stamp(p.now))
	if w.st.BakeStartedAt == nil && len(w.checks) > 0 && !start.IsZero() {
		// The window its checks were judged on.
		w.st.BakeStartedAt = ptr(stamp(start))
	}
	verdict := "succeeded"
	if a.notHealthy > 0 {
		verdict = "succeeded with failures"
	}
	p.event(EventNormal, ReasonWaveSucceeded, fmt.Sprintf("wave %s %s: %d healthy, %d failed, %d offline",
		w.st.Name, verdict, a.counts.Healthy, a.counts.Failed, a.counts.Offline))
	return outcome{}, true
}

// progressOutcome is the Progressing outcome of an unfinished wave.
func (p *planner) progressOutcome(w *wave, a assessment, started outcome) outcome {
	o := outcome{phase: fleetv1alpha1.RolloutPhaseProgressing, wave: w.st.Name, reason: fleetv1alpha1.ReasonProgressing,
		message: fmt.Sprintf("wave %s: %d/%d healthy, %d in flight (max %d), %d failed (max %d)", w.st.Name,
			a.counts.Healthy, a.counts.Total, a.inFlight, w.cfg.maxConcurrency, len(a.failures), w.cfg.maxFailures)}
	if started.waveStarted {
		o.waveStarted, o.actor, o.reason, o.cause = true, started.actor, started.reason, started.cause
	}
	return o
}

// startWave starts an approved (or approval-free) wave.
func (p *planner) startWave(w *wave, approval *fleetv1alpha1.Approval) outcome {
	w.st.StartedAt = ptr(stamp(p.now))
	w.st.Phase = fleetv1alpha1.WavePhaseProgressing
	o := outcome{waveStarted: true, actor: ActorHub, reason: ReasonWaveStarted,
		cause: fmt.Sprintf("wave %s started (%s)", w.st.Name, clusters(len(w.st.Clusters)))}
	if approval != nil && w.cfg.approval {
		rec := approval.ChangeRecord
		w.st.Approval = rec.DeepCopy()
		o.actor, o.reason = actorOf(rec.By), ReasonWaveApproved
		o.cause = fmt.Sprintf("wave %s approved by %s and started (%s)", w.st.Name, o.actor, clusters(len(w.st.Clusters)))
		if rec.Message != "" {
			o.cause += ": " + rec.Message
		}
	}
	return o
}

// admitWave admits the wave's waiting clusters, in name order, while fewer
// than maxConcurrency are in flight. It reports whether it admitted any.
func (p *planner) admitWave(w *wave, a assessment) bool {
	room := w.cfg.maxConcurrency - a.inFlight
	admitted := false
	for _, i := range a.admittable {
		if room <= 0 {
			break
		}
		if p.admitCluster(w, i, p.in.Spec.TargetRevision) {
			room--
			admitted = true
		}
	}
	return admitted
}

// bake decides whether a complete wave is still baking: its healthy
// clusters must all have been healthy for bakeTime. The bake starts when the
// last of them became healthy, so a cluster that flapped restarts it.
func (p *planner) bake(w *wave, a assessment) (time.Time, bool) {
	if w.cfg.bakeTime <= 0 || a.healthy == 0 {
		return time.Time{}, false
	}
	start := a.bakeStart
	if seen := p.lastSeenUnfinished(w); seen.After(start) {
		// A cluster was not healthy then, so none became healthy
		// earlier, whatever its agent's clock says (one running behind
		// would otherwise date a flap's recovery before the flap).
		start = seen
	}
	if a.bakeUnknown {
		// Some cluster did not say since when it is healthy: count from
		// when the wave was first seen complete.
		unknownFrom := p.now
		if w.st.Phase == fleetv1alpha1.WavePhaseBaking && w.st.BakeStartedAt != nil {
			unknownFrom = w.st.BakeStartedAt.Time
		}
		if unknownFrom.After(start) {
			start = unknownFrom
		}
	}
	if w.st.Phase == fleetv1alpha1.WavePhaseBaking && w.st.BakeStartedAt != nil && stamp(start).After(w.st.BakeStartedAt.Time) {
		p.event(EventNormal, ReasonBakeReset, fmt.Sprintf("wave %s: bake restarted, a cluster became healthy again at %s",
			w.st.Name, start.UTC().Format(time.RFC3339)))
	}
	w.st.BakeStartedAt = ptr(stamp(start))
	end := start.Add(w.cfg.bakeTime)
	if p.now.Before(end) {
		w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseBaking, nil
		p.wake(end)
		return start, true
	}
	return start, false
}

// lastSeenUnfinished is when the rollout last went Progressing in wave w
// from another phase (its history): the wave was not complete then, e.g. a
// cluster stopped its bake. Zero if never. (An entry that keeps the phase,
// such as a policy change, may be dated after the wave completed.)
func (p *planner) lastSeenUnfinished(w *wave) time.Time {
	for i := len(p.prev.History) - 1; i >= 0; i-- {
		if h := p.prev.History[i]; h.Wave == w.st.Name && h.To == fleetv1alpha1.RolloutPhaseProgressing && h.From != h.To {
			return h.Time.Time
		}
	}
	return time.Time{}
}

// onFailure applies the strategy's onFailure to a wave whose failures
// exceed its budget: Halt, or Rollback to fromRevision (Halt when there is
// none).
func (p *planner) onFailure(w *wave, a assessment) outcome {
	w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseFailed, ptr(stamp(p.now))
	msg := fmt.Sprintf("wave %s: %d of %d clusters failed, more than its budget of %d: %s",
		w.st.Name, len(a.failures), len(w.st.Clusters), w.cfg.maxFailures, listFailures(a.failures, 5))
	if p.in.Strategy.OnFailure == fleetv1alpha1.FailureRollback {
		if p.canRollBack() {
			return p.startRollback(p.in.Spec.FromRevision, ActorHub, fleetv1alpha1.ReasonFailureBudgetExceeded, msg)
		}
		msg += "; halted instead of rolling back: " + p.noRollback()
	}
	return outcome{phase: fleetv1alpha1.RolloutPhaseHalted, wave: w.st.Name, actor: ActorHub,
		reason: fleetv1alpha1.ReasonFailureBudgetExceeded, message: msg, warning: true}
}

// failWave fails w for why (a whole-wave check failed) and applies
// onFailure, as for a wave over its failure budget.
func (p *planner) failWave(w *wave, why string) outcome {
	w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseFailed, ptr(stamp(p.now))
	if p.in.Strategy.OnFailure == fleetv1alpha1.FailureRollback {
		if p.canRollBack() {
			return p.startRollback(p.in.Spec.FromRevision, ActorHub, fleetv1alpha1.ReasonAnalysisFailed, why)
		}
		why += "; halted instead of rolling back: " + p.noRollback()
	}
	return outcome{phase: fleetv1alpha1.RolloutPhaseHalted, wave: w.st.Name, actor: ActorHub,
		reason: fleetv1alpha1.ReasonAnalysisFailed, message: why, warning: true}
}

// gateAfterNothingShown makes wave w, about to start, wait for an approval
// when the wave before it (the last one with clusters) completed with none
// of them healthy on the target and some of them left the fleet (a team's
// instances, alone there, removed mid-wave) or skipped offline. That wave
// showed the change good nowhere, and w would otherwise take it at once:
// the Rollout goes on without that wave's gate only if a person says so,
// as after a wave that matched no cluster. A wave whose clusters all failed
// within its budget does not hold the next: the platform's budget allows
// exactly that.
func (p *planner) gateAfterNothingShown(w *wave) {
	var prev *wave
	for _, q := range p.waves {
		if q == w {
			break
		}
		if len(q.st.Clusters) > 0 {
			prev = q
		}
	}
	if prev == nil || !completed(prev.st.Phase) || w.unmatched != "" || checkSkipped(prev) {
		return
	}
	a := p.assess(prev)
	if a.healthy > 0 || a.gone == 0 && a.counts.Offline == 0 {
		return
	}
	var why []string
	if a.gone > 0 {
		why = append(why, fmt.Sprintf("%d left the fleet", a.gone))
	}
	if n := int(a.counts.Offline) - a.gone; n > 0 {
		why = append(why, fmt.Sprintf("%d offline", n))
	}
	if a.counts.Failed > 0 {
		why = append(why, fmt.Sprintf("%d failed", a.counts.Failed))
	}
	w.cfg.approval = true
	w.unmatched = fmt.Sprintf("wave %s completed with none of its %s healthy on the target (%s); approve wave %s to go on without it",
		prev.st.Name, clusters(len(prev.st.Clusters)), strings.Join(why, ", "), w.st.Name)
}

// checkSkipped reports whether a person skipped a check of w: a wave whose
// checks run through the bake completes with no cluster healthy on the
// target only so, and the skip is the person's word to go on.
func checkSkipped(w *wave) bool {
	return slices.ContainsFunc(w.st.Checks, func(c fleetv1alpha1.WaveCheckStatus) bool { return c.Skipped != nil })
}

// approvalFor finds the approval of a wave in the spec.
func (p *planner) approvalFor(w *wave) *fleetv1alpha1.Approval {
	for i := range p.in.Spec.Approvals {
		if a := &p.in.Spec.Approvals[i]; a.Wave == w.st.Name {
			return a
		}
	}
	return nil
}

// admitAdopted admits, in Deadline mode, the online clusters whose owners
// adopted the target, whatever their wave, before and after the deadline,
// unless the rollout is held. They do not wait for a concurrency slot: their
// owners chose the moment.
func (p *planner) admitAdopted(hold bool) {
	if mode(p.in.Spec) != fleetv1alpha1.UpdateModeDeadline || hold {
		return
	}
	for _, w := range p.waves {
		for i, o := range w.obs {
			if o != nil && o.Adopted && o.Online {
				p.admitCluster(w, i, p.in.Spec.TargetRevision)
			}
		}
	}
}

// adoptionWindow runs the Deadline mode's adoption window: until the
// deadline no wave starts. It reports whether the window is still open, and
// records when the deadline forced the waves.
func (p *planner) adoptionWindow() (outcome, bool) {
	if mode(p.in.Spec) != fleetv1alpha1.UpdateModeDeadline {
		return outcome{}, false
	}
	deadline := p.in.Spec.UpdatePolicy.Deadline.Time
	if p.st.Adoption != nil && p.st.Adoption.ForcedAt != nil {
		return outcome{}, false
	}
	if p.now.Before(deadline) && !p.anyWaveStarted() {
		p.wake(deadline)
		return outcome{phase: fleetv1alpha1.RolloutPhaseProgressing, reason: fleetv1alpha1.ReasonProgressing,
			message: fmt.Sprintf("owners may adopt %s until %s; the rest are forced through the waves then",
				p.in.Spec.TargetRevision, deadline.UTC().Format(time.RFC3339))}, true
	}
	if p.st.Adoption == nil {
		p.st.Adoption = &fleetv1alpha1.AdoptionStatus{}
	}
	p.st.Adoption.ForcedAt = ptr(stamp(p.now))
	return outcome{}, false
}

// allAdoptedAndHealthy reports whether, in the adoption window, every
// target cluster is online, adopted by its owners and healthy on the target.
func (p *planner) allAdoptedAndHealthy() bool {
	n := 0
	for _, w := range p.waves {
		for _, o := range w.obs {
			if o == nil || !o.Online || !o.Adopted || p.judge(o, w).state != stateHealthy {
				return false
			}
			n++
		}
	}
	return n > 0
}

// completeEarly ends a Deadline rollout before its deadline once every
// target adopted and is healthy: nothing is left to force, so its waves
// complete without starting (no bake, no approval: each owner chose the
// moment) and the rollout Succeeds.
func (p *planner) completeEarly() outcome {
	for _, w := range p.waves {
		if len(w.st.Clusters) > 0 && !w.done() {
			w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseSucceeded, ptr(stamp(p.now))
		}
	}
	return p.succeeded("every target adopted " + p.in.Spec.TargetRevision + " and is healthy on it, before the deadline")
}

// forcedNow reports whether the Deadline mode forced the waves in this plan.
func (p *planner) forcedNow() bool {
	a := p.st.Adoption
	return a != nil && a.ForcedAt != nil && (p.prev.Adoption == nil || p.prev.Adoption.ForcedAt == nil)
}

// anyWaveStarted reports whether some wave has started.
func (p *planner) anyWaveStarted() bool {
	for _, w := range p.waves {
		if w.started() {
			return true
		}
	}
	return false
}

// listFailures names up to n failures: "a (ProgressDeadlineExceeded), b (…)".
func listFailures(fs []fleetv1alpha1.ClusterFailure, n int) string {
	parts := make([]string, 0, min(n, len(fs)))
	for _, f := range fs[:min(n, len(fs))] {
		parts = append(parts, fmt.Sprintf("%s (%s)", f.Cluster, f.Reason))
	}
	if len(fs) > n {
		parts = append(parts, fmt.Sprintf("and %d more", len(fs)-n))
	}
	return strings.Join(parts, ", ")
}

// clusters is "1 cluster" or "n clusters".
func clusters(n int) string {
	if n == 1 {
		return "1 cluster"
	}
	return fmt.Sprintf("%d clusters", n)
}

// isAre is "is" for one, "are" for more.
func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
