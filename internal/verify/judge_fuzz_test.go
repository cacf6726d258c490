package verify

import (
	"testing"
	"time"
)

// FuzzJudgeAResponse judges what a team's workload answers an HTTP check
// (or exports for a metric query) with the platform's conditions: any body,
// status and samples are a verdict or an Inconclusive error, never a panic,
// and a condition's evaluation stays within its cost bound.
//
//	go test ./internal/verify -run '^$' -fuzz FuzzJudgeAResponse -fuzztime 1m
func FuzzJudgeAResponse(f *testing.F) {
	f.Add(200, `{"status":"ok","items":[{"ready":true,"name":"a"}]}`, 0.01, "cluster", "eu-1")
	f.Add(500, `[[[[[[[[[[1]]]]]]]]]]`, -1.0, "", "")
	f.Add(-1, `{"items":[{"ready":"yes","name":1}],"status":null}`, 1e308, "__name__", "x\x00")
	f.Add(0, `{"items":{"ready":true}}`, 0.0, "code", "5..")
	http := []string{
		`result.code == 200`,
		`result.code == 200 && result.json.status == "ok"`,
		`result.body.contains("ok") && result.latencySeconds < 1.0`,
		`result.json.items.all(i, i.ready)`,
		`size(result.json.items) > 0 && result.json.items.exists(i, i.name.matches("^a+$"))`,
	}
	metric := []string{
		`result[0] < 0.05`,
		`result.all(v, v < 0.05)`,
		`samples.exists(s, s.labels.cluster == "eu-1" && s.value > 0.0)`,
		`size(samples.filter(s, s.labels["code"].startsWith("5"))) == 0`,
	}
	var conds []*Condition
	for _, src := range http {
		c, err := Compile(KindHTTP, src)
		if err != nil {
			f.Fatal(err)
		}
		conds = append(conds, c)
	}
	for _, src := range metric {
		c, err := Compile(KindMetric, src)
		if err != nil {
			f.Fatal(err)
		}
		conds = append(conds, c)
	}
	f.Fuzz(func(t *testing.T, code int, body string, value float64, label, labelValue string) {
		results := []any{
			HTTPResult{Code: code, Body: body, Latency: 20 * time.Millisecond},
			MetricResult{Samples: []Sample{{Labels: map[string]string{label: labelValue}, Value: value}, {Value: -value}}},
		}
		for _, c := range conds {
			for _, r := range results {
				outcome, _, err := c.Judge(r)
				switch {
				case err != nil && outcome != Inconclusive:
					t.Fatalf("%s: %s with an error: %v", c, outcome, err)
				case err == nil && outcome != Passed && outcome != Failed:
					t.Fatalf("%s: %q without an error", c, outcome)
				}
			}
		}
		_ = SplitBy(results[1].(MetricResult), label)
	})
}
