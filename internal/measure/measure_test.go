package measure

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

const errorRate = `sum(rate(app_requests_total{cluster="{{ .Cluster }}",code="500"}[5s])) / sum(rate(app_requests_total{cluster="{{ .Cluster }}"}[5s]))`

// TestMetricAgainstARealPrometheus: a real Prometheus scrapes a service whose
// error rate the test controls; the check passes while it is low, fails with
// the measured value once it rises, and is Inconclusive (never passed) when
// the query has no data, is wrong, or Prometheus cannot be reached.
func TestMetricAgainstARealPrometheus(t *testing.T) {
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	svc := testenv.StartMetricExporter(t)
	svc.Set("eu-1", 0)
	prom := testenv.StartPrometheus(t, bin, svc.Target())
	client := &Prometheus{URL: prom.URL}
	cond, err := verify.Compile(verify.KindMetric, "result[0] < 0.05")
	if err != nil {
		t.Fatal(err)
	}
	query, err := verify.RenderQuery(errorRate, verify.QueryVars{Cluster: "eu-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Before two scrapes a rate has no data: Inconclusive, not Passed.
	measureUntil := func(want verify.Outcome) verify.Measurement {
		t.Helper()
		var m verify.Measurement
		for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			m = Metric(ctx, client, cond, query, nil, time.Now())
			if m.Outcome == want {
				return m
			}
			if m.Outcome == verify.Passed && want != verify.Passed {
				t.Logf("still passing: %s", m.Value)
			}
		}
		t.Fatalf("no %s measurement within 45 s; the last: %+v", want, m)
		return m
	}
	m := measureUntil(verify.Passed)
	if m.Value != "[0]" {
		t.Errorf("a healthy service measured %s", m.Value)
	}

	svc.Set("eu-1", 0.5)
	m = measureUntil(verify.Failed)
	t.Logf("after the error rate rose: %+v", m)

	// The same query for a cluster Prometheus knows nothing of: no data.
	other, _ := verify.RenderQuery(errorRate, verify.QueryVars{Cluster: "us-1"})
	if m := Metric(ctx, client, cond, other, nil, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "no data") {
		t.Errorf("a query without data: %+v", m)
	}
	// A query Prometheus refuses.
	if m := Metric(ctx, client, cond, "sum(rate(app_requests_total[5s]", nil, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "bad_data") {
		t.Errorf("a bad query: %+v", m)
	}
	// A range vector is not a check's answer.
	if m := Metric(ctx, client, cond, "app_requests_total[5s]", nil, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "matrix") {
		t.Errorf("a range query: %+v", m)
	}
}

// Prometheus down, or never there: Inconclusive, and the credentials never
// reach the message.
func TestMetricUnreachable(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens there
	cond, _ := verify.Compile(verify.KindMetric, "result[0] < 0.05")
	for _, client := range []*Prometheus{
		{URL: "http://" + addr},
		{URL: "http://alice:s3cret-pw@" + addr},
		{URL: "http://" + addr, Credentials: Credentials{BearerToken: "s3cret-token"}},
	} {
		m := Metric(context.Background(), client, cond, "up", nil, time.Now())
		if m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "connection refused") {
			t.Errorf("%s: %+v", client.URL, m)
		}
		if strings.Contains(m.Message, "s3cret") {
			t.Errorf("a credential in the message: %s", m.Message)
		}
	}
	if m := Metric(context.Background(), &Prometheus{URL: "ftp://x"}, cond, "up", nil, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "want http(s)") {
		t.Errorf("an ftp URL: %+v", m)
	}
}

// The credentials reach the endpoint.
func TestCredentialsAreSent(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1733400000,"0.01"]}}`)
	}))
	defer srv.Close()
	cond, _ := verify.Compile(verify.KindMetric, "result[0] < 0.05")
	m := Metric(context.Background(), &Prometheus{URL: srv.URL + "/prometheus", Credentials: Credentials{BearerToken: "t0k"}}, cond, "x", nil, time.Now())
	if m.Outcome != verify.Passed || got.Load() != "Bearer t0k" {
		t.Errorf("measurement %+v, Authorization %q", m, got.Load())
	}
}

func TestHTTPCheck(t *testing.T) {
	var code atomic.Int64
	code.Store(200)
	var delay atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
		w.WriteHeader(int(code.Load()))
		fmt.Fprint(w, `{"status":"green"}`)
	}))
	defer srv.Close()
	cond, err := verify.Compile(verify.KindHTTP, `result.code == 200 && result.json.status == "green" && result.latencySeconds < 1.0`)
	if err != nil {
		t.Fatal(err)
	}
	check := &HTTPCheck{URL: srv.URL + "/healthz", Timeout: 3 * time.Second}
	ctx := context.Background()
	if m := HTTP(ctx, check, cond, time.Now()); m.Outcome != verify.Passed || !strings.HasPrefix(m.Value, "HTTP 200 in") {
		t.Errorf("healthy: %+v", m)
	}
	code.Store(503)
	if m := HTTP(ctx, check, cond, time.Now()); m.Outcome != verify.Failed || !strings.HasPrefix(m.Value, "HTTP 503") {
		t.Errorf("503: %+v", m)
	}
	code.Store(200)
	delay.Store(int64(1200 * time.Millisecond))
	if m := HTTP(ctx, check, cond, time.Now()); m.Outcome != verify.Failed {
		t.Errorf("slow: %+v", m)
	}
	// Slower than the timeout: no answer, so no judgement.
	delay.Store(int64(4 * time.Second))
	if m := HTTP(ctx, check, cond, time.Now()); m.Outcome != verify.Inconclusive || !strings.Contains(m.Message, "deadline exceeded") {
		t.Errorf("timed out: %+v", m)
	}
}

// A grouped query gives each cluster's verdict from one query: every
// cluster's samples, by clusterLabel; a cluster with none is Inconclusive.
func TestMetricByCluster(t *testing.T) {
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	svc := testenv.StartMetricExporter(t)
	svc.Set("eu-1", 0)
	svc.Set("eu-2", 0.5)
	prom := testenv.StartPrometheus(t, bin, svc.Target())
	client := &Prometheus{URL: prom.URL}
	cond, err := verify.Compile(verify.KindMetric, "result[0] < 0.05")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"eu-1", "eu-2", "eu-3"}
	query, err := verify.RenderQuery(`sum by (cluster) (rate(app_requests_total{cluster=~{{ regex .Clusters }},code="500"}[5s]))
	/ sum by (cluster) (rate(app_requests_total{cluster=~{{ regex .Clusters }}}[5s]))`, verify.QueryVars{Clusters: names})
	if err != nil {
		t.Fatal(err)
	}
	var ms []verify.Measurement
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		ms = MetricByCluster(context.Background(), client, cond, query, "cluster", names, time.Now())
		if ms[0].Outcome == verify.Passed && ms[1].Outcome == verify.Failed {
			break
		}
	}
	if ms[0].Outcome != verify.Passed || ms[1].Outcome != verify.Failed || ms[1].Value != "[0.5]" ||
		ms[2].Outcome != verify.Inconclusive || !strings.Contains(ms[2].Message, "no sample with cluster=eu-3") {
		t.Errorf("measurements %+v", ms)
	}
	down := &Prometheus{URL: "http://127.0.0.1:1"}
	for _, m := range MetricByCluster(context.Background(), down, cond, query, "cluster", names, time.Now()) {
		if m.Outcome != verify.Inconclusive {
			t.Errorf("unreachable: %+v", m)
		}
	}
}
