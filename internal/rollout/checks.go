package rollout

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// Verification checks (issue 17) in the engine. A wave's checks are
// resolved from the strategy, its wave and the Promise (ResolveChecks).
// Their states live in status.waves[].checks, compact (see
// WaveCheckStatus); each plan decodes them, applies a person's re-runs and
// skips, folds in what was measured since (Input.Measurements for the
// hub's checks, ClusterObservation.Checks for the agents'), and judges:
//
//   - a cluster whose per-cluster check failed is failed (AnalysisFailed)
//     and counts against the wave's failure budget;
//   - a failed whole-wave check fails the wave (onFailure applies);
//   - an inconclusive check holds the wave (Stalled, CheckInconclusive):
//     nothing more is admitted and the wave does not complete until a
//     person re-runs or skips it;
//   - a wave completes only once every check that runs through the bake
//     (when Bake or Always) has passed: measured at or after the bake's end.
//
// Plan then lists the hub's checks that are due (Decision.Measure); the
// controller measures them and plans again with the measurements.

// defaultCheckInterval is a check's interval when the API did not default it.
const defaultCheckInterval = 30 * time.Second

// Measurement is one measurement the controller took of a hub-placed
// check, for Plan to record.
type Measurement struct {
	// Wave and Check name the check.
	Wave, Check string
	// Cluster measured; empty for a whole-wave check.
	Cluster string
	verify.Measurement
}

// AgentCheck is an agent's report of one of its Work's checks, for the
// target revision (the controller leaves out reports on other revisions).
type AgentCheck struct {
	Name string
	// Run the state belongs to; a state of an older run is ignored.
	Run   int32
	State verify.State
}

// CheckTask is a hub-placed check that is due now.
type CheckTask struct {
	// Wave and Check name it; Spec is the check as resolved for the wave.
	Wave  string
	Check fleetv1alpha1.Check
	// Clusters to measure: for a per-cluster check those due, for a
	// whole-wave check every admitted cluster of the wave (its
	// .Clusters).
	Clusters []TaskCluster
	// Judged are, for a whole-wave check, the clusters its measurement
	// judges: those in its window healthy on the target. A vector
	// whose samples name clusters must name each of them to pass
	// (verify.Condition.JudgeWave).
	Judged []string
}

// TaskCluster is a cluster a CheckTask measures.
type TaskCluster struct {
	Name   string
	Labels map[string]string
}

// ResolveChecks is the checks of wave: the strategy's, replaced by name by
// the wave's own (the implicit last wave, and a frozen wave the strategy no
// longer has, take the strategy's last wave's, as for every other
// setting), then by the Promise's (which may add checks), minus the
// Promise's skipChecks. The Immediate wave runs none: the emergency lane
// has no bake. Order: the strategy's, then those added, by first mention.
func ResolveChecks(s fleetv1alpha1.RolloutStrategySpec, wave string, promiseChecks []fleetv1alpha1.Check, skip []string) []fleetv1alpha1.Check {
	if wave == ImmediateWaveName {
		return nil
	}
	var own []fleetv1alpha1.Check
	if len(s.Waves) > 0 {
		spec := s.Waves[len(s.Waves)-1]
		if i := slices.IndexFunc(s.Waves, func(w fleetv1alpha1.Wave) bool { return w.Name == wave }); i >= 0 {
			spec = s.Waves[i]
		}
		own = spec.Checks
	}
	out := replaceByName(nil, s.Checks)
	out = replaceByName(out, own)
	out = replaceByName(out, promiseChecks)
	return slices.DeleteFunc(out, func(c fleetv1alpha1.Check) bool { return slices.Contains(skip, c.Name) })
}

// replaceByName replaces checks of base by those of over with the same
// name, and appends the others.
func replaceByName(base, over []fleetv1alpha1.Check) []fleetv1alpha1.Check {
	out := slices.Clone(base)
	for _, c := range over {
		if i := slices.IndexFunc(out, func(b fleetv1alpha1.Check) bool { return b.Name == c.Name }); i >= 0 {
			out[i] = c
		} else {
			out = append(out, c)
		}
	}
	return out
}

// CheckKind is the kind of check c declares.
func CheckKind(c fleetv1alpha1.Check) verify.Kind {
	switch {
	case c.Metric != nil:
		return verify.KindMetric
	case c.HTTP != nil:
		return verify.KindHTTP
	case c.Job != nil:
		return verify.KindJob
	}
	return ""
}

// OnHub reports whether the hub measures c: a metric check placed on the hub.
func OnHub(c fleetv1alpha1.Check) bool {
	return c.Metric != nil && c.Metric.Placement != fleetv1alpha1.CheckOnAgent
}

// CheckPolicy is c's measurement policy.
func CheckPolicy(c fleetv1alpha1.Check) verify.Policy {
	return verify.Policy{Interval: duration(c.Interval, defaultCheckInterval), FailureLimit: c.FailureLimit, InconclusiveLimit: c.InconclusiveLimit}
}

// ValidateCheck says what is wrong with c, if anything: its condition must
// compile, its query template parse, and its shape be one the engine can
// measure.
func ValidateCheck(c fleetv1alpha1.Check) error {
	kind := CheckKind(c)
	if kind == "" {
		return errors.New("a check is exactly one of metric, http or job")
	}
	if _, err := verify.Compile(kind, c.Condition); err != nil {
		return err
	}
	if err := CheckPolicy(c).Validate(); err != nil {
		return err
	}
	scope := c.Scope
	if scope == fleetv1alpha1.CheckWholeWave && !OnHub(c) {
		return errors.New("only a hub metric check can judge the whole wave")
	}
	if m := c.Metric; m != nil {
		if err := verify.ParseQuery(m.Query); err != nil {
			return err
		}
		if m.ClusterLabel != "" && !OnHub(c) {
			return errors.New("clusterLabel names the cluster of a hub query's samples: it needs placement Hub")
		}
	}
	return nil
}

// CheckError is a check that cannot run: Plan returns it, and the Rollout
// is Stalled with reason InvalidCheck until the check is fixed.
type CheckError struct {
	Wave, Check string
	Err         error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("check %s of wave %s cannot run: %v", e.Check, e.Wave, e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// waveCheck is one check of a wave during a plan.
type waveCheck struct {
	spec   fleetv1alpha1.Check
	policy verify.Policy
	// st is the check's entry in the next status.
	st *fleetv1alpha1.WaveCheckStatus
	// wave is a whole-wave check's state; states the per-cluster ones
	// (nil: not measured in this run).
	wave   *verify.State
	states []*verify.State
	since  time.Time
	lastAt time.Time
}

func (c *waveCheck) perCluster() bool { return c.spec.Scope != fleetv1alpha1.CheckWholeWave }
func (c *waveCheck) skipped() bool    { return c.st.Skipped != nil }
func (c *waveCheck) bake() bool       { return c.spec.When != fleetv1alpha1.CheckDuringProgress }
func (c *waveCheck) progress() bool {
	return c.spec.When == fleetv1alpha1.CheckDuringProgress || c.spec.When == fleetv1alpha1.CheckAlways
}

// windowEnd is when a cluster's state s of c must have passed to pass the
// window that ends at end (zero: an open one): end, except for a test Job,
// whose one run is the result for its run and revision (the agent does not
// run it again once it passed): a passing run passes the bake whenever it
// ran in the window.
func (c *waveCheck) windowEnd(s verify.State, end time.Time) time.Time {
	if c.spec.Job != nil && !end.IsZero() {
		return s.Since
	}
	return end
}

// runEnd is when c's window ends for a bake that ends at end (zero: an
// open one) lasting bake: end, or for a re-run, a whole bake after the
// re-run's window opened if that is later. A re-run forgets what the check
// measured, and must measure as long again: otherwise one measurement at
// the bake's end would pass a check that had failed just before it.
func (c *waveCheck) runEnd(end time.Time, bake time.Duration) time.Time {
	if end.IsZero() || c.st.Run == 0 || c.since.IsZero() {
		return end
	}
	if e := c.since.Add(bake); e.After(end) {
		return e
	}
	return end
}

// checked reports whether the wave's checks measure in this plan: it
// started, is not done, and the rollout is not rolling back or over. The
// checks of other waves are read (their failures stand) but not measured.
func (p *planner) checked(w *wave) bool {
	return w.started() && !w.done() && !rollingBack(p.st.Phase) && !p.st.Phase.IsTerminal()
}

// bindChecks resolves the checks of every wave at work, decodes their
// stored states, applies re-runs and skips, records what was measured and
// judges the clusters whose check failed.
func (p *planner) bindChecks() error {
	// Every check the rollout would still run must be able to run: a
	// broken one stalls it at the start, not when its wave comes.
	seen := map[string]bool{}
	for _, w := range p.waves {
		if w.done() {
			continue
		}
		for _, c := range ResolveChecks(p.in.Strategy, w.st.Name, p.in.PromiseChecks, p.in.SkipChecks) {
			key := c.Name + "\x00" + c.Condition + "\x00" + fmt.Sprint(c.Metric, c.Scope)
			if seen[key] {
				continue
			}
			seen[key] = true
			if err := ValidateCheck(c); err != nil {
				return &CheckError{Wave: w.st.Name, Check: c.Name, Err: err}
			}
		}
	}
	for _, w := range p.waves {
		if checked := p.checked(w); checked || len(w.st.Checks) > 0 {
			if err := p.bindWaveChecks(w, checked); err != nil {
				return err
			}
		}
	}
	return nil
}

// bindWaveChecks binds the checks of one wave; measured says whether to
// record this plan's measurements and the agents' reports (not for a wave
// that starts in this plan: its windows open now, and a plan repeated from
// the status it writes must decide the same).
func (p *planner) bindWaveChecks(w *wave, measured bool) error {
	if w.st.Name == ImmediateWaveName {
		// It runs none; it keeps the failures of the waves it merged.
		p.judgeCarriedFailures(w)
		return nil
	}
	{
		specs := ResolveChecks(p.in.Strategy, w.st.Name, p.in.PromiseChecks, p.in.SkipChecks)
		if len(specs) == 0 && len(w.st.Checks) == 0 {
			return nil
		}
		for _, c := range specs {
			if err := ValidateCheck(c); err != nil {
				return &CheckError{Wave: w.st.Name, Check: c.Name, Err: err}
			}
		}
		prev := w.st.Checks
		w.st.Checks = make([]fleetv1alpha1.WaveCheckStatus, len(specs))
		w.checks = make([]*waveCheck, len(specs))
		for i, spec := range specs {
			st := &w.st.Checks[i]
			if j := slices.IndexFunc(prev, func(s fleetv1alpha1.WaveCheckStatus) bool { return s.Name == spec.Name }); j >= 0 {
				*st = prev[j]
			}
			st.Name, st.Scope, st.When = spec.Name, cmp.Or(spec.Scope, fleetv1alpha1.CheckEachCluster), cmp.Or(spec.When, fleetv1alpha1.CheckDuringBake)
			st.Placement = fleetv1alpha1.CheckOnAgent
			if OnHub(spec) {
				st.Placement = fleetv1alpha1.CheckOnHub
			}
			spec.Scope, spec.When = st.Scope, st.When
			c := &waveCheck{spec: spec, policy: CheckPolicy(spec), st: st}
			c.decode(w.st.Clusters)
			p.applyActions(w, c)
			w.checks[i] = c
		}
		if measured {
			p.recordChecks(w)
			for _, c := range w.checks {
				c.encode(w.st.Clusters)
			}
		}
		p.judgeChecks(w)
	}
	return nil
}

// applyActions applies a person's skip or re-run of c in w (those of only,
// when given).
func (p *planner) applyActions(w *wave, c *waveCheck, only ...fleetv1alpha1.CheckActionType) {
	for _, a := range p.in.Spec.CheckActions {
		if a.Wave != w.st.Name || a.Check != c.spec.Name || (len(only) > 0 && !slices.Contains(only, a.Action)) {
			continue
		}
		rec := a.ChangeRecord
		switch a.Action {
		case fleetv1alpha1.CheckSkip:
			// A skip counts the check neither for nor against its wave: in a
			// wave that is over, or a Rollout rolling back or over, it would
			// only forget the failures the check found, and the verdict
			// stands.
			if c.st.Skipped == nil && !w.done() && !rollingBack(p.st.Phase) && !p.st.Phase.IsTerminal() {
				c.st.Skipped = rec.DeepCopy()
				p.checkEvent(EventWarning, ReasonCheckSkipped, fmt.Sprintf("wave %s: check %s skipped by %s: %s", w.st.Name, c.spec.Name, actorOf(rec.By), rec.Message))
			}
		case fleetv1alpha1.CheckRerun:
			// A wave that is over, a Rollout rolling back or over, and a
			// check that runs only while clusters progress once the wave
			// bakes, are not measured again: a re-run would only forget
			// the failures the check found, and its verdict stands.
			if w.done() || rollingBack(p.st.Phase) || p.st.Phase.IsTerminal() ||
				(!c.bake() && w.st.Phase == fleetv1alpha1.WavePhaseBaking) {
				continue
			}
			if !sameRecord(c.st.Rerun, &rec) {
				c.st.Rerun = rec.DeepCopy()
				c.st.Run++
				// The new run's window opens now, by the hub's clock:
				// an agent's report of when it began cannot move it
				// earlier (recordChecks), nor so shorten its bake.
				c.wave, c.since, c.lastAt = nil, p.now, time.Time{}
				c.states = make([]*verify.State, len(w.st.Clusters))
				c.st.Verdict = fleetv1alpha1.CheckPending
				p.checkEvent(EventNormal, ReasonCheckRerun, fmt.Sprintf("wave %s: check %s re-run (run %d) by %s%s", w.st.Name, c.spec.Name, c.st.Run,
					actorOf(rec.By), prefixed(": ", rec.Message)))
			}
		}
	}
}

// recordChecks folds this plan's measurements and the agents' reports into
// the states of w's checks.
func (p *planner) recordChecks(w *wave) {
	index := make(map[string]int, len(w.st.Clusters))
	for i, n := range w.st.Clusters {
		index[n] = i
	}
	for _, c := range w.checks {
		if c.skipped() {
			continue
		}
		if !OnHub(c.spec) {
			for i, o := range w.obs {
				c.states[i] = nil
				if o == nil || o.Revision != p.in.Spec.TargetRevision {
					continue
				}
				for _, ac := range o.Checks {
					if ac.Name == c.spec.Name && ac.Run == c.st.Run && !ac.State.Since.IsZero() && !p.fromTheFuture(ac.State) {
						s := ac.State
						c.states[i] = &s
						if s.Last != nil && s.Last.At.After(c.lastAt) {
							c.lastAt = s.Last.At
						}
						if c.since.IsZero() || (c.st.Run == 0 && s.Since.Before(c.since)) {
							c.since = s.Since
						}
					}
				}
			}
			continue
		}
		for _, m := range p.in.Measurements {
			if m.Wave != w.st.Name || m.Check != c.spec.Name {
				continue
			}
			// Stored to the second, like every time in the status; a
			// measurement no later than the last one recorded is already
			// in (a plan repeated from the status it wrote).
			m.At = m.At.Truncate(time.Second)
			if c.since.IsZero() {
				c.since = m.At
			}
			if m.At.After(c.lastAt) {
				c.lastAt = m.At
			}
			if !c.perCluster() {
				if m.Cluster == "" {
					c.wave = record(c.policy, c.wave, m.Measurement)
				}
				continue
			}
			if i, ok := index[m.Cluster]; ok && m.Cluster != "" {
				c.states[i] = record(c.policy, c.states[i], m.Measurement)
			}
		}
	}
}

// fromTheFuture says an agent's report of a check is dated more than
// MaxClockSkew after now: not believed, as if not reported. The agents'
// times are compared with each other (the wave's lastMeasuredAt is the
// latest), so one member could otherwise date the others' measurements.
func (p *planner) fromTheFuture(s verify.State) bool {
	limit := p.now.Add(MaxClockSkew)
	return s.Since.After(limit) || s.Last != nil && s.Last.At.After(limit) || s.Decisive != nil && s.Decisive.At.After(limit)
}

// record folds m into s, starting s at m's time when it has not started.
// A measurement no later than s's last is already recorded.
func record(p verify.Policy, s *verify.State, m verify.Measurement) *verify.State {
	st := verify.Start(m.At)
	if s != nil {
		if s.Last != nil && !m.At.After(s.Last.At) {
			return s
		}
		st = *s
	}
	st = verify.Record(p, st, m)
	return &st
}

// sameRecord reports whether two change records are the same request.
func sameRecord(a, b *fleetv1alpha1.ChangeRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.By == b.By && a.Message == b.Message && (a.At == nil) == (b.At == nil) && (a.At == nil || a.At.Equal(b.At))
}

// prefixed is prefix+s, or "" for an empty s.
func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// checkEvent records an Event about a check.
func (p *planner) checkEvent(typ EventType, reason, message string) { p.event(typ, reason, message) }

// Event reasons of checks.
const (
	ReasonCheckPassed       = "CheckPassed"
	ReasonCheckFailed       = "CheckFailed"
	ReasonCheckInconclusive = fleetv1alpha1.ReasonCheckInconclusive
	ReasonCheckSkipped      = "CheckSkipped"
	ReasonCheckRerun        = "CheckRerun"
)
