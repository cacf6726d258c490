package checks

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func check(name string, when fleetv1alpha1.CheckWhen, c fleetv1alpha1.Check) fleetv1alpha1.WorkCheck {
	c.Name, c.When = name, when
	c.Interval = &metav1.Duration{Duration: 10 * time.Second}
	c.InconclusiveLimit = 1
	return fleetv1alpha1.WorkCheck{Check: c, Rollout: "web", Wave: "canary"}
}

func httpC() fleetv1alpha1.Check {
	return fleetv1alpha1.Check{HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://web.shop:8080/healthz"}, Condition: "result.code == 200"}
}

func metricC(placement fleetv1alpha1.CheckPlacement) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{Metric: &fleetv1alpha1.MetricCheck{Placement: placement, Address: "http://prometheus:9090", Query: "up"},
		Condition: "result[0] == 1.0"}
}

func jobC(ns string) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{Job: &fleetv1alpha1.JobCheck{Namespace: ns, Template: runtime.RawExtension{Raw: []byte(`{}`)}}}
}

// look is a Work at rev-1, applied at t0, healthy from t0+5s, looked at now.
func look(now time.Duration, checks ...fleetv1alpha1.WorkCheck) Look {
	return Look{Now: t0.Add(now), Work: "shop", Revision: "rev-1", Applied: true, AppliedAt: t0,
		Healthy: now >= 5*time.Second, Checks: checks}
}

func names(b Begun) (started, due []string) {
	for _, s := range b.States {
		started = append(started, s.Name)
	}
	for _, t := range b.Tasks {
		due = append(due, t.Check.Name)
	}
	return started, due
}

// When each kind of check starts: Progress and Always at the apply of the
// revision, Bake once the Work is healthy, a Job always only then; a
// metric check placed on the hub is the hub's.
func TestBeginStarts(t *testing.T) {
	all := []fleetv1alpha1.WorkCheck{
		check("progress", fleetv1alpha1.CheckDuringProgress, httpC()),
		check("always", fleetv1alpha1.CheckAlways, metricC(fleetv1alpha1.CheckOnAgent)),
		check("bake", fleetv1alpha1.CheckDuringBake, httpC()),
		check("default", "", httpC()),
		check("job", fleetv1alpha1.CheckDuringProgress, jobC("")),
		check("hub", fleetv1alpha1.CheckAlways, metricC(fleetv1alpha1.CheckOnHub)),
	}
	for _, tc := range []struct {
		name    string
		look    Look
		started string
		since   map[string]time.Duration
	}{
		{name: "not applied yet", look: func() Look { l := look(0, all...); l.Applied, l.Healthy = false, false; return l }()},
		{name: "applied, not healthy", look: look(time.Second, all...), started: "progress always",
			since: map[string]time.Duration{"progress": 0, "always": 0}},
		{name: "healthy", look: look(6*time.Second, all...), started: "progress always bake default job",
			since: map[string]time.Duration{"progress": 0, "bake": 6 * time.Second, "job": 6 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Begin(tc.look)
			started, due := names(b)
			if got := strings.Join(started, " "); got != tc.started {
				t.Errorf("started %q, want %q", got, tc.started)
			}
			// A fresh state is due at once.
			if strings.Join(due, " ") != tc.started {
				t.Errorf("due %q, want every started check", due)
			}
			for _, s := range b.States {
				if want, ok := tc.since[s.Name]; ok && !s.Since.Time.Equal(t0.Add(want)) {
					t.Errorf("%s since %s, want t0+%s", s.Name, s.Since.Time, want)
				}
				if s.Revision != "rev-1" || s.Measurements != 0 {
					t.Errorf("%s: %+v", s.Name, s)
				}
			}
		})
	}
}

// measured is the state of a check measured once, at t0.
func measured(c fleetv1alpha1.WorkCheck, revision string, outcome verify.Outcome) fleetv1alpha1.WorkCheckStatus {
	s := verify.Record(PolicyOf(c), verify.Start(t0), verify.Measurement{At: t0, Outcome: outcome, Value: "v"})
	return fleetv1alpha1.WorkCheckStatus{Rollout: c.Rollout, Name: c.Name, Run: c.Run, Revision: revision, CheckState: toAPI(s)}
}

// What is due, what restarts, what is dropped.
func TestBeginDueAndFresh(t *testing.T) {
	web := check("web", fleetv1alpha1.CheckDuringProgress, httpC())
	for _, tc := range []struct {
		name     string
		check    fleetv1alpha1.WorkCheck
		state    fleetv1alpha1.WorkCheckStatus
		now      time.Duration
		due      bool
		fresh    bool
		noStates bool
	}{
		{name: "measured, not due", check: web, state: measured(web, "rev-1", verify.Passed), now: 5 * time.Second},
		{name: "due", check: web, state: measured(web, "rev-1", verify.Passed), now: 10 * time.Second, due: true},
		{name: "due within the slack", check: web, state: measured(web, "rev-1", verify.Passed), now: 9*time.Second + 100*time.Millisecond, due: true},
		{name: "failed sticks: never due", check: web, state: measured(web, "rev-1", verify.Failed), now: time.Hour},
		{name: "a re-run starts afresh", check: func() fleetv1alpha1.WorkCheck { c := web; c.Run = 1; return c }(),
			state: measured(web, "rev-1", verify.Failed), now: time.Hour, due: true, fresh: true},
		{name: "a new revision starts afresh", check: web, state: measured(web, "rev-0", verify.Failed), now: time.Hour, due: true, fresh: true},
		{name: "a check no longer listed is dropped", state: measured(web, "rev-1", verify.Passed), now: time.Hour, noStates: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := look(tc.now)
			if tc.check.Name != "" {
				l.Checks = []fleetv1alpha1.WorkCheck{tc.check}
			}
			l.States = []fleetv1alpha1.WorkCheckStatus{tc.state}
			b := Begin(l)
			if tc.noStates {
				if len(b.States) != 0 || len(b.Tasks) != 0 {
					t.Fatalf("%+v", b)
				}
				return
			}
			if len(b.States) != 1 {
				t.Fatalf("states %+v", b.States)
			}
			if got := len(b.Tasks) == 1; got != tc.due {
				t.Errorf("due %v, want %v", got, tc.due)
			}
			s := b.States[0]
			if fresh := s.Measurements == 0; fresh != tc.fresh {
				t.Errorf("fresh %v, want %v: %+v", fresh, tc.fresh, s)
			}
			if s.Run != tc.check.Run || s.Revision != "rev-1" {
				t.Errorf("run %d revision %s", s.Run, s.Revision)
			}
		})
	}
}

// A test Job is an object the agent creates: for an instance's Work it must
// be in the Work's scope; credentials come only from the platform namespace.
func TestBeginRefuses(t *testing.T) {
	scope := &fleetv1alpha1.WorkScope{Namespaces: []string{"team-a", "team-a-data"}}
	creds := httpC()
	creds.HTTP.CredentialsRef = &fleetv1alpha1.SecretReference{Name: "db", Namespace: "team-b"}
	platformCreds := httpC()
	platformCreds.HTTP.CredentialsRef = &fleetv1alpha1.SecretReference{Name: "probe", Namespace: fleetv1alpha1.PlatformNamespace}
	for _, tc := range []struct {
		name     string
		check    fleetv1alpha1.Check
		instance bool
		scope    *fleetv1alpha1.WorkScope
		refused  string
	}{
		{name: "fleet Work, platform namespace", check: jobC("")},
		{name: "fleet Work, any namespace", check: jobC("kube-system")},
		{name: "instance, its namespace", check: jobC("team-a-data"), instance: true, scope: scope},
		{name: "instance, kube-system", check: jobC("kube-system"), instance: true, scope: scope,
			refused: "test Job in namespace kube-system refused: outside the Work's scope: namespace kube-system is neither the instance's (team-a; also team-a-data) nor one the Promise's output.namespaces allow"},
		{name: "instance, the default namespace", check: jobC(""), instance: true, scope: scope,
			refused: "test Job in namespace flotilla-system refused: outside the Work's scope"},
		{name: "instance without a scope", check: jobC("team-a"), instance: true,
			refused: "the instance's Work has no scope"},
		{name: "credentials from a tenant's namespace", check: creds,
			refused: "credentials Secret team-b/db: an agent reads check credentials only from flotilla-system"},
		{name: "credentials from the platform namespace", check: platformCreds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := look(time.Minute, check("c", fleetv1alpha1.CheckDuringBake, tc.check))
			l.Instance, l.Scope = tc.instance, tc.scope
			b := Begin(l)
			if len(b.Tasks) != 1 {
				t.Fatalf("tasks %+v", b.Tasks)
			}
			task := b.Tasks[0]
			if (tc.refused == "") != (task.Refused == "") || !strings.Contains(task.Refused, tc.refused) {
				t.Errorf("refused %q, want %q", task.Refused, tc.refused)
			}
			if task.Refused != "" && task.Job != nil {
				t.Error("a refused check has a Job")
			}
			// A refusal holds the check at once, with its reason.
			if task.Refused != "" {
				e := End(l, b, []Result{Refuse(task, l.Now)})
				s := e.States[0]
				if v := verify.Assess(task.Policy, toVerify(s.CheckState), time.Time{}); v != verify.VerdictInconclusive ||
					!strings.Contains(s.Decisive.Message, tc.refused) || !e.NextLook.IsZero() {
					t.Errorf("after the refusal: %s, %+v, next %v", v, s, e.NextLook)
				}
			}
		})
	}
}

// Job names: deterministic (a restarted agent finds its Job), new for each
// measurement, run, revision and template, and valid names.
func TestJobName(t *testing.T) {
	c := check("checkout-smoke-test-against-the-real-payment-provider", fleetv1alpha1.CheckDuringBake, jobC(""))
	base := JobName("shop", c, "rev-1", 3)
	if base != JobName("shop", c, "rev-1", 3) {
		t.Error("not deterministic")
	}
	if len(base) > 63 || !strings.HasPrefix(base, "flotilla-check-checkout-smoke-test-against-th-") {
		t.Errorf("name %q", base)
	}
	rerun := c
	rerun.Run = 1
	other := c
	other.Job = &fleetv1alpha1.JobCheck{Template: runtime.RawExtension{Raw: []byte(`{"parallelism":1}`)}}
	for what, name := range map[string]string{
		"next measurement": JobName("shop", c, "rev-1", 4), "re-run": JobName("shop", rerun, "rev-1", 3),
		"revision": JobName("shop", c, "rev-2", 3), "template": JobName("shop", other, "rev-1", 3), "work": JobName("shop-2", c, "rev-1", 3),
		"rollout": JobName("shop", instanceRollouts(c), "rev-1", 3),
	} {
		if name == base {
			t.Errorf("a new %s reuses the Job name", what)
		}
	}
}

// Jobs recorded but no longer needed go: a re-run's, an ended check's.
func TestBeginCleansUpJobs(t *testing.T) {
	smoke := check("smoke", fleetv1alpha1.CheckDuringBake, jobC(""))
	l := look(time.Minute, smoke)
	current := JobName("shop", smoke, "rev-1", 0)
	l.Jobs = []JobRef{
		{Check: "smoke", Namespace: "flotilla-system", Name: current, UID: "u1"},
		{Check: "smoke", Namespace: "flotilla-system", Name: JobName("shop", smoke, "rev-0", 0), UID: "u0"},
		{Check: "gone", Namespace: "tests", Name: "flotilla-check-gone-1234567890"},
	}
	b := Begin(l)
	if len(b.Tasks) != 1 || b.Tasks[0].Job == nil || b.Tasks[0].Job.Name != current {
		t.Fatalf("tasks %+v", b.Tasks)
	}
	if len(b.Cleanup) != 2 || b.Cleanup[0].UID != "u0" || b.Cleanup[1].Check != "gone" {
		t.Errorf("cleanup %+v", b.Cleanup)
	}
	labels := b.Tasks[0].Labels
	if labels[LabelCheckWork] != fleetv1alpha1.WorkLabelValue("shop") || labels[LabelCheck] != "smoke" || labels[LabelCheckRun] != "0" ||
		labels[fleetv1alpha1.LabelWork] != "" {
		t.Errorf("labels %v", labels)
	}
}

// End records, says when to look again, and reports a change only when
// there is one.
func TestEnd(t *testing.T) {
	web := check("web", fleetv1alpha1.CheckDuringProgress, httpC())
	api := check("api", fleetv1alpha1.CheckDuringProgress, httpC())
	api.Interval = &metav1.Duration{Duration: 3 * time.Second}
	smoke := check("smoke", fleetv1alpha1.CheckDuringBake, jobC(""))

	// First look: both started and measured; next look at the shorter interval.
	l := look(6*time.Second+400*time.Millisecond, web, api, smoke)
	b := Begin(l)
	e := End(l, b, []Result{
		{Rollout: "web", Name: "web", Measurement: &verify.Measurement{At: l.Now, Outcome: verify.Passed, Value: "HTTP 200 in 3ms"}},
		{Rollout: "web", Name: "api", Measurement: &verify.Measurement{At: l.Now, Outcome: verify.Failed, Value: strings.Repeat("x", 300)}},
		{Rollout: "web", Name: "smoke", PollAfter: time.Second}, // its Job runs
	})
	if !e.Changed || len(e.States) != 3 {
		t.Fatalf("%+v", e)
	}
	if want := l.Now.Add(time.Second); !e.NextLook.Equal(want) {
		t.Errorf("next look %s, want the Job's poll", e.NextLook.Sub(t0))
	}
	ws, as, ss := e.States[0], e.States[1], e.States[2]
	if ws.Measurements != 1 || !ws.Last.Time.Time.Equal(t0.Add(6*time.Second)) {
		t.Errorf("web: %+v (times are kept to the second, as the hub stores them)", ws)
	}
	if as.Failures != 1 || as.Decisive == nil || len(as.Decisive.Value) > MaxValue {
		t.Errorf("api: %+v", as)
	}
	if ss.Measurements != 0 {
		t.Errorf("smoke measured while its Job runs: %+v", ss)
	}

	// A look with nothing due changes nothing.
	l2 := look(8*time.Second, web, api, smoke)
	l2.States = e.States
	b2 := Begin(l2)
	if _, due := names(b2); strings.Join(due, " ") != "smoke" {
		t.Errorf("due %v, want only the Job, which runs", due)
	}
	e2 := End(l2, b2, []Result{{Rollout: "web", Name: "smoke", PollAfter: 2 * time.Second}})
	if e2.Changed {
		t.Error("a look that measured nothing changed the states")
	}
	// web is due 10 s after its measurement (kept at t0+6s); api failed and is never due.
	if want := t0.Add(10 * time.Second); !e2.NextLook.Equal(want) {
		t.Errorf("next look t0+%s, want t0+10s", e2.NextLook.Sub(t0))
	}
}

func TestObserveJob(t *testing.T) {
	created := t0
	for _, tc := range []struct {
		name string
		obs  JobObservation
		now  time.Duration
		step JobStep
		poll time.Duration
	}{
		{"missing", JobObservation{}, 0, CreateJob, MinJobPoll},
		{"just created", JobObservation{Exists: true, Created: created}, time.Second, WaitJob, MinJobPoll},
		{"running a while", JobObservation{Exists: true, Created: created}, 30 * time.Second, WaitJob, 6 * time.Second},
		{"running long", JobObservation{Exists: true, Created: created}, 5 * time.Minute, WaitJob, MaxJobPoll},
		{"done", JobObservation{Exists: true, Created: created, Done: true}, time.Minute, JudgeJob, 0},
		{"past timeout and grace", JobObservation{Exists: true, Created: created}, 10*time.Minute + JobGrace + time.Second, TimedOutJob, 0},
	} {
		step, poll := ObserveJob(tc.obs, 10*time.Minute, t0.Add(tc.now))
		if step != tc.step || poll != tc.poll {
			t.Errorf("%s: %s after %s, want %s after %s", tc.name, step, poll, tc.step, tc.poll)
		}
	}
	if m := TimedOut(time.Minute, t0); m.Outcome != verify.Failed || m.Value != "the Job did not finish within 1m0s" {
		t.Errorf("timed out: %+v", m)
	}
}

// A check measured every interval over a window: the counts the hub judges
// with verify.Assess, never due again once failed.
func TestSequence(t *testing.T) {
	web := check("web", fleetv1alpha1.CheckDuringBake, httpC())
	web.FailureLimit = 1
	outcomes := []verify.Outcome{verify.Passed, verify.Failed, verify.Inconclusive, verify.Passed, verify.Failed, verify.Passed}
	var states []fleetv1alpha1.WorkCheckStatus
	now := 5 * time.Second
	measuredN := 0
	for step := 0; step < 40 && measuredN < len(outcomes); step++ {
		l := look(now, web)
		l.States = states
		b := Begin(l)
		var results []Result
		for _, task := range b.Tasks {
			results = append(results, Result{Rollout: task.Check.Rollout, Name: task.Check.Name, Measurement: &verify.Measurement{At: l.Now, Outcome: outcomes[measuredN]}})
			measuredN++
		}
		e := End(l, b, results)
		states = e.States
		if e.NextLook.IsZero() {
			break
		}
		now = e.NextLook.Sub(t0)
	}
	s := states[0]
	p := PolicyOf(web)
	if v := verify.Assess(p, toVerify(s.CheckState), time.Time{}); v != verify.VerdictFailed || s.Measurements != 5 || s.Failures != 2 {
		t.Errorf("verdict %s after %d measurements: %+v", v, measuredN, s)
	}
	if !s.Decisive.Time.Time.Equal(t0.Add(45 * time.Second)) {
		t.Errorf("decisive at t0+%s, want the fifth measurement at t0+45s", s.Decisive.Time.Sub(t0))
	}
}

// instanceRollouts is c as an instance's own Rollout lists it.
func instanceRollouts(c fleetv1alpha1.WorkCheck) fleetv1alpha1.WorkCheck {
	c.Rollout = "webapp-shop-4"
	return c
}

// Two Rollouts (the Promise's and the instance's own) may list a check of
// one name on a Work: each has its own state, and a measurement of one is
// never recorded in the other; a report from before the key (no rollout)
// is no state of either.
func TestChecksOfTwoRolloutsAreMeasuredApart(t *testing.T) {
	promise := check("smoke", fleetv1alpha1.CheckDuringBake, httpC())
	inst := instanceRollouts(promise)
	inst.Wave = "all"
	failed := measured(promise, "rev-1", verify.Failed)
	legacy := measured(inst, "rev-1", verify.Failed)
	legacy.Rollout = ""
	l := look(time.Hour, promise, inst)
	l.States = []fleetv1alpha1.WorkCheckStatus{failed, legacy}
	b := Begin(l)
	if len(b.States) != 2 || StateKey(b.States[0]) != KeyOf(promise) || StateKey(b.States[1]) != KeyOf(inst) {
		t.Fatalf("states %+v", b.States)
	}
	if b.States[0].Failures != 1 || b.States[1].Measurements != 0 {
		t.Errorf("the Promise Rollout's failed state is kept and the instance's starts afresh: %+v", b.States)
	}
	if len(b.Tasks) != 1 || KeyOf(b.Tasks[0].Check) != KeyOf(inst) {
		t.Fatalf("due: %+v, want only the instance Rollout's (the other failed)", b.Tasks)
	}
	r := b.Tasks[0].Result()
	r.Measurement = &verify.Measurement{At: l.Now, Outcome: verify.Passed, Value: "HTTP 200"}
	e := End(l, b, []Result{r})
	if e.States[0].Failures != 1 || e.States[0].Measurements != 1 || e.States[1].Measurements != 1 || e.States[1].Failures != 0 {
		t.Errorf("after measuring the instance Rollout's check: %+v", e.States)
	}
}
