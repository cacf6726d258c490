package rollout

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Blocked is why a Rollout, or the rollback it asks for, cannot proceed: a
// revision, Promise or strategy that does not exist or is not its subject's.
// Only a person can fix it, so it is Stalled with the reason.
type Blocked struct {
	// Reason is CamelCase, e.g. RevisionNotFound, StrategyNotFound, InvalidSpec.
	Reason string
	// Message says what is wrong and how to get out of it.
	Message string
	// Observed says that Input.Clusters observes the subject's clusters in
	// full: only the strategy, or a check, cannot be used. Moving forward
	// needs them; moving back does not, so a rollback (under way,
	// requested, or a Rollback freeze's) still proceeds.
	Observed bool
}

// PlanBlocked decides for a Rollout that cannot be planned at all (its
// Promise, a revision or its strategy is missing, a check cannot run).
// Nothing is admitted to the target. When b.Observed, a rollback still
// proceeds as Plan would take it (one under way, a requested one, or a
// Rollback freeze's: the kill switch holds whatever the strategy). Otherwise
// an abort still ends it (Aborted: every cluster stays where it is), or it
// keeps its phase (Pending if it never started) and is Stalled with b until
// the cause is fixed. Becoming blocked, or blocked for another reason, is
// recorded once in the history and as a Warning Event.
func PlanBlocked(in Input, b Blocked) Decision {
	p := newPlanner(in, nil)
	if p.st.Phase.IsTerminal() {
		p.settleEnded()
		return p.decision()
	}
	if b.Observed && p.rollBackBlocked(b) {
		return p.decision()
	}
	p.finishBlocked(p.blockedOutcome(b, "blocked: "+b.Message))
	return p.decision()
}

// rollBackBlocked takes the step of a rollback of a rollout that cannot be
// planned forward, in Plan's order of precedence, and reports whether there
// was one to take: a rollback under way, a requested one whose revision can
// be used, or a Rollback freeze's. A rollback needs only where each cluster
// of the frozen set stands; what it reads of the strategy (the offline
// policy, the progress deadline of the failures it records) takes the
// defaults when the strategy cannot be read.
func (p *planner) rollBackBlocked(b Blocked) bool {
	obs, err := indexClusters(p.in.Clusters)
	if err != nil || len(p.st.Waves) == 0 {
		return false
	}
	// Binding may mark the waves (admittedUnwritten): a rollout that does
	// not roll back is recorded blocked from the status as it was.
	before := p.st.DeepCopy()
	p.obs = obs
	p.bindWavesForRollback()
	o, ok := p.rollbackStep()
	if !ok {
		p.st, p.waves, p.obs = before, nil, nil
		return false
	}
	if !o.phase.IsTerminal() {
		o.message += " (it cannot move forward: " + b.Message + ")"
	}
	p.transition(o)
	p.rollup()
	p.setConditions(o)
	p.storeAdmissions()
	return true
}

// bindWavesForRollback binds each frozen wave's observations as bindWaves
// does, with the default policy where the strategy cannot give one.
func (p *planner) bindWavesForRollback() {
	defaults := fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{}}}
	_ = p.bindWavesWith(func(st *fleetv1alpha1.WaveStatus) (waveConfig, error) {
		if len(p.in.Strategy.Waves) > 0 {
			if cfg, err := configFor(p.in.Strategy, st); err == nil {
				return cfg, nil
			}
		}
		cfg, _ := configFor(defaults, st)
		return cfg, nil // never fails: a rollback takes the defaults
	})
}

// blockedRollback is the outcome of a requested rollback whose revision
// cannot be used (in.RollbackBlocked): nothing is admitted and the rollout
// keeps its phase, Stalled, until the request names a usable revision or the
// rollout is aborted, which wins over such a rollback.
func (p *planner) blockedRollback() outcome {
	b := *p.in.RollbackBlocked
	rev := or(p.in.Spec.Rollback.ToRevision, p.in.Spec.FromRevision)
	return p.blockedOutcome(b, "the rollback to "+rev+" requested by "+actorOf(p.in.Spec.Rollback.By)+" cannot proceed: "+b.Message)
}

// rollbackBlocked reports whether the requested rollback names a revision
// that cannot be used and has not started some other way (a freeze or a
// failure budget rolling back to fromRevision carries on).
func (p *planner) rollbackBlocked() bool {
	spec := p.in.Spec
	if p.in.RollbackBlocked == nil || spec.Rollback == nil {
		return false
	}
	return p.st.Phase != fleetv1alpha1.RolloutPhaseRollingBack ||
		p.st.RollbackRevision == or(spec.Rollback.ToRevision, spec.FromRevision)
}

// blockedOutcome stays where the rollout is, Stalled with b, unless it is
// to be aborted: then it ends Aborted, and an unusable rollback revision
// is forgotten, so that the subject settles on fromRevision and the next
// Rollout never inherits it.
func (p *planner) blockedOutcome(b Blocked, message string) outcome {
	spec := p.in.Spec
	if spec.DesiredState == fleetv1alpha1.RolloutAborted {
		p.st.RollbackRevision = ""
		return outcome{phase: fleetv1alpha1.RolloutPhaseAborted, wave: p.st.CurrentWave, actor: changeActor(spec.StateChange),
			reason: fleetv1alpha1.ReasonAborted, message: changeMessage(spec.StateChange, "aborted while stalled ("+message+")")}
	}
	message += howToUnblock
	phase := p.st.Phase
	if phase == "" {
		phase = fleetv1alpha1.RolloutPhasePending
	}
	o := outcome{phase: phase, wave: p.st.CurrentWave, reason: b.Reason,
		message: message, warning: true, blocked: &Blocked{Reason: b.Reason, Message: message}}
	// Recorded once per cause: when it becomes blocked, or blocked for
	// another reason or message (another check that cannot run). The
	// message is compared as the condition stores it.
	if c := meta.FindStatusCondition(p.prev.Conditions, fleetv1alpha1.ConditionStalled); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != b.Reason ||
		c.Message != fleetv1alpha1.ClipMessage(message, fleetv1alpha1.MaxConditionMessage) {
		o.force = true
	}
	return o
}

// howToUnblock ends every blocked message: the ways out that keep history.
const howToUnblock = "; fix the cause (create what is missing, or request a rollback to a revision of this subject: " +
	"flotilla rollout rollback --to-revision), or abort the rollout (flotilla rollout abort)"

// finishBlocked records a blocked outcome without planning waves: the
// strategy may be what is missing.
func (p *planner) finishBlocked(o outcome) {
	if o.phase.IsTerminal() {
		// No wave policy is bound: waves that never started are Skipped here.
		for i := range p.st.Waves {
			if w := &p.st.Waves[i]; w.Phase == "" || w.Phase == fleetv1alpha1.WavePhasePending {
				w.Phase = fleetv1alpha1.WavePhaseSkipped
			}
		}
	}
	p.transition(o)
	p.setConditions(o)
}
