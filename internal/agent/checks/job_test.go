package checks

import (
	"slices"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// jobRunner plays the agent's executor for Job checks over many looks: it
// creates a task's Job when missing, judges it (with the outcome of the
// Job's run number) once it ran for jobRuns, and deletes what Begin cleans up.
type jobRunner struct {
	states  []fleetv1alpha1.WorkCheckStatus
	jobs    []JobRef
	created map[string]time.Time // by Job name, every Job ever created
	order   []string
	outcome func(run int) verify.Outcome
	writes  int // looks whose states changed: Work status writes
}

const jobRuns = 3 * time.Second

// run looks at the Work from `from` to `to`: when End says, and at least
// every 7 seconds (the agent looks for other reasons too).
func (r *jobRunner) run(t *testing.T, l Look, from, to time.Duration) {
	t.Helper()
	for now := from; now <= to; {
		l.Now, l.Healthy, l.States, l.Jobs = t0.Add(now), true, r.states, r.jobs
		b := Begin(l)
		for _, j := range b.Cleanup {
			r.jobs = slices.DeleteFunc(r.jobs, func(x JobRef) bool { return x == j })
		}
		var results []Result
		for _, task := range b.Tasks {
			result := task.Result()
			if task.Job == nil {
				t.Fatalf("a Job check without a Job: %+v", task)
			}
			name := task.Job.Name
			at, exists := r.created[name]
			switch {
			case !exists:
				r.created[name] = l.Now
				r.order = append(r.order, name)
				r.jobs = append(r.jobs, *task.Job)
				result.PollAfter = MinJobPoll
			case l.Now.Sub(at) < jobRuns:
				result.PollAfter = MinJobPoll
			default:
				r.jobs = slices.DeleteFunc(r.jobs, func(x JobRef) bool { return x.Name == name })
				result.Measurement = &verify.Measurement{At: l.Now, Outcome: r.outcome(len(r.order))}
			}
			results = append(results, result)
		}
		e := End(l, b, results)
		if e.Changed {
			r.writes++
		}
		r.states = e.States
		next := now + 7*time.Second
		if !e.NextLook.IsZero() && e.NextLook.Sub(t0) < next {
			next = max(e.NextLook.Sub(t0), now+time.Millisecond)
		}
		now = next
	}
}

// A test Job is created once per check, run and revision: its success is
// the result until a person re-runs the check or a new revision arrives,
// whatever the interval and however often the agent looks.
func TestJobRunsOncePerRunAndRevision(t *testing.T) {
	smoke := check("smoke", fleetv1alpha1.CheckDuringBake, jobC(""))
	r := &jobRunner{created: map[string]time.Time{}, outcome: func(int) verify.Outcome { return verify.Passed }}
	l := look(0, smoke)
	r.run(t, l, 5*time.Second, time.Hour)
	if len(r.order) != 1 {
		t.Fatalf("%d Jobs created in an hour with a 10s interval, want 1", len(r.order))
	}
	if s := r.states[0]; s.Measurements != 1 || s.Last == nil || s.Last.Outcome != string(verify.Passed) || len(r.jobs) != 0 {
		t.Errorf("state %+v, jobs left %v", s, r.jobs)
	}
	if r.writes != 2 { // the start, then the result
		t.Errorf("%d status writes, want 2", r.writes)
	}

	// A person's re-run: one more Job.
	smoke.Run = 1
	l = look(0, smoke)
	r.run(t, l, time.Hour, 2*time.Hour)
	// A new revision: one more.
	l.Revision = "rev-2"
	r.run(t, l, 2*time.Hour, 3*time.Hour)
	if len(r.order) != 3 {
		t.Errorf("%d Jobs created, want one per run and revision (3)", len(r.order))
	}
}

// A failed Job is the result too when failureLimit allows none; with a
// failureLimit it runs again after the interval until it passes or fails
// once too often.
func TestJobFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   int32
		outcome func(run int) verify.Outcome
		jobs    int
		verdict verify.Verdict
	}{
		{"failed, none allowed", 0, outcomes(verify.Failed), 1, verify.VerdictFailed},
		{"failed twice, one allowed", 1, outcomes(verify.Failed), 2, verify.VerdictFailed},
		{"failed, then passed", 1, outcomes(verify.Failed, verify.Passed), 2, verify.VerdictPassing},
		{"inconclusive (not judged), then passed", 0, outcomes(verify.Inconclusive, verify.Passed), 2, verify.VerdictPassing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			smoke := check("smoke", fleetv1alpha1.CheckDuringBake, jobC(""))
			smoke.FailureLimit = tc.limit
			r := &jobRunner{created: map[string]time.Time{}, outcome: tc.outcome}
			r.run(t, look(0, smoke), 5*time.Second, time.Hour)
			if len(r.order) != tc.jobs {
				t.Errorf("%d Jobs created, want %d", len(r.order), tc.jobs)
			}
			if v := verify.Assess(PolicyOf(smoke), toVerify(r.states[0].CheckState), time.Time{}); v != tc.verdict {
				t.Errorf("verdict %s, want %s: %+v", v, tc.verdict, r.states[0])
			}
		})
	}
}

// outcomes are the outcomes of the Jobs in the order they are created, the
// last one repeated.
func outcomes(o ...verify.Outcome) func(int) verify.Outcome {
	return func(n int) verify.Outcome { return o[min(n, len(o))-1] }
}
