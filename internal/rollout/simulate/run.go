package simulate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// start is the simulated time of the first plan.
var start = time.Date(2031, time.January, 1, 0, 0, 0, 0, time.UTC)

// Start is the simulated time of the first plan; scripts count from it.
func Start() time.Time { return start }

// maxPlans stops a run that would never end.
const maxPlans = 100000

// Options tune a run.
type Options struct {
	// Check verifies the engine's invariants at every step (see Check) and
	// stops the run at the first violation.
	Check bool
	// NoTrace skips the trace, for benchmarks.
	NoTrace bool
}

// Result is what a run produced.
type Result struct {
	// Trace has a line per step that changed something, then a summary.
	Trace string
	// Status is the Rollout's last status.
	Status fleetv1alpha1.RolloutStatus
	// Plans is how many times Plan ran; Admissions how many it asked for.
	Plans, Admissions int
	// Elapsed is the simulated time from the start to the last plan.
	Elapsed time.Duration
	// Clusters is the fleet as last observed, by name.
	Clusters []rollout.ClusterObservation
}

// run is one simulation in progress.
type run struct {
	s       Scenario
	opts    Options
	fleet   *fleet
	spec    fleetv1alpha1.RolloutSpec
	status  fleetv1alpha1.RolloutStatus
	freeze  *rollout.FreezeObservation
	superBy string
	script  []Step
	check   *checker
	trace   tracer
	res     Result
}

// Run plays a scenario to its end: a terminal phase, a quiet fleet with
// nothing left to happen, or the scenario's until.
func Run(s Scenario, opts Options) (Result, error) {
	s.Script = append([]Step(nil), s.Script...)
	if err := s.defaults(); err != nil {
		return Result{}, fmt.Errorf("checking scenario: %w", err)
	}
	f, err := newFleet(s, start)
	if err != nil {
		return Result{}, err
	}
	r := &run{s: s, opts: opts, fleet: f, spec: *s.Rollout.DeepCopy(), script: s.Script,
		trace: tracer{mode: s.Trace, off: opts.NoTrace}}
	if opts.Check {
		r.check = newChecker(s)
	}
	if err := r.loop(); err != nil {
		return r.finish(), err
	}
	return r.finish(), nil
}

func (r *run) loop() error {
	now := start
	for r.res.Plans < maxPlans {
		actions, err := r.runScript(now)
		if err != nil {
			return err
		}
		r.fleet.advance(now)
		in := rollout.Input{
			Now: now, Strategy: r.s.Strategy, Spec: r.spec, Status: r.status,
			Clusters: r.fleet.observe(), Freeze: r.freeze, SupersededBy: r.superBy,
			StartedBy: or(r.s.StartedBy, rollout.ActorHub), RollbackBlocked: rollbackBlocked(r.spec),
			PromiseChecks: r.s.PromiseChecks, SkipChecks: r.s.SkipChecks,
		}
		d, err := rollout.Plan(in)
		if err != nil {
			return fmt.Errorf("plan at %s: %w", since(now), err)
		}
		if len(d.Measure) > 0 {
			// As the controller does: measure what is due, plan again.
			in.Measurements = r.fleet.measure(d.Measure, now)
			if d, err = rollout.Plan(in); err != nil {
				return fmt.Errorf("plan with measurements at %s: %w", since(now), err)
			}
		}
		r.res.Plans++
		r.res.Elapsed = now.Sub(start)
		if r.check != nil {
			if err := r.check.step(in, d); err != nil {
				return fmt.Errorf("invariant broken at %s: %w", since(now), err)
			}
		}
		r.trace.step(now, actions, d)
		for _, a := range d.Admit {
			r.fleet.admit(a, now)
		}
		r.res.Admissions += len(d.Admit)
		r.status = d.Status
		if d.Status.Phase.IsTerminal() {
			return nil
		}
		next := r.next(now, d.RequeueAfter)
		if next.IsZero() {
			r.trace.note(now, "quiet: nothing left to happen")
			return nil
		}
		if next.Sub(start) > r.s.Until.Duration {
			r.trace.note(now, "stopped: until "+r.s.Until.Duration.String()+" reached")
			return nil
		}
		now = next
	}
	return fmt.Errorf("no end after %d plans", maxPlans)
}

// next is when the controller would reconcile again: the next change in the
// fleet, the next scripted step or the requeue, but at least resync later.
func (r *run) next(now time.Time, requeue time.Duration) time.Time {
	next := r.fleet.next(now)
	if len(r.script) > 0 {
		next = earliest(next, start.Add(r.script[0].At.Duration))
	}
	if requeue > 0 {
		next = earliest(next, now.Add(requeue))
	}
	if next.IsZero() {
		return next
	}
	return later(next, now.Add(r.s.Fleet.Resync.Duration))
}

// runScript applies every scripted step due by now and describes them.
func (r *run) runScript(now time.Time) ([]string, error) {
	var done []string
	for len(r.script) > 0 && !start.Add(r.script[0].At.Duration).After(now) {
		st := r.script[0]
		r.script = r.script[1:]
		desc, err := r.apply(st, now)
		if err != nil {
			return nil, fmt.Errorf("script step at %s: %w", st.At.Duration, err)
		}
		done = append(done, desc)
	}
	return done, nil
}

// apply applies one scripted step, as a person or the fleet would.
func (r *run) apply(st Step, now time.Time) (string, error) {
	at := ptr(metav1.NewTime(now.Truncate(time.Second)))
	rec := fleetv1alpha1.ChangeRecord{By: st.By, At: at, Message: st.Message}
	switch {
	case st.Do != "":
		names := st.Clusters
		if st.Cluster != "" {
			names = append([]string{st.Cluster}, names...)
		}
		for _, n := range names {
			if err := r.fleet.act(n, st.Do, now); err != nil {
				return "", err
			}
		}
		return fmt.Sprintf("%s: %s", strings.Join(names, ", "), st.Do), nil
	case st.Approve != "":
		r.spec.Approvals = append(r.spec.Approvals, fleetv1alpha1.Approval{Wave: st.Approve, ChangeRecord: rec})
		return fmt.Sprintf("approve %s (%s)", st.Approve, or(st.By, "?")), nil
	case st.DesiredState != "":
		r.spec.DesiredState, r.spec.StateChange = st.DesiredState, &rec
		return fmt.Sprintf("desiredState %s (%s)", st.DesiredState, or(st.By, "?")), nil
	case st.Rollback != nil:
		rb := *st.Rollback
		rb.At = at
		r.spec.Rollback = &rb
		return fmt.Sprintf("rollback to %s (%s)", or(rb.ToRevision, "fromRevision"), or(rb.By, "?")), nil
	case st.Freeze != nil:
		r.freeze = &rollout.FreezeObservation{Name: st.Freeze.Name, Action: or(st.Freeze.Action, fleetv1alpha1.FreezeHalt),
			Reason: st.Freeze.Reason, By: st.Freeze.By}
		return fmt.Sprintf("freeze %s %s (%s): %s", st.Freeze.Name, r.freeze.Action, or(st.Freeze.By, "?"), st.Freeze.Reason), nil
	case st.Unfreeze:
		r.freeze = nil
		return "unfreeze", nil
	case st.SupersededBy != "":
		r.superBy = st.SupersededBy
		return "superseded by " + st.SupersededBy, nil
	case st.RerunCheck != nil || st.SkipCheck != nil:
		a := fleetv1alpha1.CheckAction{Action: fleetv1alpha1.CheckRerun, ChangeRecord: rec}
		ref := st.RerunCheck
		if ref == nil {
			a.Action, ref = fleetv1alpha1.CheckSkip, st.SkipCheck
		}
		a.Wave, a.Check = ref.Wave, ref.Check
		r.spec.CheckActions = slices.DeleteFunc(r.spec.CheckActions, func(o fleetv1alpha1.CheckAction) bool {
			return o.Wave == a.Wave && o.Check == a.Check && o.Action == a.Action
		})
		r.spec.CheckActions = append(r.spec.CheckActions, a)
		return fmt.Sprintf("%s check %s of wave %s (%s)", strings.ToLower(string(a.Action)), a.Check, a.Wave, or(st.By, "?")), nil
	case st.Mode == fleetv1alpha1.UpdateModeImmediate || st.Mode == fleetv1alpha1.UpdateModeProgressive:
		r.spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: st.Mode, Reason: st.Message}
		r.spec.PolicyChange = &rec
		return fmt.Sprintf("mode %s (%s)", st.Mode, or(st.By, "?")), nil
	}
	return "", fmt.Errorf("step does nothing")
}

func (r *run) finish() Result {
	r.res.Status = r.status
	r.res.Clusters = append([]rollout.ClusterObservation(nil), r.fleet.observe()...)
	if !r.opts.NoTrace {
		r.trace.summary(r.status, r.res)
		r.res.Trace = r.trace.b.String()
	}
	return r.res
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// MissingRevisionPrefix starts the revision names that do not exist in a
// scenario: a rollback to one is blocked, as the hub blocks a typo.
const MissingRevisionPrefix = "missing-"

// rollbackBlocked is what the hub observes of a rollback request's revision.
func rollbackBlocked(spec fleetv1alpha1.RolloutSpec) *rollout.Blocked {
	if rb := spec.Rollback; rb != nil && strings.HasPrefix(rb.ToRevision, MissingRevisionPrefix) {
		return &rollout.Blocked{Reason: fleetv1alpha1.ReasonRevisionNotFound, Message: "revision " + rb.ToRevision + " not found"}
	}
	return nil
}
