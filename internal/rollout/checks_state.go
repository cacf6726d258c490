package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// ---- compact states in status.waves[].checks ----

// decode reads c's states from its status entry; names are the wave's clusters.
func (c *waveCheck) decode(names []string) {
	st := c.st
	if st.Since != nil {
		c.since = st.Since.Time
	}
	if st.LastMeasuredAt != nil {
		c.lastAt = st.LastMeasuredAt.Time
	}
	if st.Wave != nil {
		s := fromAPIState(*st.Wave)
		c.wave = &s
	}
	c.states = make([]*verify.State, len(names))
	if len(st.Marks) != len(names) {
		return
	}
	details := make(map[string]*fleetv1alpha1.ClusterCheckState, len(st.Clusters))
	for i := range st.Clusters {
		details[st.Clusters[i].Cluster] = &st.Clusters[i]
	}
	for i, name := range names {
		mark := st.Marks[i]
		if mark == fleetv1alpha1.CheckMarkNone {
			continue
		}
		if d := details[name]; d != nil {
			s := fromAPIState(d.CheckState)
			c.states[i] = &s
			continue
		}
		if s, ok := c.fromMark(mark); ok {
			c.states[i] = &s
		}
	}
}

// fromMark is the state a cluster's mark stands for when its detail is not
// kept: exact for "+", conservative for the others (a passing one earlier
// than the last tick passed nothing; a counted one settles with one more
// bad measurement).
func (c *waveCheck) fromMark(mark byte) (verify.State, bool) {
	s := verify.State{Since: c.since, Measurements: 1}
	switch mark {
	case fleetv1alpha1.CheckMarkPassing:
		s.Last = &verify.Measurement{At: c.lastAt, Outcome: verify.Passed}
	case fleetv1alpha1.CheckMarkPassingEarlier:
		s.Last = &verify.Measurement{At: c.since, Outcome: verify.Passed}
	case fleetv1alpha1.CheckMarkCounted:
		s.Failures, s.Inconclusives, s.InconclusiveRun = c.policy.FailureLimit, c.policy.InconclusiveLimit, c.policy.InconclusiveLimit
		s.Last = &verify.Measurement{At: c.since, Outcome: verify.Passed}
	case fleetv1alpha1.CheckMarkFailed:
		s.Failures = c.policy.FailureLimit + 1
		s.Last = &verify.Measurement{At: c.since, Outcome: verify.Failed, Value: "(detail not kept)"}
		s.Decisive = s.Last
	case fleetv1alpha1.CheckMarkInconclusive:
		s.Inconclusives, s.InconclusiveRun = c.policy.InconclusiveLimit+1, c.policy.InconclusiveLimit+1
		s.Last = &verify.Measurement{At: c.since, Outcome: verify.Inconclusive, Message: "(detail not kept)"}
		s.Decisive = s.Last
	default:
		return verify.State{}, false
	}
	return s, true
}

// encode writes c's states into its status entry.
func (c *waveCheck) encode(names []string) {
	st := c.st
	st.Since, st.LastMeasuredAt, st.Wave, st.Marks, st.Clusters = timePtr(c.since), timePtr(c.lastAt), nil, "", nil
	if !c.perCluster() {
		if c.wave != nil {
			s := toAPIState(*c.wave)
			st.Wave = &s
			canon := fromAPIState(s)
			c.wave = &canon
		}
		return
	}
	marks := make([]byte, len(names))
	any := false
	var details []fleetv1alpha1.ClusterCheckState
	for i, s := range c.states {
		marks[i] = fleetv1alpha1.CheckMarkNone
		if s == nil {
			continue
		}
		any = true
		switch v := verify.Assess(c.policy, *s, time.Time{}); {
		case v == verify.VerdictFailed:
			marks[i] = fleetv1alpha1.CheckMarkFailed
		case v == verify.VerdictInconclusive:
			marks[i] = fleetv1alpha1.CheckMarkInconclusive
		case s.Failures > 0 || s.InconclusiveRun > 0:
			marks[i] = fleetv1alpha1.CheckMarkCounted
		case s.Last != nil && (!s.Last.At.Before(c.lastAt) || !OnHub(c.spec)):
			// An agent measures on its own schedule: there is no tick
			// common to the wave, and its last measurement is its state.
			marks[i] = fleetv1alpha1.CheckMarkPassing
		case s.Last != nil:
			marks[i] = fleetv1alpha1.CheckMarkPassingEarlier
		default:
			continue
		}
		if marks[i] == fleetv1alpha1.CheckMarkFailed || marks[i] == fleetv1alpha1.CheckMarkInconclusive || marks[i] == fleetv1alpha1.CheckMarkCounted {
			details = append(details, fleetv1alpha1.ClusterCheckState{Cluster: names[i], CheckState: toAPIState(*s)})
		}
	}
	if any {
		st.Marks = string(marks)
	}
	// Failed and inconclusive first, then by name.
	rank := func(d fleetv1alpha1.ClusterCheckState) int {
		if d.Decisive != nil {
			return 0
		}
		return 1
	}
	slices.SortFunc(details, func(a, b fleetv1alpha1.ClusterCheckState) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Cluster, b.Cluster))
	})
	if len(details) > fleetv1alpha1.MaxCheckDetails {
		details = details[:fleetv1alpha1.MaxCheckDetails]
	}
	// The states become what the status holds, so that this plan judges
	// exactly as one planned from the status it writes.
	kept := make(map[string]bool, len(details))
	for _, d := range details {
		kept[d.Cluster] = true
	}
	for i, s := range c.states {
		// An agent's state is read again from its report at every plan:
		// kept exact (the mark would date it at the wave's lastMeasuredAt,
		// the latest of any member's).
		if s == nil || kept[names[i]] || !OnHub(c.spec) {
			if s != nil {
				canon := fromAPIState(toAPIState(*s))
				c.states[i] = &canon
			}
			continue
		}
		if canon, ok := c.fromMark(marks[i]); ok {
			c.states[i] = &canon
		}
	}
	slices.SortFunc(details, func(a, b fleetv1alpha1.ClusterCheckState) int { return cmp.Compare(a.Cluster, b.Cluster) })
	st.Clusters = details
}

func fromAPIState(s fleetv1alpha1.CheckState) verify.State {
	return verify.State{
		Since: s.Since.Time, Measurements: s.Measurements, Failures: s.Failures, Inconclusives: s.Inconclusives,
		InconclusiveRun: s.InconclusiveRun, Last: fromAPIMeasurement(s.Last), Decisive: fromAPIMeasurement(s.Decisive),
	}
}

func fromAPIMeasurement(m *fleetv1alpha1.CheckMeasurement) *verify.Measurement {
	if m == nil {
		return nil
	}
	return &verify.Measurement{At: m.Time.Time, Outcome: verify.Outcome(m.Outcome), Value: m.Value, Message: m.Message}
}

func toAPIState(s verify.State) fleetv1alpha1.CheckState {
	return fleetv1alpha1.CheckState{
		Since: stamp(s.Since), Measurements: s.Measurements, Failures: s.Failures, Inconclusives: s.Inconclusives,
		InconclusiveRun: s.InconclusiveRun, Last: toAPIMeasurement(s.Last), Decisive: toAPIMeasurement(s.Decisive),
	}
}

func toAPIMeasurement(m *verify.Measurement) *fleetv1alpha1.CheckMeasurement {
	if m == nil {
		return nil
	}
	return &fleetv1alpha1.CheckMeasurement{Time: stamp(m.At), Outcome: string(m.Outcome),
		Value: fleetv1alpha1.ClipMessage(m.Value, 256), Message: fleetv1alpha1.ClipMessage(m.Message, 512)}
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	return ptr(stamp(t))
}

// ---- judging ----

// judgeChecks marks the clusters of w whose per-cluster check failed: they
// are failed clusters (AnalysisFailed), counted against the budget.
func (p *planner) judgeChecks(w *wave) {
	for _, c := range w.checks {
		if c.skipped() || !c.perCluster() {
			continue
		}
		for i, s := range c.states {
			if s == nil || verify.Assess(c.policy, *s, time.Time{}) != verify.VerdictFailed {
				continue
			}
			if w.checkFailed == nil {
				w.checkFailed = map[string]checkFailure{}
			}
			name := w.st.Clusters[i]
			if _, seen := w.checkFailed[name]; seen {
				continue
			}
			// An agent writes its states itself: one failed with no
			// decisive measurement fails as of now (failed clamps zero).
			var at time.Time
			if s.Decisive != nil {
				at = s.Decisive.At
			}
			w.checkFailed[name] = checkFailure{at: at, message: p.explain(c, *s, time.Time{})}
		}
	}
}

// judgeCarriedFailures marks the clusters of the Immediate wave w whose
// check had failed in a wave a switch to Immediate merged
// (mergeCheckFailures), or whose failure there is reported since
// (carryLateFailures): they stay failed clusters (AnalysisFailed), unless
// a person skips the check for the Immediate wave. There is nothing to
// re-run: the Immediate wave measures nothing.
func (p *planner) judgeCarriedFailures(w *wave) {
	for i := range w.st.Checks {
		st := &w.st.Checks[i]
		p.applyActions(w, &waveCheck{spec: fleetv1alpha1.Check{Name: st.Name}, st: st}, fleetv1alpha1.CheckSkip)
		if st.Skipped != nil || len(st.Marks) != len(w.st.Clusters) {
			continue
		}
		if p.checked(w) {
			p.carryLateFailures(w, st)
		}
		for j, name := range w.st.Clusters {
			if _, seen := w.checkFailed[name]; seen || st.Marks[j] != fleetv1alpha1.CheckMarkFailed {
				continue
			}
			f := checkFailure{message: "check " + st.Name + " failed before the switch to Immediate"}
			if d := slices.IndexFunc(st.Clusters, func(c fleetv1alpha1.ClusterCheckState) bool { return c.Cluster == name }); d >= 0 {
				if m := st.Clusters[d].Decisive; m != nil {
					f.at = m.Time.Time
					f.message += fmt.Sprintf(": %s at %s (%d of %d measurements failed)",
						or(m.Value, m.Message), m.Time.UTC().Format(time.RFC3339), st.Clusters[d].Failures, st.Clusters[d].Measurements)
				}
			}
			if w.checkFailed == nil {
				w.checkFailed = map[string]checkFailure{}
			}
			w.checkFailed[name] = f
		}
	}
}

// carryLateFailures marks failed, in the check st the Immediate wave w
// carried from the wave at work at the switch, the clusters whose agent
// reports since that the run they were measured in failed in its window:
// a state of st's run begun no earlier than the wave's start (since), its
// decisive measurement failed no later than the switch (lastMeasuredAt;
// MaxClockSkew allowed). Such a report was in flight when the switch came,
// and is as true as one that arrived before it. An agent reports only on
// its own cluster, which it could fail anyway (its Work's health), so its
// word fails no other. The mark is kept: the agent drops the report once
// its Work no longer carries the check.
func (p *planner) carryLateFailures(w *wave, st *fleetv1alpha1.WaveCheckStatus) {
	if st.Since == nil || st.LastMeasuredAt == nil {
		return
	}
	end := st.LastMeasuredAt.Add(MaxClockSkew)
	marks := []byte(st.Marks)
	for i, o := range w.obs {
		if o == nil || o.Revision != p.in.Spec.TargetRevision || marks[i] == fleetv1alpha1.CheckMarkFailed {
			continue
		}
		j := slices.IndexFunc(o.Checks, func(ac AgentCheck) bool {
			d := ac.State.Decisive
			return ac.Name == st.Name && ac.Run == st.Run && !ac.State.Since.Before(st.Since.Time) &&
				d != nil && d.Outcome == verify.Failed && !d.At.After(end)
		})
		if j < 0 {
			continue
		}
		marks[i] = fleetv1alpha1.CheckMarkFailed
		st.Counts.Failed++
		if len(st.Clusters) < fleetv1alpha1.MaxCheckDetails {
			st.Clusters = append(st.Clusters, fleetv1alpha1.ClusterCheckState{Cluster: o.Name, CheckState: toAPIState(o.Checks[j].State)})
			slices.SortFunc(st.Clusters, func(a, b fleetv1alpha1.ClusterCheckState) int { return strings.Compare(a.Cluster, b.Cluster) })
		}
		if st.Verdict != fleetv1alpha1.CheckFailed {
			st.Verdict = fleetv1alpha1.CheckFailed
			st.Message = fleetv1alpha1.ClipMessage(fmt.Sprintf("failed before the switch to Immediate, on cluster %s: reported after it", o.Name), 1024)
		}
	}
	st.Marks = string(marks)
}

// checkFailure is why a cluster's check failed.
type checkFailure struct {
	at      time.Time
	message string
}

// explain is verify.Explain for c.
func (p *planner) explain(c *waveCheck, s verify.State, end time.Time) string {
	return verify.Explain(c.spec.Name, conditionOf(c.spec), c.policy, s, end)
}

// conditionOf is c's condition as shown, a Job's default included.
func conditionOf(c fleetv1alpha1.Check) string {
	if c.Condition == "" && c.Job != nil {
		return verify.DefaultJobCondition
	}
	return c.Condition
}

// waveCheckFailed says which whole-wave check of w failed, if one did.
func (p *planner) waveCheckFailed(w *wave) string {
	for _, c := range w.checks {
		if !c.skipped() && !c.perCluster() && c.wave != nil && verify.Assess(c.policy, *c.wave, time.Time{}) == verify.VerdictFailed {
			return p.explain(c, *c.wave, time.Time{})
		}
	}
	return ""
}

// inconclusive says which check of w is inconclusive (and on which
// cluster), if one is: the wave holds for a person.
func (p *planner) inconclusive(w *wave) string {
	var parts []string
	for _, c := range w.checks {
		if c.skipped() {
			continue
		}
		if !c.perCluster() {
			if c.wave != nil && verify.Assess(c.policy, *c.wave, time.Time{}) == verify.VerdictInconclusive {
				parts = append(parts, "wave "+w.st.Name+": "+p.explain(c, *c.wave, time.Time{}))
			}
			continue
		}
		n, first := 0, ""
		for i, s := range c.states {
			if s != nil && verify.Assess(c.policy, *s, time.Time{}) == verify.VerdictInconclusive {
				if n == 0 {
					first = "cluster " + w.st.Clusters[i] + ": " + p.explain(c, *s, time.Time{})
				}
				n++
			}
		}
		if n > 1 {
			first += fmt.Sprintf(" (and %s more)", clusters(n-1))
		}
		if n > 0 {
			parts = append(parts, first)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("wave %s holds: %s (flotilla rollout rerun-check or skip-check)", w.st.Name, strings.Join(parts, "; "))
}

// checkGate says which checks of w that run through the bake have not
// passed it yet (the bake started at start); "" when all did. A wave does
// not complete before. With no cluster healthy on the target (they all
// failed within the budget, left, or were skipped offline) none has:
// nothing was measured, and a wave its checks did not show good must not
// pass them by default; a person skips them.
func (p *planner) checkGate(w *wave, a assessment, start time.Time) string {
	if len(w.checks) == 0 {
		return ""
	}
	end := start.Add(w.cfg.bakeTime)
	var waiting []string
	for _, c := range w.checks {
		if c.skipped() || !c.bake() {
			continue
		}
		if a.healthy == 0 {
			waiting = append(waiting, c.spec.Name+" (no cluster healthy on the target to measure)")
			continue
		}
		end := c.runEnd(end, w.cfg.bakeTime)
		if !c.perCluster() {
			v := verify.VerdictPending
			if c.wave != nil {
				v = p.checkVerdict(c, *c.wave, end)
			}
			if v != verify.VerdictPassed {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", c.spec.Name, v))
			}
			continue
		}
		notPassed := 0
		for i, o := range w.obs {
			if p.judge(o, w).state != stateHealthy {
				continue
			}
			if s := c.states[i]; s == nil || p.checkVerdict(c, *s, c.windowEnd(*s, end)) != verify.VerdictPassed {
				notPassed++
			}
		}
		if notPassed > 0 {
			waiting = append(waiting, fmt.Sprintf("%s (not passed on %s)", c.spec.Name, clusters(notPassed)))
		}
	}
	return strings.Join(waiting, ", ")
}

// checkVerdict is c's verdict on s for the window that ends at end: a
// measurement passes the window only once the hub's own clock has reached
// its end too. An agent's report may be dated up to MaxClockSkew ahead (its
// clock runs fast, or it lies), and would otherwise pass a window up to that
// much before it ends; the plan wakes at the end to look again.
func (p *planner) checkVerdict(c *waveCheck, s verify.State, end time.Time) verify.Verdict {
	v := verify.Assess(c.policy, s, end)
	if v == verify.VerdictPassed && p.now.Before(end) {
		p.wake(end)
		return verify.VerdictPassing
	}
	return v
}

// holdForCheck turns o into a hold for an inconclusive check: Stalled with
// the reason, recorded once in the history.
func (p *planner) holdForCheck(o outcome, why string) outcome {
	if why == "" {
		return o
	}
	o.message, o.warning = why, true
	o.blocked = &Blocked{Reason: fleetv1alpha1.ReasonCheckInconclusive, Message: why}
	if !p.prevStalledFor(fleetv1alpha1.ReasonCheckInconclusive) {
		o.force, o.reason, o.actor = true, fleetv1alpha1.ReasonCheckInconclusive, ActorHub
	}
	return o
}

// prevStalledFor reports whether the previous status was Stalled for reason.
func (p *planner) prevStalledFor(reason string) bool {
	for _, c := range p.prev.Conditions {
		if c.Type == fleetv1alpha1.ConditionStalled {
			return c.Status == metav1.ConditionTrue && c.Reason == reason
		}
	}
	return false
}

// ---- scheduling and the status ----

// scheduleChecks opens the windows of the checks of the waves at work,
// lists the hub's due ones in the decision (and wakes for the next), and
// writes their states, verdicts and Events into the status.
func (p *planner) scheduleChecks() {
	measuring := !p.st.Phase.IsTerminal() && !rollingBack(p.st.Phase) && p.st.Phase != fleetv1alpha1.RolloutPhaseHalted
	for _, w := range p.waves {
		late := w.checks == nil && p.checked(w)
		if late {
			// It started in this plan. Its checks were validated with
			// every other wave's at the start.
			_ = p.bindWaveChecks(w, false)
		}
		if w.checks == nil {
			continue
		}
		end := p.bakeEnd(w)
		active := measuring && (w.st.Phase == fleetv1alpha1.WavePhaseProgressing || w.st.Phase == fleetv1alpha1.WavePhaseBaking)
		for _, c := range w.checks {
			if active && !c.skipped() {
				p.scheduleCheck(w, c, c.runEnd(end, w.cfg.bakeTime), late)
			}
			c.encode(w.st.Clusters)
			p.summarise(w, c, c.runEnd(end, w.cfg.bakeTime))
		}
	}
}

// bakeEnd is when w's bake ends, if it is baking or completed; zero otherwise.
func (p *planner) bakeEnd(w *wave) time.Time {
	if w.st.BakeStartedAt == nil || (w.st.Phase != fleetv1alpha1.WavePhaseBaking && !completed(w.st.Phase)) {
		return time.Time{}
	}
	return w.st.BakeStartedAt.Add(w.cfg.bakeTime)
}

// inWindow reports whether c measures cluster i of w now.
func (p *planner) inWindow(w *wave, c *waveCheck, i int) bool {
	o := w.obs[i]
	if o == nil || o.Revision != p.in.Spec.TargetRevision {
		return false
	}
	s := p.judge(o, w).state
	baking := w.st.Phase == fleetv1alpha1.WavePhaseBaking
	switch {
	case baking && c.bake():
		return s == stateHealthy
	case !baking && c.progress():
		return o.Online && (s == stateHealthy || s == stateConverging)
	}
	return false
}

// scheduleCheck opens c's window and, for a hub check, lists it when due.
func (p *planner) scheduleCheck(w *wave, c *waveCheck, end time.Time, late bool) {
	var due []int
	var admitted []int
	unsettled := false
	for i := range w.obs {
		if o := w.obs[i]; o != nil && o.Revision == p.in.Spec.TargetRevision {
			admitted = append(admitted, i)
		}
		if !p.inWindow(w, c, i) {
			continue
		}
		// Every cluster in the window is measured at each tick (one
		// lastMeasuredAt for all), while any of them has not passed.
		v := verify.VerdictPending
		if s := c.states[i]; s != nil {
			v = verify.Assess(c.policy, *s, end)
		}
		switch v {
		case verify.VerdictPending, verify.VerdictPassing:
			unsettled = true
			due = append(due, i)
		case verify.VerdictPassed:
			due = append(due, i)
		}
	}
	if !unsettled {
		due = nil
	}
	baking := w.st.Phase == fleetv1alpha1.WavePhaseBaking
	waveOpen := (baking && c.bake()) || (!baking && c.progress() && len(admitted) > 0)
	if c.perCluster() && len(due) > 0 || !c.perCluster() && waveOpen {
		if c.since.IsZero() {
			c.since = p.now
		}
	}
	if !OnHub(c.spec) {
		return
	}
	var at time.Time
	var measure, judged []int
	switch {
	case c.perCluster() && len(due) > 0:
		measure = due
		at = p.now
		if !c.lastAt.IsZero() {
			at = nextTick(c.policy, c.lastAt, end)
		}
	case !c.perCluster() && waveOpen:
		measure = admitted
		// Its samples must name the clusters in its window that are
		// healthy on the target: one still converging may not export
		// yet, and its own health judges it.
		for _, i := range due {
			if p.judge(w.obs[i], w).state == stateHealthy {
				judged = append(judged, i)
			}
		}
		at = p.now
		if c.wave != nil {
			at = verify.Due(c.policy, *c.wave, end)
		}
	}
	if at.IsZero() || len(measure) == 0 {
		return
	}
	if at.After(p.now) {
		p.wake(at)
		return
	}
	// Due now: measured by the controller before it plans again; should
	// that fail, looked at again in a second.
	p.wake(p.now.Add(time.Second))
	if late {
		// Its window opened in this plan: measured from the next.
		return
	}
	task := CheckTask{Wave: w.st.Name, Check: c.spec}
	for _, i := range measure {
		task.Clusters = append(task.Clusters, TaskCluster{Name: w.obs[i].Name, Labels: w.obs[i].Labels})
	}
	for _, i := range judged {
		task.Judged = append(task.Judged, w.obs[i].Name)
	}
	p.measure = append(p.measure, task)
}

// nextTick is when a check last measured at last is due again: an interval
// later, or at the window's end if that comes first.
func nextTick(p verify.Policy, last, end time.Time) time.Time {
	next := last.Add(p.Interval)
	if !end.IsZero() && last.Before(end) && end.Before(next) {
		return end
	}
	return next
}

// summarise sets c's verdict, counts and message, with an Event when the
// verdict changes to Passed, Failed or Inconclusive.
func (p *planner) summarise(w *wave, c *waveCheck, end time.Time) {
	st := c.st
	prev := st.Verdict
	st.Counts = fleetv1alpha1.CheckCounts{}
	switch {
	case c.skipped():
		st.Verdict = fleetv1alpha1.CheckSkipped
		st.Message = fleetv1alpha1.ClipMessage(fmt.Sprintf("check %s skipped for wave %s by %s: %s", c.spec.Name, w.st.Name,
			actorOf(st.Skipped.By), st.Skipped.Message), 1024)
	case !c.perCluster():
		st.Verdict, st.Message = fleetv1alpha1.CheckPending, fmt.Sprintf("check %s: not measured yet", c.spec.Name)
		if c.wave != nil {
			st.Verdict = fleetv1alpha1.CheckVerdict(p.checkVerdict(c, *c.wave, end))
			st.Message = p.explain(c, *c.wave, end)
		}
	default:
		p.summariseClusters(w, c, end)
	}
	st.Message = fleetv1alpha1.ClipMessage(st.Message, 1024)
	if st.Verdict == prev {
		return
	}
	switch st.Verdict {
	case fleetv1alpha1.CheckPassed:
		p.event(EventNormal, ReasonCheckPassed, "wave "+w.st.Name+": "+st.Message)
	case fleetv1alpha1.CheckFailed:
		p.event(EventWarning, ReasonCheckFailed, "wave "+w.st.Name+": "+st.Message)
	}
}

// summariseClusters is summarise for a per-cluster check.
func (p *planner) summariseClusters(w *wave, c *waveCheck, end time.Time) {
	st := c.st
	var firstBad, firstAny string
	inWindow := 0
	for i, s := range c.states {
		relevant := p.inWindow(w, c, i) || (completed(w.st.Phase) && c.bake() && p.judge(w.obs[i], w).state == stateHealthy)
		if s == nil {
			if relevant {
				st.Counts.Pending++
				inWindow++
			}
			continue
		}
		until := c.windowEnd(*s, end)
		v := p.checkVerdict(c, *s, until)
		if !relevant && v != verify.VerdictFailed && v != verify.VerdictInconclusive {
			// Measured earlier; its cluster is out of the window now
			// (failed otherwise, or the bake has not started).
			continue
		}
		inWindow++
		line := "cluster " + w.st.Clusters[i] + ": " + p.explain(c, *s, until)
		switch v {
		case verify.VerdictInconclusive:
			st.Counts.Inconclusive++
			if firstBad == "" || !strings.Contains(firstBad, "inconclusive") {
				firstBad = line
			}
		case verify.VerdictFailed:
			st.Counts.Failed++
			if firstBad == "" {
				firstBad = line
			}
		case verify.VerdictPassed:
			st.Counts.Passed++
		case verify.VerdictPassing:
			st.Counts.Passing++
		default:
			st.Counts.Pending++
		}
		if firstAny == "" {
			firstAny = line
		}
	}
	n := st.Counts
	switch {
	case n.Inconclusive > 0:
		st.Verdict = fleetv1alpha1.CheckInconclusive
	case n.Failed > 0:
		st.Verdict = fleetv1alpha1.CheckFailed
	case inWindow > 0 && n.Passed == int32(inWindow):
		st.Verdict = fleetv1alpha1.CheckPassed
	case n.Passing > 0 || n.Passed > 0:
		st.Verdict = fleetv1alpha1.CheckPassing
	default:
		st.Verdict = fleetv1alpha1.CheckPending
	}
	counts := fmt.Sprintf("%d passed, %d passing, %d pending, %d failed, %d inconclusive", n.Passed, n.Passing, n.Pending, n.Failed, n.Inconclusive)
	switch {
	case firstBad != "":
		st.Message = firstBad + " [" + counts + "]"
	case firstAny != "":
		st.Message = fmt.Sprintf("check %s: %s [%s]", c.spec.Name, st.Verdict, counts)
	default:
		st.Message = fmt.Sprintf("check %s: not measured yet", c.spec.Name)
	}
}
