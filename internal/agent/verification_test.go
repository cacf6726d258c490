package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/checks"
	"github.com/flotilla-dev/flotilla/internal/measure"
	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// workCheck is an agent-placed check as the hub copies it onto a Work,
// measured every interval.
func workCheck(name string, interval time.Duration, c fleetv1alpha1.Check) fleetv1alpha1.WorkCheck {
	c.Name = name
	c.Interval = &metav1.Duration{Duration: interval}
	c.InconclusiveLimit = 2
	return fleetv1alpha1.WorkCheck{Check: c, Rollout: "web", Wave: "canary"}
}

func httpCheck(url, condition string) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{HTTP: &fleetv1alpha1.HTTPCheck{URL: url}, Condition: condition}
}

func jobCheck(t *testing.T, namespace, image, message string) fleetv1alpha1.Check {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{"kwok.flotilla.dev/termination-message": message}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "smoke", "image": image}}},
	}})
	mustf(t, err, "encoding a Job template")
	return fleetv1alpha1.Check{Job: &fleetv1alpha1.JobCheck{Namespace: namespace, Template: runtime.RawExtension{Raw: raw},
		Timeout: &metav1.Duration{Duration: 2 * time.Minute}}}
}

// waitCheck waits until the Work reports check name satisfying cond, and
// returns its status.
func (e *env) waitCheck(t *testing.T, cluster, work, name string, timeout time.Duration, what string,
	cond func(fleetv1alpha1.WorkCheckStatus) bool) fleetv1alpha1.WorkCheckStatus {
	t.Helper()
	var got fleetv1alpha1.WorkCheckStatus
	waitFor(t, timeout, "check "+name+" "+what, func() (bool, string) {
		w, err := e.getWork(t, cluster, work)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range w.Status.Checks {
			if s.Name == name {
				got = s
				return cond(s), describeAny(w.Status.Checks)
			}
		}
		return false, describeAny(w.Status.Checks)
	})
	return got
}

func checkFailed(s fleetv1alpha1.WorkCheckStatus) bool {
	return s.Decisive != nil && s.Decisive.Outcome == "Failed" && s.Failures > 0
}

func held(s fleetv1alpha1.WorkCheckStatus) bool {
	return s.Decisive != nil && s.Decisive.Outcome == "Inconclusive"
}

func (e *env) createSecret(t *testing.T, ns, name string, data map[string]string) {
	t.Helper()
	_, err := e.memberKube.CoreV1().Secrets(ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: data}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating secret %s/%s: %v", ns, name, err)
	}
}

// checkJobs lists the test Jobs of a Work on the member, in every namespace.
func (e *env) checkJobs(t *testing.T, work string) []string {
	t.Helper()
	list, err := e.memberKube.BatchV1().Jobs("").List(e.ctx, metav1.ListOptions{
		LabelSelector: checks.LabelCheckWork + "=" + fleetv1alpha1.WorkLabelValue(work)})
	mustf(t, err, "listing test Jobs")
	var names []string
	for _, j := range list.Items {
		names = append(names, j.Namespace+"/"+j.Name)
	}
	return names
}

// An HTTP check the agent makes from inside the member: a failing endpoint
// fails it with the code; a passing one keeps measuring, every interval,
// with one status write per interval for the two checks together; the
// credentials come from a Secret in flotilla-system and appear nowhere. A
// check of the same name for another Rollout (an instance's own) is
// measured apart.
func TestHTTPChecks(t *testing.T) {
	e := newEnv(t)
	const cluster, token = "checks-http", "s3cret-token-value"
	e.createNamespace(t, fleetv1alpha1.PlatformNamespace)
	e.createSecret(t, fleetv1alpha1.PlatformNamespace, "probe-token", map[string]string{"token": token})
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		switch r.URL.Path {
		case "/broken":
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
		case "/private":
			if r.Header.Get("Authorization") != "Bearer "+token {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"status":"green"}`))
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	opts := testOptions(t, cluster)
	e.startAgent(t, e.join(t, cluster), opts)

	private := httpCheck(srv.URL+"/private", `result.code == 200 && result.json.status == "green"`)
	private.HTTP.CredentialsRef = &fleetv1alpha1.SecretReference{Name: "probe-token"}
	noSecret := httpCheck(srv.URL+"/private", "result.code == 200")
	noSecret.HTTP.CredentialsRef = &fleetv1alpha1.SecretReference{Name: "nosuch"}
	w := work(cluster, "web", configMapObj("default", "checks-http-web", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{
		workCheck("broken", time.Second, httpCheck(srv.URL+"/broken", "result.code == 200")),
		workCheck("healthz", 2*time.Second, httpCheck(srv.URL+"/healthz", `result.code == 200 && result.body == "ok"`)),
		workCheck("private", 2*time.Second, private),
		workCheck("nosecret", 2*time.Second, noSecret),
	}
	other := workCheck("broken", 2*time.Second, httpCheck(srv.URL+"/healthz", "result.code == 200"))
	other.Rollout = "webapp-shop-2"
	w.Spec.Checks = append(w.Spec.Checks, other)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	broken := e.waitCheck(t, cluster, w.Name, "broken", time.Minute, "Failed", checkFailed)
	if broken.Revision != "rev-1" || broken.Run != 0 || broken.Failures != 1 || !strings.HasPrefix(broken.Decisive.Value, "HTTP 503 in ") {
		t.Errorf("broken: %s", describeAny(broken))
	}
	e.waitCheck(t, cluster, w.Name, "private", time.Minute, "passing twice", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Measurements >= 2 && s.Failures == 0 && s.Inconclusives == 0 && s.Last.Outcome == "Passed"
	})
	w1, err := e.getWork(t, cluster, w.Name)
	mustf(t, err, "reading work")
	if i := slices.IndexFunc(w1.Status.Checks, func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Rollout == other.Rollout && s.Name == "broken"
	}); i < 0 || w1.Status.Checks[i].Failures != 0 || w1.Status.Checks[i].Measurements == 0 {
		t.Errorf("broken of Rollout %s, measured apart, not passing: %s", other.Rollout, describeAny(w1.Status.Checks))
	}
	missing := e.waitCheck(t, cluster, w.Name, "nosecret", time.Minute, "held", held)
	if !strings.Contains(missing.Decisive.Message, "reading the credentials Secret flotilla-system/nosuch") || missing.Inconclusives != 3 {
		t.Errorf("a missing Secret: %s", describeAny(missing))
	}

	// A failed check sticks: not measured again.
	time.Sleep(2 * time.Second)
	got := e.waitCheck(t, cluster, w.Name, "broken", time.Second, "still Failed", checkFailed)
	if got.Measurements != broken.Measurements {
		t.Errorf("a failed check was measured again: %d measurements, then %d", broken.Measurements, got.Measurements)
	}

	// The two passing checks are due together: one status write each interval.
	series := statusWritesSeries
	before := metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), series)
	hz := e.waitCheck(t, cluster, w.Name, "healthz", time.Second, "measured", func(s fleetv1alpha1.WorkCheckStatus) bool { return s.Last != nil })
	time.Sleep(10 * time.Second)
	writes := metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), series) - before
	hz2 := e.waitCheck(t, cluster, w.Name, "healthz", time.Second, "measured", func(s fleetv1alpha1.WorkCheckStatus) bool { return s.Last != nil })
	measured := hz2.Measurements - hz.Measurements
	t.Logf("over 10 s: %d measurements of each 2-second check, %v status writes", measured, writes)
	if measured < 3 || writes > float64(measured)+1 {
		t.Errorf("over 10 s: %d measurements of each 2-second check and %v status writes; want about 5 and one write each", measured, writes)
	}

	body := httpGet(t, "http://"+opts.MetricsAddr+"/metrics")
	if n := metricValue(t, body, `flotilla_agent_check_measurements_total{kind="http",outcome="failed"}`); n != 1 {
		t.Errorf("failed HTTP measurements counted: %v, want 1", n)
	}

	w2, err := e.getWork(t, cluster, w.Name)
	mustf(t, err, "reading work")
	if data, _ := json.Marshal(w2.Status); strings.Contains(string(data), token) {
		t.Errorf("the token is in the Work status: %s", data)
	}

	// The hub takes the checks off the Work (the wave ended): the agent
	// stops measuring and reports none.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec.Checks = nil })
	waitFor(t, 30*time.Second, "no checks reported", func() (bool, string) {
		w, err := e.getWork(t, cluster, w.Name)
		if err != nil {
			return false, err.Error()
		}
		return len(w.Status.Checks) == 0, describeAny(w.Status.Checks)
	})
	time.Sleep(500 * time.Millisecond)
	n := served.Load()
	time.Sleep(3 * time.Second)
	if more := served.Load() - n; more > 0 {
		t.Errorf("%d requests after the checks left the Work", more)
	}
}

// Test Jobs on the member (the Job controller's Jobs, kwok's Pods): one that
// fails is Failed with its termination message; one that passes is Passed,
// its Job goes and none runs again (a Job runs once per run and revision,
// even past its interval and across a restart of the agent); a re-run
// starts afresh.
func TestJobChecks(t *testing.T) {
	e := newEnv(t)
	const cluster = "checks-job"
	e.createNamespace(t, fleetv1alpha1.PlatformNamespace)
	e.createNamespace(t, "smoke-tests")
	hub := e.join(t, cluster)
	opts := testOptions(t, cluster)
	agent := e.startAgent(t, hub, opts)

	w := work(cluster, "shop", configMapObj("default", "checks-job-shop", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{
		workCheck("checkout", time.Second, jobCheck(t, "", "exit1.invalid/smoke:1", "GET /checkout: 500 Internal Server Error\nFAIL checkout")),
		workCheck("catalog", 2*time.Second, jobCheck(t, "smoke-tests", "example.com/smoke:1", "")),
	}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	checkout := e.waitCheck(t, cluster, w.Name, "checkout", 2*time.Minute, "Failed", checkFailed)
	if want := "the Job failed: GET /checkout: 500 Internal Server Error\nFAIL checkout"; checkout.Decisive.Value != want || checkout.Revision != "rev-1" {
		t.Errorf("checkout: %s; want the value %q", describeAny(checkout), want)
	}
	catalog := e.waitCheck(t, cluster, w.Name, "catalog", 2*time.Minute, "passed", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Measurements == 1 && s.Failures == 0 && s.Last.Outcome == "Passed"
	})
	if catalog.Last.Value != "the Job succeeded" {
		t.Errorf("catalog: %s", describeAny(catalog))
	}
	waitFor(t, time.Minute, "the judged Jobs gone", func() (bool, string) {
		jobs := e.checkJobs(t, w.Name)
		return len(jobs) == 0, fmt.Sprint(jobs)
	})

	// Several intervals later, and after a restart of the agent (its local
	// record), the passed Job is still the result: no Job runs again.
	time.Sleep(5 * time.Second)
	agent.stop(t)
	e.startAgent(t, hub, opts)

	// A person re-runs the failed check: a fresh state, run 1.
	rerun := time.Now().Add(-time.Second)
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec.Checks[0].Run = 1 })
	again := e.waitCheck(t, cluster, w.Name, "checkout", 2*time.Minute, "Failed on run 1", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Run == 1 && checkFailed(s)
	})
	if again.Since.Time.Before(rerun) || again.Measurements != 1 || again.Failures != 1 {
		t.Errorf("the re-run did not start afresh: %s", describeAny(again))
	}
	if after := e.waitCheck(t, cluster, w.Name, "catalog", time.Minute, "reported", func(fleetv1alpha1.WorkCheckStatus) bool { return true }); after.Measurements != 1 || !after.Since.Equal(&catalog.Since) {
		t.Errorf("the passed Job ran again: %s", describeAny(after))
	}

	// The checks end: no test Job is left on the member.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec.Checks = nil })
	waitFor(t, time.Minute, "no test Jobs left", func() (bool, string) {
		jobs := e.checkJobs(t, w.Name)
		return len(jobs) == 0, fmt.Sprint(jobs)
	})
}

// The tenant boundary holds for test Jobs: an instance's Work may not have
// the agent create a Job outside the Work's scope, whether the check names
// the namespace (kube-system) or leaves the platform's default.
func TestJobCheckOutsideTheScopeIsRefused(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "checks-scope", "checks-team-a"
	e.createNamespace(t, ns)
	e.createNamespace(t, fleetv1alpha1.PlatformNamespace)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))

	w := instanceWork(cluster, "team-a-db", ns, []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}},
		configMapObj(ns, "settings", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{
		workCheck("escape", time.Second, jobCheck(t, "kube-system", "example.com/pwn:1", "")),
		workCheck("platform", time.Second, jobCheck(t, "", "example.com/pwn:1", "")),
		workCheck("own", time.Second, jobCheck(t, ns, "example.com/smoke:1", "")),
	}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	escape := e.waitCheck(t, cluster, w.Name, "escape", time.Minute, "refused", held)
	if want := "test Job in namespace kube-system refused: outside the Work's scope"; !strings.Contains(escape.Decisive.Message, want) {
		t.Errorf("escape: %s; want a message with %q", describeAny(escape), want)
	}
	platform := e.waitCheck(t, cluster, w.Name, "platform", time.Minute, "refused", held)
	if !strings.Contains(platform.Decisive.Message, "namespace flotilla-system refused") {
		t.Errorf("platform: %s", describeAny(platform))
	}
	e.waitCheck(t, cluster, w.Name, "own", 2*time.Minute, "passed", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Last != nil && s.Last.Outcome == "Passed"
	})
	for _, jobNS := range []string{"kube-system", fleetv1alpha1.PlatformNamespace} {
		list, err := e.memberKube.BatchV1().Jobs(jobNS).List(e.ctx, metav1.ListOptions{})
		mustf(t, err, "listing Jobs")
		for _, j := range list.Items {
			if j.Labels[checks.LabelCheckWork] != "" {
				t.Errorf("a test Job outside the scope: %s/%s", j.Namespace, j.Name)
			}
		}
	}
	e.waitWorkReady(t, cluster, w.Name, 30*time.Second) // checks judge the release, not the apply
}

// A Job under the very name the agent would give its test Job (names are
// deterministic), created by someone else before the agent's, is never
// judged, even when it carries the agent's labels and succeeds: it could
// pass for a test that fails. It counts as an inconclusive measurement, is
// left untouched, and the agent's own Job (the next measurement's name)
// gives the result.
func TestJobCheckNeverJudgesAJobTheAgentDidNotCreate(t *testing.T) {
	e := newEnv(t)
	const cluster = "checks-squat"
	e.createNamespace(t, fleetv1alpha1.PlatformNamespace)
	e.createNamespace(t, "squat-tests")
	hub := e.join(t, cluster)

	// The real test fails; the planted Job passes.
	w := work(cluster, "squat", configMapObj("default", "checks-squat", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{
		workCheck("smoke", time.Second, jobCheck(t, "squat-tests", "exit1.invalid/smoke:1", "FAIL")),
	}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	stored, err := e.getWork(t, cluster, w.Name)
	mustf(t, err, "reading work")
	c := stored.Spec.Checks[0]
	name := checks.JobName(w.Name, c, stored.Spec.Revision, 0)
	planted, err := measure.NewJob("squat-tests", name, map[string]string{
		fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
		checks.LabelCheckWork:        fleetv1alpha1.WorkLabelValue(w.Name),
		checks.LabelCheck:            c.Name,
		checks.LabelCheckRun:         "0",
	}, jobCheck(t, "", "example.com/smoke:1", "").Job.Template.Raw, time.Minute)
	mustf(t, err, "building the planted Job")
	planted, err = e.memberDynamic.Resource(measure.JobsResource).Namespace("squat-tests").Create(e.ctx, planted, metav1.CreateOptions{})
	mustf(t, err, "planting a Job")
	waitFor(t, 2*time.Minute, "the planted Job succeeded", func() (bool, string) {
		j, err := e.memberKube.BatchV1().Jobs("squat-tests").Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return j.Status.Succeeded > 0, describeAny(j.Status)
	})

	e.startAgent(t, hub, testOptions(t, cluster))
	smoke := e.waitCheck(t, cluster, w.Name, "smoke", 2*time.Minute, "settled", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Last != nil && (s.Last.Outcome == "Passed" || s.Last.Outcome == "Failed")
	})
	if want := "the Job failed: FAIL"; !checkFailed(smoke) || smoke.Decisive.Value != want || smoke.Inconclusives != 1 {
		t.Errorf("smoke: %s; want one inconclusive measurement (the planted Job), then Failed with %q (the agent's Job)", describeAny(smoke), want)
	}
	j, err := e.memberKube.BatchV1().Jobs("squat-tests").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil || j.UID != planted.GetUID() {
		t.Errorf("the planted Job was deleted or replaced: %v", err)
	}
}

// An agent-placed metric check queries a real Prometheus (scraping a
// service whose error rate the test sets) with the query the hub rendered
// for this cluster: it passes while the rate is low and fails with the
// measured value once it rises.
func TestMetricCheckAgainstARealPrometheus(t *testing.T) {
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	e := newEnv(t)
	const cluster = "checks-metric"
	app := testenv.StartMetricExporter(t)
	app.Set(cluster, 0)
	prom := testenv.StartPrometheus(t, bin, app.Target())
	query := `sum(rate(app_requests_total{cluster="` + cluster + `",code="500"}[5s])) / sum(rate(app_requests_total{cluster="` + cluster + `"}[5s]))`
	waitFor(t, time.Minute, "prometheus to have the rate", func() (bool, string) {
		r, err := (&measure.Prometheus{URL: prom.URL}).Query(e.ctx, query, time.Time{})
		if err != nil {
			return false, err.Error()
		}
		return len(r.Samples) == 1, fmt.Sprint(r.Samples)
	})
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))

	w := work(cluster, "api", configMapObj("default", "checks-metric-api", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{workCheck("error-rate", time.Second, fleetv1alpha1.Check{
		// clusters is the agent's own cluster.
		Metric:    &fleetv1alpha1.MetricCheck{Placement: fleetv1alpha1.CheckOnAgent, Address: prom.URL, Query: query},
		Condition: `result[0] < 0.05 && clusters == ["` + cluster + `"]`, When: fleetv1alpha1.CheckDuringProgress,
	})}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitCheck(t, cluster, w.Name, "error-rate", time.Minute, "passing", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Measurements >= 2 && s.Failures == 0 && s.Last.Outcome == "Passed" && s.Last.Value == "[0]"
	})

	app.Set(cluster, 0.5)
	got := e.waitCheck(t, cluster, w.Name, "error-rate", time.Minute, "Failed", checkFailed)
	if !strings.HasPrefix(got.Decisive.Value, "[0.") || got.Decisive.Value == "[0]" {
		t.Errorf("error-rate: %s; want the measured rate", describeAny(got))
	}
}

// The agent keeps measuring while the hub is away, and reports what it
// measured when the hub is back.
func TestChecksAreMeasuredWhileTheHubIsDown(t *testing.T) {
	e := newEnv(t)
	const cluster = "checks-offline"
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))
	w := work(cluster, "edge", configMapObj("default", "checks-offline-edge", map[string]string{"k": "v"}))
	w.Spec.Checks = []fleetv1alpha1.WorkCheck{workCheck("healthz", time.Second, httpCheck(srv.URL, "result.code == 200"))}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	before := e.waitCheck(t, cluster, w.Name, "healthz", time.Minute, "measured", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Measurements >= 1
	})

	e.hub.StopAPIServer()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = e.hub.StartAPIServer(context.Background())
		}
	})
	n := served.Load()
	time.Sleep(6 * time.Second)
	during := served.Load() - n
	mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
	restarted = true
	if during < 3 {
		t.Errorf("%d measurements in 6 s without the hub; want one a second", during)
	}
	e.waitCheck(t, cluster, w.Name, "healthz", time.Minute, "reported after the outage", func(s fleetv1alpha1.WorkCheckStatus) bool {
		return s.Measurements >= before.Measurements+int32(during) && s.Failures == 0 && s.Inconclusives == 0
	})
}

// A check's condition is compiled once, not at every measurement; an invalid
// one is not kept.
func TestCheckerCompilesAConditionOnce(t *testing.T) {
	c := &checker{}
	first, err := c.compile(verify.KindMetric, "result[0] < 0.05")
	mustf(t, err, "compiling")
	again, err := c.compile(verify.KindMetric, "result[0] < 0.05")
	mustf(t, err, "compiling again")
	if first != again {
		t.Error("the same condition was compiled twice")
	}
	if other, _ := c.compile(verify.KindHTTP, "result[0] < 0.05"); other == first {
		t.Error("a condition of another kind shares the metric check's")
	}
	if _, err := c.compile(verify.KindMetric, "result[0] +"); err == nil {
		t.Error("an invalid condition compiled")
	}
	for i := range maxConditions + 1 {
		_, err := c.compile(verify.KindMetric, fmt.Sprintf("result[0] < %d.0", i))
		mustf(t, err, "compiling")
	}
	if len(c.conditions) > maxConditions {
		t.Errorf("%d compiled conditions kept, want at most %d", len(c.conditions), maxConditions)
	}
}
