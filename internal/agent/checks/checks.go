// Package checks decides what the agent does with a Work's verification
// checks (issue 17): which of spec.checks have started, which are due for a
// measurement, which test Jobs to look at, create or delete, how a
// measurement changes a check's state, and what status.checks reports. It
// is PURE: no client, no I/O, time passed in. The agent observes (the Work,
// whether its revision is applied and healthy, the live Job), asks here,
// measures (internal/measure) and writes status.
//
// The agent measures and records; the hub judges windows. A check's state
// is counts (verify.State): the agent measures each started check every
// interval (verify.Due over an open window) while the check is listed on
// the Work, and reports the state; the hub reads it with verify.Assess
// against the bake's end, which only it knows, and stops the measurements
// by taking the check off the Work. Failed and Inconclusive verdicts stick
// (verify.Record); a new run or a new revision starts a fresh state.
package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// Labels on the test Jobs the agent creates. They are not the Work's
// fleet.flotilla.dev/work label: a Job is no manifest of the Work, and
// nothing but the check executor may ever claim or prune it.
const (
	// LabelCheckWork is the Work's label value (fleetv1alpha1.WorkLabelValue).
	LabelCheckWork = fleetv1alpha1.Group + "/check-work"
	// LabelCheck is the check's name.
	LabelCheck = fleetv1alpha1.Group + "/check"
	// LabelCheckRun is the check's run.
	LabelCheckRun = fleetv1alpha1.Group + "/check-run"
)

// Defaults and bounds.
const (
	// DefaultInterval is a check's interval when the Work does not say
	// (the API defaults it to the same).
	DefaultInterval = 30 * time.Second
	// DefaultJobTimeout is a Job check's timeout when the Work does not say.
	DefaultJobTimeout = 10 * time.Minute
	// DefaultHTTPTimeout is an HTTP check's timeout when the Work does not say.
	DefaultHTTPTimeout = 5 * time.Second
	// Slack: a check due within it is measured in the same look as one due
	// now, so that checks due together cost one status write.
	Slack = time.Second
	// JobGrace is how long past its timeout (activeDeadlineSeconds, which
	// the Job controller enforces) a Job may stay unfinished before the
	// agent counts it failed itself.
	JobGrace = time.Minute
	// MinJobPoll and MaxJobPoll bound how often a running Job is looked at.
	MinJobPoll = time.Second
	MaxJobPoll = 15 * time.Second
	// MaxValue and MaxMessage are the API's bounds on a measurement.
	MaxValue   = 256
	MaxMessage = 512
)

// Look is what the agent observed of one Work, as far as its checks go.
type Look struct {
	Now time.Time
	// Work is the Work's name.
	Work string
	// Revision is spec.revision; Applied: it is applied in full
	// (status.appliedRevision), since AppliedAt; Healthy: applied and every
	// object is healthy.
	Revision  string
	Applied   bool
	AppliedAt time.Time
	Healthy   bool
	// Instance: the Work is a Promise instance's (spec.subject.instance);
	// Scope is its spec.scope, the tenant's slice of the member.
	Instance bool
	Scope    *fleetv1alpha1.WorkScope
	// Checks are spec.checks.
	Checks []fleetv1alpha1.WorkCheck
	// States are the checks' states as last recorded (the agent's local
	// record, or status.checks after the state directory was lost).
	States []fleetv1alpha1.WorkCheckStatus
	// Jobs are the test Jobs the agent created and has not deleted yet.
	Jobs []JobRef
}

// JobRef names a test Job on the member.
type JobRef struct {
	Check     string `json:"check"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID is the Job's, recorded once created: only a Job with it is the
	// agent's to judge and delete ("" while the create is under way).
	UID string `json:"uid,omitempty"`
}

func (j JobRef) String() string { return j.Namespace + "/" + j.Name }

// Task is one check to measure in this look.
type Task struct {
	Check  fleetv1alpha1.WorkCheck
	Kind   verify.Kind
	Policy verify.Policy
	// Refused says why the check cannot be measured on this member, for
	// good: the executor records it (Refuse) without any I/O.
	Refused string
	// Job is a Job check's Job for this measurement: look for it, create it
	// when missing (recording it in Look.Jobs first), judge it when done.
	Job *JobRef
	// Labels go on the Job.
	Labels map[string]string
}

// Begun is what a look at the checks does first.
type Begun struct {
	// States are the started checks' states, in spec order, after fresh
	// starts (a new check, run or revision) and dropping the states of
	// checks no longer listed.
	States []fleetv1alpha1.WorkCheckStatus
	// Tasks are the checks to measure now.
	Tasks []Task
	// Cleanup are recorded Jobs no task needs: of a check that ended, was
	// re-run, or whose revision changed. Delete them (and forget them).
	Cleanup []JobRef
}

// Key names a check on a Work: two Rollouts (a Promise's and an
// instance's own) may each list a check of one name, measured apart.
type Key struct{ Rollout, Name string }

// KeyOf is c's key.
func KeyOf(c fleetv1alpha1.WorkCheck) Key { return Key{c.Rollout, c.Name} }

// StateKey is the key of the check s reports on.
func StateKey(s fleetv1alpha1.WorkCheckStatus) Key { return Key{s.Rollout, s.Name} }

// Begin decides which checks start, which are due, and which Jobs go.
func Begin(l Look) Begun {
	var b Begun
	old := map[Key]fleetv1alpha1.WorkCheckStatus{}
	for _, s := range l.States {
		old[StateKey(s)] = s
	}
	needed := map[string]bool{}
	for _, c := range l.Checks {
		kind, ok := KindOf(c)
		if !ok {
			continue // measured by the hub
		}
		s, known := old[KeyOf(c)]
		if known && (s.Run != c.Run || s.Revision != l.Revision) {
			known = false // a person's re-run, or a new revision: a fresh state
		}
		if !known {
			since, started := startAt(c, kind, l)
			if !started {
				continue
			}
			s = fleetv1alpha1.WorkCheckStatus{Rollout: c.Rollout, Name: c.Name, Run: c.Run, Revision: l.Revision, CheckState: toAPI(verify.Start(since))}
		}
		b.States = append(b.States, s)
		p := PolicyOf(c)
		due := nextDue(p, kind, s.CheckState)
		if due.IsZero() || due.After(l.Now.Add(Slack)) {
			continue
		}
		t := Task{Check: c, Kind: kind, Policy: p}
		t.Refused = refusal(c, kind, l)
		if kind == verify.KindJob && t.Refused == "" {
			t.Job = &JobRef{Check: c.Name, Namespace: JobNamespace(c), Name: JobName(l.Work, c, l.Revision, s.Measurements)}
			t.Labels = map[string]string{
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
				LabelCheckWork:               fleetv1alpha1.WorkLabelValue(l.Work),
				LabelCheck:                   c.Name,
				LabelCheckRun:                strconv.Itoa(int(c.Run)),
			}
			needed[t.Job.String()] = true
		}
		b.Tasks = append(b.Tasks, t)
	}
	for _, j := range l.Jobs {
		if !needed[j.String()] {
			b.Cleanup = append(b.Cleanup, j)
		}
	}
	return b
}

// KindOf is what a check measures, and whether the agent measures it (a
// metric check placed on the hub is the hub's).
func KindOf(c fleetv1alpha1.WorkCheck) (verify.Kind, bool) {
	switch {
	case c.Metric != nil:
		return verify.KindMetric, c.Metric.Placement == fleetv1alpha1.CheckOnAgent
	case c.HTTP != nil:
		return verify.KindHTTP, true
	case c.Job != nil:
		return verify.KindJob, true
	}
	return "", false
}

// startAt says whether a check without a state starts now, and since when:
// a test Job, and a check measured through the bake, once the Work's
// revision is applied and healthy; a check measured while clusters progress
// (Progress, Always) from the apply of its revision.
func startAt(c fleetv1alpha1.WorkCheck, kind verify.Kind, l Look) (time.Time, bool) {
	if kind != verify.KindJob && (c.When == fleetv1alpha1.CheckDuringProgress || c.When == fleetv1alpha1.CheckAlways) {
		if !l.Applied {
			return time.Time{}, false
		}
		return l.AppliedAt, true
	}
	return l.Now, l.Healthy
}

// PolicyOf is a check's measurement policy, its defaults applied.
func PolicyOf(c fleetv1alpha1.WorkCheck) verify.Policy {
	p := verify.Policy{Interval: DefaultInterval, FailureLimit: max(c.FailureLimit, 0), InconclusiveLimit: max(c.InconclusiveLimit, 0)}
	if c.Interval != nil && c.Interval.Duration > 0 {
		p.Interval = c.Interval.Duration
	}
	return p
}

// JobNamespace is where a Job check's Job runs.
func JobNamespace(c fleetv1alpha1.WorkCheck) string {
	if c.Job != nil && c.Job.Namespace != "" {
		return c.Job.Namespace
	}
	return fleetv1alpha1.PlatformNamespace
}

// JobTimeout is how long a Job check's Job may run.
func JobTimeout(c fleetv1alpha1.WorkCheck) time.Duration {
	if c.Job != nil && c.Job.Timeout != nil && c.Job.Timeout.Duration > 0 {
		return c.Job.Timeout.Duration
	}
	return DefaultJobTimeout
}

// HTTPTimeout is how long an HTTP check's request may take.
func HTTPTimeout(c fleetv1alpha1.WorkCheck) time.Duration {
	if c.HTTP != nil && c.HTTP.Timeout != nil && c.HTTP.Timeout.Duration > 0 {
		return c.HTTP.Timeout.Duration
	}
	return DefaultHTTPTimeout
}

// CredentialsRef is the Secret a metric or HTTP check authenticates with;
// nil for none.
func CredentialsRef(c fleetv1alpha1.WorkCheck) *fleetv1alpha1.SecretReference {
	switch {
	case c.Metric != nil:
		return c.Metric.CredentialsRef
	case c.HTTP != nil:
		return c.HTTP.CredentialsRef
	}
	return nil
}

// refusal says why a check may not be measured on this member at all, or "".
// A test Job is an object the agent creates on the member: for an instance's
// Work it must lie within the Work's scope, like the Work's own objects.
// Credentials are read only from the platform namespace, never from a
// tenant's.
func refusal(c fleetv1alpha1.WorkCheck, kind verify.Kind, l Look) string {
	if ref := CredentialsRef(c); ref != nil && ref.Namespace != "" && ref.Namespace != fleetv1alpha1.PlatformNamespace {
		return fmt.Sprintf("credentials Secret %s/%s: an agent reads check credentials only from %s on the member",
			ref.Namespace, ref.Name, fleetv1alpha1.PlatformNamespace)
	}
	if kind != verify.KindJob {
		return ""
	}
	ns := JobNamespace(c)
	if !l.Instance && l.Scope == nil {
		return ""
	}
	switch {
	case l.Scope == nil:
		return fmt.Sprintf("test Job in namespace %s refused: the instance's Work has no scope (upgrade the hub)", ns)
	case !slices.Contains(l.Scope.Namespaces, ns):
		allowed := l.Scope.Namespaces[0]
		if len(l.Scope.Namespaces) > 1 {
			allowed += "; also " + strings.Join(l.Scope.Namespaces[1:], ", ")
		}
		return fmt.Sprintf("test Job in namespace %s refused: outside the Work's scope: namespace %s is neither the instance's (%s) nor one the Promise's output.namespaces allow",
			ns, ns, allowed)
	}
	return ""
}

// JobName is the deterministic name of the Job of a check's measurement
// number n (its count of measurements so far) on a revision: a restarted
// agent finds the Job it created, and a new run, revision, template or
// measurement, or another Rollout's check of the same name, gets a new
// Job, never an earlier (or the other) one's result.
func JobName(work string, c fleetv1alpha1.WorkCheck, revision string, n int32) string {
	spec, _ := json.Marshal(c.Check) // of plain fields: never fails
	sum := sha256.Sum256([]byte(strings.Join([]string{work, c.Rollout, c.Name, strconv.Itoa(int(c.Run)), revision,
		strconv.Itoa(int(n)), string(spec)}, "\x00")))
	name := c.Name
	if len(name) > 30 {
		name = strings.TrimRight(name[:30], "-")
	}
	return "flotilla-check-" + name + "-" + hex.EncodeToString(sum[:])[:10]
}

// Result is what the executor found for a task.
type Result struct {
	// Rollout and Name are the check's (Key).
	Rollout, Name string
	// Measurement is the measurement taken; nil while a Job runs.
	Measurement *verify.Measurement
	// Permanent: the measurement says the check cannot be measured here
	// until a person changes it (refused, an invalid condition or Job
	// template): it holds the check at once.
	Permanent bool
	// PollAfter is when to look at a running Job again.
	PollAfter time.Duration
}

// Result is t's result, still empty.
func (t Task) Result() Result { return Result{Rollout: t.Check.Rollout, Name: t.Check.Name} }

// Ended is what a look at the checks does last.
type Ended struct {
	// States are the states to keep and report.
	States []fleetv1alpha1.WorkCheckStatus
	// Changed: States differ from Look.States (save them; the status
	// changes).
	Changed bool
	// NextLook is when a check is due again (or a running Job is to be
	// looked at); zero when none.
	NextLook time.Time
}

// End folds the results of the tasks into the states and says when to look
// again.
func End(l Look, b Begun, results []Result) Ended {
	byKey := map[Key]Result{}
	for _, r := range results {
		byKey[Key{r.Rollout, r.Name}] = r
	}
	policies := map[Key]verify.Policy{}
	kinds := map[Key]verify.Kind{}
	for _, c := range l.Checks {
		policies[KeyOf(c)] = PolicyOf(c)
		kinds[KeyOf(c)], _ = KindOf(c)
	}
	e := Ended{States: make([]fleetv1alpha1.WorkCheckStatus, 0, len(b.States))}
	for _, s := range b.States {
		p := policies[StateKey(s)]
		r, measured := byKey[StateKey(s)]
		if measured && r.Measurement != nil {
			m := clipMeasurement(*r.Measurement)
			vs := toVerify(s.CheckState)
			if r.Permanent {
				vs = hold(p, vs, m)
			} else {
				vs = verify.Record(p, vs, m)
			}
			s.CheckState = toAPI(vs)
		}
		e.States = append(e.States, s)
		next := nextDue(p, kinds[StateKey(s)], s.CheckState)
		if measured && r.Measurement == nil && r.PollAfter > 0 {
			next = l.Now.Add(r.PollAfter)
		}
		if !next.IsZero() && (e.NextLook.IsZero() || next.Before(e.NextLook)) {
			e.NextLook = next
		}
	}
	if len(e.States) == 0 {
		e.States = nil
	}
	e.Changed = !equalStates(l.States, e.States)
	return e
}

// nextDue is when a check's state s is to be measured next (verify.Due);
// zero for never. A test Job that passed is the check's result for its run
// and revision: it is not run again until a re-run or a new revision starts
// a fresh state (a failed one runs again only while failureLimit allows).
func nextDue(p verify.Policy, kind verify.Kind, s fleetv1alpha1.CheckState) time.Time {
	if kind == verify.KindJob && s.Last != nil && s.Last.Outcome == string(verify.Passed) {
		return time.Time{}
	}
	return verify.Due(p, toVerify(s), time.Time{})
}

// hold records a measurement that holds the check at once: retrying cannot
// help, so it does not wait for inconclusiveLimit more.
func hold(p verify.Policy, s verify.State, m verify.Measurement) verify.State {
	s = verify.Record(p, s, m)
	if verify.Assess(p, s, time.Time{}) != verify.VerdictInconclusive && verify.Assess(p, s, time.Time{}) != verify.VerdictFailed {
		s.InconclusiveRun = p.InconclusiveLimit + 1
		s.Decisive = s.Last
	}
	return s
}

// Refuse is the measurement of a refused task.
func Refuse(t Task, now time.Time) Result {
	r := t.Result()
	r.Permanent, r.Measurement = true, &verify.Measurement{
		At: now, Outcome: verify.Inconclusive, Message: t.Refused + " (a person must change the check)"}
	return r
}

// JobObservation is what the agent saw of a Job check's Job.
type JobObservation struct {
	// Exists: the Job is on the member; Created is its creation time.
	Exists  bool
	Created time.Time
	// Done: it completed or failed; Succeeded which. Failure is its Failed
	// condition's reason and message.
	Done, Succeeded bool
	Failure         string
}

// JobStep is what to do with a Job check's Job.
type JobStep string

const (
	// CreateJob: it does not exist: create it (recorded first).
	CreateJob JobStep = "Create"
	// WaitJob: it runs: look again after PollAfter.
	WaitJob JobStep = "Wait"
	// JudgeJob: it finished: read its Pods' termination message, judge,
	// then delete it.
	JudgeJob JobStep = "Judge"
	// TimedOutJob: it outlived its timeout and grace: a failed
	// measurement; delete it.
	TimedOutJob JobStep = "TimedOut"
)

// ObserveJob decides what to do with a Job check's Job, and when to look at
// it again while it runs: often at first, less as it ages.
func ObserveJob(o JobObservation, timeout time.Duration, now time.Time) (JobStep, time.Duration) {
	switch {
	case !o.Exists:
		return CreateJob, MinJobPoll
	case o.Done:
		return JudgeJob, 0
	case now.Sub(o.Created) > timeout+JobGrace:
		return TimedOutJob, 0
	}
	return WaitJob, min(max(now.Sub(o.Created)/5, MinJobPoll), MaxJobPoll)
}

// TimedOut is the measurement of a Job that never finished: failed, as the
// API says of a Job past its timeout.
func TimedOut(timeout time.Duration, now time.Time) verify.Measurement {
	return verify.Measurement{At: now, Outcome: verify.Failed,
		Value: fmt.Sprintf("the Job did not finish within %s", timeout)}
}

func clipMeasurement(m verify.Measurement) verify.Measurement {
	m.Value = clip(m.Value, MaxValue)
	m.Message = clip(m.Message, MaxMessage)
	return m
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// toVerify and toAPI convert a state between the API's form and verify's.
// The API keeps times to the second (what the hub stores): the agent keeps
// them so too, so its report equals what the hub holds and costs no write.
func toVerify(s fleetv1alpha1.CheckState) verify.State {
	return verify.State{Since: s.Since.Time, Measurements: s.Measurements, Failures: s.Failures,
		Inconclusives: s.Inconclusives, InconclusiveRun: s.InconclusiveRun,
		Last: measurementOf(s.Last), Decisive: measurementOf(s.Decisive)}
}

func toAPI(s verify.State) fleetv1alpha1.CheckState {
	return fleetv1alpha1.CheckState{Since: apiTime(s.Since), Measurements: s.Measurements, Failures: s.Failures,
		Inconclusives: s.Inconclusives, InconclusiveRun: s.InconclusiveRun,
		Last: apiMeasurement(s.Last), Decisive: apiMeasurement(s.Decisive)}
}

func measurementOf(m *fleetv1alpha1.CheckMeasurement) *verify.Measurement {
	if m == nil {
		return nil
	}
	return &verify.Measurement{At: m.Time.Time, Outcome: verify.Outcome(m.Outcome), Value: m.Value, Message: m.Message}
}

func apiMeasurement(m *verify.Measurement) *fleetv1alpha1.CheckMeasurement {
	if m == nil {
		return nil
	}
	return &fleetv1alpha1.CheckMeasurement{Time: apiTime(m.At), Outcome: string(m.Outcome), Value: m.Value, Message: m.Message}
}

func apiTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second))
}

func equalStates(a, b []fleetv1alpha1.WorkCheckStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, _ := json.Marshal(a[i])
		y, _ := json.Marshal(b[i])
		if string(x) != string(y) {
			return false
		}
	}
	return true
}
