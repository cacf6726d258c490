package verify

import (
	"fmt"
	"strings"
	"time"
)

// Outcome is what one measurement said.
type Outcome string

const (
	// Passed: the condition held.
	Passed Outcome = "Passed"
	// Failed: the condition did not hold.
	Failed Outcome = "Failed"
	// Inconclusive: no judgement: the endpoint could not be reached, the
	// query returned no data, or the condition could not be evaluated.
	Inconclusive Outcome = "Inconclusive"
)

// Measurement is one judged result of a check.
type Measurement struct {
	At      time.Time
	Outcome Outcome
	// Value is the result, printable (Describe), for people.
	Value string
	// Message says why a measurement is Inconclusive (never a credential).
	Message string
}

// Policy is how a check is measured and when its measurements add up to a
// verdict.
type Policy struct {
	// Interval is the time between measurements (> 0).
	Interval time.Duration
	// FailureLimit is how many Failed measurements are tolerated: one more
	// fails the check. 0 fails it on the first.
	FailureLimit int32
	// InconclusiveLimit is how many Inconclusive measurements in a row are
	// tolerated: one more holds the wave for a person.
	InconclusiveLimit int32
}

// Validate says what is wrong with p, if anything.
func (p Policy) Validate() error {
	switch {
	case p.Interval <= 0:
		return fmt.Errorf("interval %s: must be positive", p.Interval)
	case p.FailureLimit < 0:
		return fmt.Errorf("failureLimit %d: must not be negative", p.FailureLimit)
	case p.InconclusiveLimit < 0:
		return fmt.Errorf("inconclusiveLimit %d: must not be negative", p.InconclusiveLimit)
	}
	return nil
}

// State is what a check's measurements add up to, kept small enough to store
// per cluster in a Rollout's status: counts, not a history.
type State struct {
	// Since is when the check started measuring (its window's start).
	Since time.Time
	// Measurements, Failures and Inconclusives count what was recorded;
	// InconclusiveRun counts the Inconclusive ones since the last judged one.
	Measurements, Failures, Inconclusives, InconclusiveRun int32
	// Last is the latest measurement; nil before the first.
	Last *Measurement
	// Decisive is the measurement that failed the check or held it: the
	// verdict's evidence, kept when later measurements come in.
	Decisive *Measurement
}

// Start returns the State of a check that starts measuring at t: also what a
// person's re-run sets.
func Start(t time.Time) State { return State{Since: t} }

// Record folds m into s. A check whose verdict is already Failed or
// Inconclusive keeps it (and its evidence): only a re-run clears it.
func Record(p Policy, s State, m Measurement) State {
	if v := s.verdict(p); v == VerdictFailed || v == VerdictInconclusive {
		return s
	}
	s.Measurements++
	last := m
	s.Last = &last
	switch m.Outcome {
	case Passed:
		s.InconclusiveRun = 0
	case Failed:
		s.InconclusiveRun = 0
		s.Failures++
	default:
		s.Inconclusives++
		s.InconclusiveRun++
	}
	if v := s.verdict(p); v == VerdictFailed || v == VerdictInconclusive {
		s.Decisive = &last
	}
	return s
}

// Verdict is what a check says about its window.
type Verdict string

const (
	// VerdictPending: not measured since the window started.
	VerdictPending Verdict = "Pending"
	// VerdictPassing: measured, nothing over a limit, the window not yet
	// measured through.
	VerdictPassing Verdict = "Passing"
	// VerdictPassed: a passing measurement at or after the window's end and
	// nothing over a limit.
	VerdictPassed Verdict = "Passed"
	// VerdictFailed: more Failed measurements than the failure limit.
	VerdictFailed Verdict = "Failed"
	// VerdictInconclusive: more Inconclusive measurements in a row than the
	// inconclusive limit: the wave holds for a person.
	VerdictInconclusive Verdict = "Inconclusive"
)

// verdict is s's verdict without a window: Failed, Inconclusive, or "".
func (s State) verdict(p Policy) Verdict {
	switch {
	case s.Failures > p.FailureLimit:
		return VerdictFailed
	case s.InconclusiveRun > p.InconclusiveLimit:
		return VerdictInconclusive
	}
	return ""
}

// Assess is s's verdict on the window that ends at end: the check has passed
// it only with a Passed measurement taken at or after end. A zero end is an
// open window (checks that run while clusters progress): it is never Passed,
// only Passing.
func Assess(p Policy, s State, end time.Time) Verdict {
	if v := s.verdict(p); v != "" {
		return v
	}
	if s.Last == nil {
		return VerdictPending
	}
	if !end.IsZero() && s.Last.Outcome == Passed && !s.Last.At.Before(end) {
		return VerdictPassed
	}
	return VerdictPassing
}

// Due is when s's next measurement should be taken: at Since, then every
// Interval after it, and once exactly at end (the window's end, zero for
// none) so that a window is measured through without waiting for the next
// tick. A check whose verdict is settled (Passed, Failed, Inconclusive) is
// due never: the zero time.
func Due(p Policy, s State, end time.Time) time.Time {
	switch Assess(p, s, end) {
	case VerdictPassed, VerdictFailed, VerdictInconclusive:
		return time.Time{}
	}
	if s.Last == nil {
		return s.Since
	}
	next := s.Last.At.Add(p.Interval)
	if !end.IsZero() && s.Last.At.Before(end) && end.Before(next) {
		return end
	}
	return next
}

// Explain is one line for people on s's verdict: for a failed or held
// check, what was measured, against which condition, and when.
func Explain(check string, condition string, p Policy, s State, end time.Time) string {
	v := Assess(p, s, end)
	ev := s.Decisive
	if ev == nil {
		ev = s.Last
	}
	if ev == nil && (v == VerdictFailed || v == VerdictInconclusive) {
		// Counts without a measurement: an agent writes its states itself.
		return fmt.Sprintf("check %s is %s: %d of %d measurements failed, %d in a row inconclusive, with no measurement reported",
			check, strings.ToLower(string(v)), s.Failures, s.Measurements, s.InconclusiveRun)
	}
	switch v {
	case VerdictFailed:
		return fmt.Sprintf("check %s failed: %s does not satisfy %s (at %s; %d of %d measurements failed, %d allowed)",
			check, ev.Value, condition, ev.At.UTC().Format(time.RFC3339), s.Failures, s.Measurements, p.FailureLimit)
	case VerdictInconclusive:
		return fmt.Sprintf("check %s is inconclusive: %s (at %s; %d in a row, %d allowed); re-run it or skip it for this wave",
			check, ev.Message, ev.At.UTC().Format(time.RFC3339), s.InconclusiveRun, p.InconclusiveLimit)
	case VerdictPending:
		return fmt.Sprintf("check %s: not measured yet", check)
	}
	return fmt.Sprintf("check %s: %s, last %s at %s (%d measurements)",
		check, v, ev.Value, ev.At.UTC().Format(time.RFC3339), s.Measurements)
}
