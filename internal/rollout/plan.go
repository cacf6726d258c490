package rollout

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Plan decides the next step of a rollout from its spec, its previous
// status and what is observed of its target clusters. It is pure and
// deterministic: the same input gives the same decision. It returns an error
// only for input it cannot act on (no waves, an unparsable selector or
// budget, a Deadline rollout without a deadline, a cluster observed twice),
// and never panics.
func Plan(in Input) (Decision, error) {
	obs, err := validate(in)
	if err != nil {
		return Decision{}, err
	}
	p := newPlanner(in, obs)
	if p.st.Phase.IsTerminal() {
		p.settleEnded()
		return p.decision(), nil
	}
	starting := len(p.st.Waves) == 0
	if starting {
		waves, err := freezeWaves(in)
		if err != nil {
			return Decision{}, fmt.Errorf("freezing the target set: %w", err)
		}
		p.st.Waves = waves
		p.st.StartedAt = ptr(stamp(p.now))
	}
	relaid, err := p.relayoutForImmediate()
	if err != nil {
		return Decision{}, err
	}
	if err := p.bindWaves(); err != nil {
		return Decision{}, fmt.Errorf("resolving wave policy: %w", err)
	}
	p.bindRelapses()
	if err := p.bindChecks(); err != nil {
		return Decision{}, err
	}
	p.countRelapses()
	o := p.decide()
	policyChanged := p.newPolicyChange()
	switch {
	case starting:
		o = p.startOutcome(o)
	case relaid:
		o.force, o.warning, o.actor, o.reason = true, true, changeActor(p.in.Spec.PolicyChange), ReasonModeChanged
		o.cause = "update mode changed to Immediate; every remaining target now moves in one wave: " + p.in.Spec.UpdatePolicy.Reason
	case policyChanged:
		// Recorded where the rollout stands, before what it does next.
		pc := p.in.Spec.PolicyChange
		p.transition(outcome{phase: p.st.Phase, wave: p.st.CurrentWave, force: true, actor: changeActor(pc), reason: ReasonPolicyChanged,
			cause: join("strategy or update policy changed (mode "+string(mode(p.in.Spec))+")", pc.Message)})
	}
	if policyChanged {
		p.st.ObservedPolicyChange = p.in.Spec.PolicyChange.DeepCopy()
	}
	p.transition(o)
	p.scheduleChecks()
	p.rollup()
	p.setConditions(o)
	p.storeAdmissions()
	p.storeRelapses()
	return p.decision(), nil
}

// planner holds one Plan call's working state.
type planner struct {
	in  Input
	now time.Time
	// st is the next status, built from a copy of the previous one.
	st *fleetv1alpha1.RolloutStatus
	// prev is the previous status, read-only.
	prev *fleetv1alpha1.RolloutStatus
	// obs maps cluster names to their observations.
	obs   map[string]*ClusterObservation
	waves []*wave

	admit []Admission
	// readmit lists the clusters admitted earlier whose Works do not
	// render the target yet (admittedUnwritten): listed again while the
	// rollout moves forward.
	readmit []Admission
	events  []Event
	measure []CheckTask
	wakeAt  time.Time
}

// outcome is where a plan leaves the rollout and why.
type outcome struct {
	phase  fleetv1alpha1.RolloutPhase
	wave   string
	actor  string
	reason string
	// message describes the state reached (the conditions' message);
	// cause, if any, says what moved it there (history and Events only).
	message string
	cause   string
	warning bool
	// force records a history entry even if phase and wave did not change.
	force bool
	// waveStarted: a wave started in this plan, and actor names its cause.
	waveStarted bool
	// blocked: the rollout cannot proceed until a person acts; it is
	// Stalled with this reason whatever its phase.
	blocked *Blocked
	// freeze names the FleetFreeze that caused the transition, if one did
	// (the history entry's freeze field).
	freeze string
}

func newPlanner(in Input, obs map[string]*ClusterObservation) *planner {
	return &planner{
		in:   in,
		now:  in.Now,
		st:   in.Status.DeepCopy(),
		prev: &in.Status,
		obs:  obs,
	}
}

// bindWaves resolves each frozen wave's policy and observations.
func (p *planner) bindWaves() error {
	return p.bindWavesWith(func(st *fleetv1alpha1.WaveStatus) (waveConfig, error) { return configFor(p.in.Strategy, st) })
}

// bindWavesWith binds each frozen wave's observations, with the policy
// config gives it.
func (p *planner) bindWavesWith(config func(*fleetv1alpha1.WaveStatus) (waveConfig, error)) error {
	p.waves = make([]*wave, len(p.st.Waves))
	for i := range p.st.Waves {
		st := &p.st.Waves[i]
		cfg, err := config(st)
		if err != nil {
			return fmt.Errorf("wave %s: %w", st.Name, err)
		}
		w := &wave{st: st, cfg: cfg, obs: make([]*ClusterObservation, len(st.Clusters))}
		for j, name := range st.Clusters {
			w.obs[j] = p.admittedUnwritten(w, j, p.obs[name])
		}
		p.waves[i] = w
	}
	p.gateAfterUnmatched()
	return nil
}

// relayoutForImmediate merges the frozen waves into the immediate wave when
// the mode was switched to Immediate after the start (not while rolling
// back). A halted rollout stays halted, in the new layout. A target set
// larger than a wave holds is not merged: that status could never be
// written (the API server refuses such a switch; this is for a Rollout
// switched before it did).
func (p *planner) relayoutForImmediate() (bool, error) {
	if mode(p.in.Spec) != fleetv1alpha1.UpdateModeImmediate || isImmediateLayout(p.st.Waves) ||
		p.st.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		return false, nil
	}
	total := 0
	for _, w := range p.st.Waves {
		total += len(w.Clusters)
	}
	if total > maxWaveClusters {
		return false, fmt.Errorf("updatePolicy.mode Immediate moves every remaining target in one wave, which holds at most %d clusters, and this Rollout's target set has %d: set the mode back to keep its waves",
			maxWaveClusters, total)
	}
	p.st.Waves = mergeForImmediate(p.st.Waves, p.now)
	if p.st.CurrentWave != "" {
		p.st.CurrentWave = ImmediateWaveName
	}
	return true, nil
}

// decide applies the rules in order of precedence: supersede, a requested
// rollback that cannot proceed (which an abort, or a Rollback freeze,
// ends), rollback (running, requested, or forced by a Rollback freeze),
// abort, hold (freeze or pause), a standing halt, then normal progress.
func (p *planner) decide() outcome {
	spec := p.in.Spec
	freeze := p.in.Freeze
	// The kill switch rolls back every rollout in flight, one whose
	// requested rollback cannot proceed (a typo in an incident) included:
	// that request must not keep the target where it was admitted.
	freezeRollsBack := p.freezeRollsBack()
	switch {
	case p.in.SupersededBy != "":
		p.st.SupersededBy = p.in.SupersededBy
		return outcome{phase: fleetv1alpha1.RolloutPhaseSuperseded, wave: p.st.CurrentWave, actor: ActorHub,
			reason: fleetv1alpha1.ReasonSupersededByRollout, message: "superseded by Rollout " + p.in.SupersededBy}
	case p.rollbackBlocked() && !freezeRollsBack:
		return p.blockedRollback()
	}
	if o, ok := p.rollbackStep(); ok {
		return o
	}
	if spec.DesiredState == fleetv1alpha1.RolloutAborted {
		return outcome{phase: fleetv1alpha1.RolloutPhaseAborted, wave: p.st.CurrentWave,
			actor: changeActor(spec.StateChange), reason: fleetv1alpha1.ReasonAborted,
			message: changeMessage(spec.StateChange, "aborted; admitted clusters stay on "+spec.TargetRevision)}
	}

	// A halt needs a person: only pausing, or resuming after it, moves it.
	// A freeze does not, so that the end of a freeze cannot resume it.
	paused := spec.DesiredState == fleetv1alpha1.RolloutPaused
	wasHalted := p.st.Phase == fleetv1alpha1.RolloutPhaseHalted
	if wasHalted && !paused && (freeze != nil || !p.resumeRequested()) {
		return outcome{phase: fleetv1alpha1.RolloutPhaseHalted, wave: p.st.CurrentWave, reason: fleetv1alpha1.ReasonFailureBudgetExceeded,
			message: p.prevReadyMessage(), warning: true}
	}
	hold := freeze != nil || paused
	o := p.advance(hold)
	switch {
	case hold && !o.phase.IsTerminal():
		return p.holdOutcome(o.wave)
	case wasHalted && o.phase == fleetv1alpha1.RolloutPhaseHalted:
		o.force, o.actor = true, changeActor(spec.StateChange)
		o.cause = "resume requested, but the failure budget is still exceeded"
	case (wasHalted || p.st.Phase == fleetv1alpha1.RolloutPhasePaused) && !o.waveStarted && isForward(o.phase):
		o.actor, o.reason = changeActor(spec.StateChange), ReasonResumed
		o.cause = changeMessage(spec.StateChange, "resumed")
		// The end of a freeze resumes a rollout by itself, except a halted
		// one: that needed the person who resumed it.
		if p.prevFrozen() && freeze == nil && !wasHalted {
			o.actor, o.cause, o.freeze = ActorHub, "the fleet freeze ended", p.prev.HeldBy()
		}
	}
	return o
}

// rollbackStep is the rollback this plan takes, in order of precedence: one
// under way, a requested one whose revision can be used, or a Rollback
// freeze's; false when there is none, or the requested one cannot proceed
// and no freeze overrides it.
func (p *planner) rollbackStep() (outcome, bool) {
	switch {
	case p.rollbackBlocked() && !p.freezeRollsBack():
		return outcome{}, false
	case p.st.Phase == fleetv1alpha1.RolloutPhaseRollingBack:
		return p.rollBack(), true
	case p.in.Spec.Rollback != nil && !p.rollbackBlocked():
		return p.requestedRollback(), true
	case p.freezeRollsBack():
		return p.freezeRollback(), true
	}
	return outcome{}, false
}

// freezeRollsBack reports whether a Rollback freeze rolls the rollout back
// to fromRevision: it can, and some cluster renders or runs the target.
func (p *planner) freezeRollsBack() bool {
	f := p.in.Freeze
	return f != nil && f.Action == fleetv1alpha1.FreezeRollback && p.canRollBack() && p.anyTouched()
}

// freezeRollback starts the rollback of a Rollback freeze, to fromRevision.
func (p *planner) freezeRollback() outcome {
	f := p.in.Freeze
	msg := fmt.Sprintf("FleetFreeze %s rolls back every rollout in flight: %s", f.Name, f.Reason)
	o := p.startRollback(p.in.Spec.FromRevision, actorOf(f.By), fleetv1alpha1.ReasonFleetFrozen, msg)
	o.freeze = f.Name
	p.freezeStatus().RolledBackBy = f.Name
	return o
}

// holdOutcome is the Paused phase of a held rollout: by a freeze, or by
// desiredState Paused.
func (p *planner) holdOutcome(wave string) outcome {
	if f := p.in.Freeze; f != nil {
		msg := fmt.Sprintf("held by FleetFreeze %s: %s", f.Name, f.Reason)
		if f.Action == fleetv1alpha1.FreezeRollback && !p.canRollBack() && p.anyTouched() {
			msg += "; it cannot roll back: " + p.noRollback()
		}
		return outcome{phase: fleetv1alpha1.RolloutPhasePaused, wave: wave, actor: actorOf(f.By), reason: fleetv1alpha1.ReasonFleetFrozen,
			message: msg, warning: true, freeze: f.Name}
	}
	sc := p.in.Spec.StateChange
	return outcome{phase: fleetv1alpha1.RolloutPhasePaused, wave: wave, actor: changeActor(sc), reason: fleetv1alpha1.ReasonPaused,
		message: changeMessage(sc, "paused; no more clusters are admitted")}
}

// canRollBack reports whether a rollback to fromRevision (a Rollback
// freeze's, onFailure's) returns the target set to where it was: there is
// one, and the whole set ran it.
func (p *planner) canRollBack() bool {
	return p.in.Spec.FromRevision != "" && !p.in.PartialFrom
}

// noRollback says why the rollout cannot roll back to fromRevision.
func (p *planner) noRollback() string {
	if p.in.Spec.FromRevision == "" {
		return "there is no fromRevision"
	}
	return "fromRevision " + p.in.Spec.FromRevision + " ran on only some of its clusters, which a rollback would move every other one to"
}

// startOutcome describes the start of the run in the first transition.
func (p *planner) startOutcome(o outcome) outcome {
	o.actor = actorOf(p.in.StartedBy)
	msg := fmt.Sprintf("started %s → %s in %s mode over %s", or(p.in.Spec.FromRevision, "(none)"),
		p.in.Spec.TargetRevision, mode(p.in.Spec), describeWaves(p.st.Waves))
	if p.in.Change != "" {
		msg += "; it changes " + p.in.Change
	}
	switch {
	case mode(p.in.Spec) == fleetv1alpha1.UpdateModeImmediate:
		o.warning, o.reason = true, ReasonImmediateRollout
		msg += "; reason: " + p.in.Spec.UpdatePolicy.Reason
	case !o.phase.IsTerminal():
		o.reason = ReasonStarted
	}
	o.cause = join(msg, o.cause)
	o.force = true
	return o
}

// resumeRequested reports whether someone resumed a Halted rollout: set
// desiredState (Running) after it halted, as `flotilla rollout resume` does.
// The time is the requester's word: one more than MaxClockSkew ahead of
// the hub's clock is not believed, or a stateChange dated in the future,
// written while the rollout ran, would resume it the moment it halted and
// its failures cleared, with no one deciding after the halt.
func (p *planner) resumeRequested() bool {
	sc := p.in.Spec.StateChange
	if sc == nil || sc.At == nil || sc.At.After(p.now.Add(MaxClockSkew)) {
		return false
	}
	return sc.At.After(p.phaseSince(fleetv1alpha1.RolloutPhaseHalted))
}

// phaseSince is when the rollout last entered phase, from its history.
func (p *planner) phaseSince(phase fleetv1alpha1.RolloutPhase) time.Time {
	for i := len(p.prev.History) - 1; i >= 0; i-- {
		if h := p.prev.History[i]; h.To == phase {
			return h.Time.Time
		}
	}
	return time.Time{}
}

// prevReadyMessage keeps the conditions' message of a standing halt.
func (p *planner) prevReadyMessage() string {
	if c := meta.FindStatusCondition(p.prev.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return "halted"
}

// prevFrozen reports whether a freeze held the rollout at the last plan.
func (p *planner) prevFrozen() bool {
	for _, c := range p.prev.Conditions {
		if c.Type == fleetv1alpha1.ConditionFrozen {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// transition moves the status to the outcome's phase and wave, recording a
// history entry and an Event when either changed (or when forced).
func (p *planner) transition(o outcome) {
	frozenChanged := p.prevFrozen() != (p.in.Freeze != nil && !o.phase.IsTerminal())
	if o.phase == p.st.Phase && o.wave == p.st.CurrentWave && !o.force && !frozenChanged {
		return
	}
	if o.phase.IsTerminal() {
		p.finish()
	}
	actor := or(o.actor, ActorHub)
	// A freeze that starts or stops holding the rollout is its cause (not
	// of an end: a rollout that ends is no longer held, whatever ended it).
	cause := o.freeze
	if cause == "" && frozenChanged && !o.phase.IsTerminal() {
		if p.in.Freeze != nil {
			cause = p.in.Freeze.Name
		} else {
			cause = p.prev.HeldBy()
		}
	}
	p.st.History = append(p.st.History, fleetv1alpha1.HistoryEntry{
		Time:    stamp(p.now),
		From:    p.st.Phase,
		To:      o.phase,
		Wave:    o.wave,
		Actor:   fleetv1alpha1.ClipMessage(actor, 253),
		Message: fleetv1alpha1.ClipMessage(join(o.cause, o.message), 1024),
		Freeze:  cause,
	})
	if n := len(p.st.History) - maxHistory; n > 0 {
		p.st.History = append([]fleetv1alpha1.HistoryEntry(nil), p.st.History[n:]...)
	}
	typ := EventNormal
	if o.warning {
		typ = EventWarning
	}
	reason := or(o.reason, string(o.phase))
	// The actor ends the note whatever the length of a quoted message.
	p.event(typ, reason, fleetv1alpha1.EventNote(join(o.cause, o.message), actor))
	p.st.Phase, p.st.CurrentWave = o.phase, o.wave
}

// finish ends the run: waves that never started are Skipped.
func (p *planner) finish() {
	p.st.CompletedAt = ptr(stamp(p.now))
	p.stopWaves(false)
}

// stopWaves ends the waves when the run leaves normal progress (it ends, or
// a rollback starts), so that no wave of such a rollout shows a live phase:
// waves that never started are Skipped; with a rollback, every wave that
// started and did not fail is RolledBack (its clusters go back); otherwise
// one at work (Progressing, Baking) is Stopped. A Failed wave stays Failed.
func (p *planner) stopWaves(rollback bool) {
	for _, w := range p.waves {
		switch {
		case w.st.Phase == fleetv1alpha1.WavePhaseFailed || w.st.Phase == fleetv1alpha1.WavePhaseSkipped ||
			w.st.Phase == fleetv1alpha1.WavePhaseRolledBack:
		case !w.started() && !w.done():
			w.st.Phase = fleetv1alpha1.WavePhaseSkipped
		case rollback:
			if !w.done() {
				w.st.CompletedAt = ptr(stamp(p.now))
			}
			w.st.Phase = fleetv1alpha1.WavePhaseRolledBack
		case live(w.st.Phase):
			w.st.Phase, w.st.CompletedAt = fleetv1alpha1.WavePhaseStopped, ptr(stamp(p.now))
		}
	}
}

// decision assembles the result.
func (p *planner) decision() Decision {
	p.st.ObservedGeneration = p.in.Generation
	admit := p.admit
	if !p.st.Phase.IsTerminal() && !rollingBack(p.st.Phase) && len(p.readmit) > 0 {
		admit = append(slices.Clone(p.readmit), p.admit...)
	}
	d := Decision{Status: *p.st, Admit: admit, Events: p.events, Measure: p.measure}
	if !p.wakeAt.IsZero() && !p.st.Phase.IsTerminal() {
		d.RequeueAfter = p.wakeAt.Sub(p.now)
	}
	return d
}

// wake asks to be planned again at t, if t is ahead.
func (p *planner) wake(t time.Time) {
	if t.After(p.now) && (p.wakeAt.IsZero() || t.Before(p.wakeAt)) {
		p.wakeAt = t
	}
}

// event records one Event.
func (p *planner) event(typ EventType, reason, message string) {
	p.events = append(p.events, Event{Type: typ, Reason: reason, Message: fleetv1alpha1.ClipMessage(message, fleetv1alpha1.MaxEventNote)})
}

// admitCluster admits the i-th cluster of a wave to rev and updates its
// observation to how it will look once admitted: converging from now on. A
// cluster already rendering rev, or not observed, is left alone.
func (p *planner) admitCluster(w *wave, i int, rev string) bool {
	o := w.obs[i]
	if o == nil || o.Revision == rev {
		return false
	}
	if rev == p.in.Spec.TargetRevision {
		w.st.LastAdmittedAt = ptr(stamp(p.now))
	}
	next := *o
	next.Revision, next.AdmittedAt = rev, p.now
	next.Health, next.HealthSince, next.Reason, next.Message = HealthProgressing, p.now, "", ""
	w.obs[i] = &next
	p.admit = append(p.admit, Admission{Cluster: o.Name, Revision: rev, Wave: w.st.Name})
	return true
}

// anyTouched reports whether any cluster of the frozen set renders or runs
// the target revision, or a target an earlier Rollout left unsettled.
func (p *planner) anyTouched() bool {
	for _, w := range p.waves {
		for _, o := range w.obs {
			if o != nil && (p.touches(o.Revision) || p.touches(o.AppliedRevision)) {
				return true
			}
		}
	}
	return false
}

// touches reports whether rev is this change's to move back: the target,
// or a target an earlier Rollout left unsettled (Input.Unsettled).
func (p *planner) touches(rev string) bool {
	return rev != "" && (rev == p.in.Spec.TargetRevision || slices.Contains(p.in.Unsettled, rev))
}

// newPolicyChange reports whether spec.policyChange is one the history has
// not recorded yet.
func (p *planner) newPolicyChange() bool {
	pc := p.in.Spec.PolicyChange
	if pc == nil {
		return false
	}
	seen := p.prev.ObservedPolicyChange
	return seen == nil || seen.By != pc.By || seen.Message != pc.Message ||
		(seen.At == nil) != (pc.At == nil) || (seen.At != nil && !seen.At.Equal(pc.At))
}

// actorOf is who, or "unknown".
func actorOf(by string) string { return or(by, ActorUnknown) }

// changeActor is who made a manual change, or "unknown".
func changeActor(c *fleetv1alpha1.ChangeRecord) string {
	if c == nil {
		return ActorUnknown
	}
	return actorOf(c.By)
}

// changeMessage is a manual change's message, or def.
func changeMessage(c *fleetv1alpha1.ChangeRecord, def string) string {
	if c == nil || c.Message == "" {
		return def
	}
	return def + ": " + c.Message
}

// stamp is t as the API stores it, to the second, so a status read back
// from the API server equals the one Plan returned.
func stamp(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}

func ptr[T any](v T) *T { return &v }

// join joins a cause and a message with "; ", either possibly empty.
func join(cause, message string) string {
	switch {
	case cause == "":
		return message
	case message == "":
		return cause
	}
	return cause + "; " + message
}

// isForward reports whether phase is one of normal progress.
func isForward(phase fleetv1alpha1.RolloutPhase) bool {
	switch phase {
	case fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.RolloutPhaseBaking, fleetv1alpha1.RolloutPhaseWaitingForApproval:
		return true
	}
	return false
}

// admittedUnwritten returns o, the observation of wave w's cluster j, as
// the cluster stands admitted when the status admits it to the target but
// no Work there renders the target: the instance controller did not write
// them (it holds the instance for what its team wrote, or the target's
// render fails for it). The status write was the admission. Judged on its
// Works alone, the cluster was pending, admitted again at every plan with
// a new admission time, and never failed by its progress deadline: the
// Rollout stayed in flight for ever and said nothing of why. It now counts
// from the wave's last admission (no earlier than its own), converging
// until its progress deadline fails it; it is still listed as admitted, as
// a plan that stored its admission and crashed before the Works were
// written lists it again. Not while rolling back, which moves clusters off
// the target, nor once ended.
func (p *planner) admittedUnwritten(w *wave, j int, o *ClusterObservation) *ClusterObservation {
	target := p.in.Spec.TargetRevision
	marks := w.st.Admitted
	if o == nil || o.Revision == target || len(marks) != len(w.st.Clusters) || marks[j] != fleetv1alpha1.AdmittedTarget ||
		rollingBack(p.st.Phase) || p.st.Phase.IsTerminal() {
		return o
	}
	if w.st.LastAdmittedAt == nil {
		// A status written before lastAdmittedAt: from now.
		w.st.LastAdmittedAt = ptr(stamp(p.now))
	}
	at := w.st.LastAdmittedAt.Time
	if p.in.LeadingSince.After(at) && !p.in.LeadingSince.After(p.now) {
		// Admitted by a hub that stopped before its Works were written:
		// the time no hub ran is not the cluster's.
		at = p.in.LeadingSince
	}
	next := *o
	next.Revision, next.AdmittedAt, next.AppliedRevision = target, at, ""
	next.Health, next.HealthSince, next.Reason = HealthProgressing, at, fleetv1alpha1.ReasonProgressing
	next.Message = "admitted to " + target + ", but its Works do not render it"
	if o.Message != "" {
		next.Message += ": " + o.Message
	}
	p.readmit = append(p.readmit, Admission{Cluster: o.Name, Revision: target, Wave: w.st.Name})
	return &next
}
