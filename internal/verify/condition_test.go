package verify

import (
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	metric := func(values ...float64) MetricResult {
		r := MetricResult{}
		for _, v := range values {
			r.Samples = append(r.Samples, Sample{Labels: map[string]string{"cluster": "eu-1"}, Value: v})
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		kind      Kind
		condition string
		result    any
		want      Outcome
		value     string
		err       string
	}{
		{name: "error rate under the limit", kind: KindMetric, condition: "result[0] < 0.05", result: metric(0.01), want: Passed, value: "[0.01]"},
		{name: "error rate over the limit", kind: KindMetric, condition: "result[0] < 0.05", result: metric(0.31), want: Failed, value: "[0.31]"},
		{name: "every sample", kind: KindMetric, condition: "result.all(v, v < 0.05)", result: metric(0.01, 0.2), want: Failed},
		{name: "by label", kind: KindMetric, condition: `samples.exists(s, s.labels.cluster == "eu-1" && s.value < 1.0)`, result: metric(0.5), want: Passed},
		// No data never passes, even for a condition that would accept an empty vector.
		{name: "no data", kind: KindMetric, condition: "result.all(v, v < 0.05)", result: metric(), want: Inconclusive, err: "no data"},
		{name: "index out of range", kind: KindMetric, condition: "result[1] < 0.05", result: metric(0.01), want: Inconclusive, err: "evaluating"},
		// 0/0: an error rate with no traffic at all says nothing.
		{name: "NaN", kind: KindMetric, condition: "result[0] < 0.05", result: MetricResult{Samples: []Sample{{Value: nan()}}}, want: Inconclusive, err: "NaN"},

		{name: "http ok", kind: KindHTTP, condition: "result.code == 200 && result.latencySeconds < 0.5",
			result: HTTPResult{Code: 200, Latency: 20 * time.Millisecond}, want: Passed, value: "HTTP 200 in 20ms"},
		{name: "http slow", kind: KindHTTP, condition: "result.code == 200 && result.latencySeconds < 0.5",
			result: HTTPResult{Code: 200, Latency: 900 * time.Millisecond}, want: Failed},
		{name: "http body", kind: KindHTTP, condition: `result.body.contains("ok")`, result: HTTPResult{Code: 200, Body: "all ok"}, want: Passed},
		{name: "http json", kind: KindHTTP, condition: `result.json.status == "green"`, result: HTTPResult{Code: 200, Body: `{"status":"red"}`}, want: Failed},
		{name: "http json that is not json", kind: KindHTTP, condition: `result.json.status == "green"`, result: HTTPResult{Code: 200, Body: `<html>`}, want: Inconclusive, err: "evaluating"},

		{name: "job succeeded", kind: KindJob, result: JobResult{Succeeded: true}, want: Passed, value: "the Job succeeded"},
		{name: "job failed", kind: KindJob, result: JobResult{LogTail: "FAIL: checkout returned 500\n"}, want: Failed, value: "the Job failed: FAIL: checkout returned 500"},
		{name: "job log", kind: KindJob, condition: `result.succeeded && !result.logTail.contains("WARN")`, result: JobResult{Succeeded: true, LogTail: "WARN slow"}, want: Failed},

		{name: "a result of another kind", kind: KindMetric, condition: "true", result: HTTPResult{Code: 200}, want: Inconclusive, err: "cannot judge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(tc.kind, tc.condition)
			if err != nil {
				t.Fatal(err)
			}
			got, value, err := c.Judge(tc.result)
			if got != tc.want {
				t.Errorf("outcome %s (%v), want %s", got, err, tc.want)
			}
			if tc.value != "" && value != tc.value {
				t.Errorf("value %q, want %q", value, tc.value)
			}
			if (err != nil) != (tc.err != "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
			if got == Inconclusive && err == nil {
				t.Error("an inconclusive measurement without a reason")
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		kind      Kind
		condition string
		err       string
	}{
		{KindMetric, "", "needs a condition"},
		{KindHTTP, "  ", "needs a condition"},
		{KindMetric, "result[0] +", "Syntax error"},
		{KindMetric, "result[0]", "not bool"},
		{KindMetric, "nosuch < 1.0", "undeclared reference"},
		{KindMetric, strings.Repeat("true && ", 200) + "true", "more than 1024"},
		{"Smoke", "true", "unknown check kind"},
	} {
		if _, err := Compile(tc.kind, tc.condition); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Compile(%s, %.40q) = %v, want an error with %q", tc.kind, tc.condition, err, tc.err)
		}
	}
}

// A condition cannot run away with the hub's CPU.
func TestConditionCostIsBounded(t *testing.T) {
	c, err := Compile(KindMetric, "result.all(a, result.all(b, result.all(c, a + b + c >= 0.0)))")
	if err != nil {
		t.Fatal(err)
	}
	r := MetricResult{}
	for range 1000 {
		r.Samples = append(r.Samples, Sample{Value: 1})
	}
	got, _, err := c.Judge(r)
	if got != Inconclusive || err == nil || !strings.Contains(err.Error(), "cost") {
		t.Errorf("a cubic condition over 1,000 samples: %s, %v; want Inconclusive over the cost limit", got, err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// A whole-wave vector that names clusters must name every cluster judged:
// a cluster whose series stopped is missing from it, and a condition over
// the others passed without it.
func TestJudgeWaveNeedsEveryClustersSample(t *testing.T) {
	labelled := func(label string, clusters ...string) MetricResult {
		r := MetricResult{Clusters: []string{"eu-1", "eu-2", "us-1"}}
		for _, c := range clusters {
			r.Samples = append(r.Samples, Sample{Labels: map[string]string{label: c}, Value: 0.01})
		}
		return r
	}
	for _, tc := range []struct {
		name      string
		condition string
		result    MetricResult
		label     string
		want      Outcome
		err       string
	}{
		{name: "every cluster", condition: "result.all(r, r < 0.05)", result: labelled("cluster", "eu-1", "eu-2", "us-1"), want: Passed},
		{name: "one missing", condition: "result.all(r, r < 0.05)", result: labelled("cluster", "eu-1", "eu-2"), want: Inconclusive,
			err: "no sample for us-1 (label cluster): a cluster missing from the vector is not measured"},
		{name: "one missing, failed anyway", condition: "result.all(r, r < 0.001)", result: labelled("cluster", "eu-1"), want: Failed},
		// Clusters outside the wave do not stand for one in it.
		{name: "others instead", condition: "true", result: labelled("cluster", "eu-1", "eu-2", "ap-1"), want: Inconclusive, err: "us-1"},
		// Aggregated over the clusters: no sample names one.
		{name: "aggregated", condition: "result[0] < 0.05", result: MetricResult{Samples: []Sample{{Value: 0.01}}, Clusters: []string{"eu-1"}}, want: Passed},
		{name: "another label, presumed", condition: "true", result: labelled("k8s_cluster", "eu-1"), want: Passed},
		{name: "another label, named", condition: "true", result: labelled("k8s_cluster", "eu-1"), label: "k8s_cluster", want: Inconclusive, err: "eu-2, us-1 (label k8s_cluster)"},
		// A label the check names is required, aggregated away or not.
		{name: "named, aggregated away", condition: "true", result: MetricResult{Samples: []Sample{{Value: 1}}, Clusters: []string{"eu-1"}}, label: "cluster", want: Inconclusive, err: "eu-1"},
		// The condition sees the clusters judged.
		{name: "clusters in the condition", condition: `clusters.size() == 3 && clusters.all(c, samples.exists(s, s.labels.cluster == c))`,
			result: labelled("cluster", "eu-1", "eu-2", "us-1"), want: Passed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(KindMetric, tc.condition)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := c.JudgeWave(tc.result, tc.label)
			if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("%s, %v; want %s with %q", got, err, tc.want, tc.err)
			}
		})
	}
}

// A condition over `clusters` sees an empty list, never an error, where
// the caller names none.
func TestClustersIsAList(t *testing.T) {
	c, err := Compile(KindMetric, "clusters.size() == 0")
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := c.Judge(MetricResult{Samples: []Sample{{Value: 1}}}); got != Passed {
		t.Errorf("%s, %v", got, err)
	}
}
