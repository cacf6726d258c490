package measure

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/testenv"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// BenchmarkWaveOf1000Clusters: the hub's metric checks for a 1,000-cluster
// wave against a real Prometheus holding every cluster's request counters,
// as 1,000 per-cluster queries (8 in flight) and as one grouped query. Goal
// (issue 17): well within one check interval (30 s by default).
//
//	go test -run '^$' -bench WaveOf1000Clusters -benchtime 3x ./internal/measure/
func BenchmarkWaveOf1000Clusters(b *testing.B) {
	const clusters = 1000
	bin := testenv.NeedDebianPackage(b, "prometheus", testenv.PrometheusBinary)
	app := testenv.StartMetricExporter(b)
	names := make([]string, clusters)
	for i := range names {
		names[i] = fmt.Sprintf("c%04d", i)
		app.Set(names[i], 0.01)
	}
	prom := testenv.StartPrometheus(b, bin, app.Target())
	client := &Prometheus{URL: prom.URL}
	ctx := context.Background()
	cond, err := verify.Compile(verify.KindMetric, "result[0] < 0.05")
	if err != nil {
		b.Fatal(err)
	}
	queries := make([]string, clusters)
	for i, n := range names {
		if queries[i], err = verify.RenderQuery(errorRate, verify.QueryVars{Cluster: n}); err != nil {
			b.Fatal(err)
		}
	}
	grouped, err := verify.RenderQuery(`sum by (cluster) (rate(app_requests_total{cluster=~{{ regex .Clusters }},code="500"}[5s]))
	/ sum by (cluster) (rate(app_requests_total{cluster=~{{ regex .Clusters }}}[5s]))`, verify.QueryVars{Clusters: names})
	if err != nil {
		b.Fatal(err)
	}
	groupedCond, err := verify.Compile(verify.KindMetric, "result.size() == 1000 && result.all(v, v < 0.05)")
	if err != nil {
		b.Fatal(err)
	}
	// Wait until every cluster has a rate.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		m := Metric(ctx, client, groupedCond, grouped, nil, time.Now())
		if m.Outcome == verify.Passed {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("no rate for every cluster within 60 s: %+v", m)
		}
	}

	b.Run("per-cluster", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			for i, m := range MetricEach(ctx, client, cond, queries, names, time.Now(), 8) {
				if m.Outcome != verify.Passed {
					b.Fatalf("cluster %s: %+v", names[i], m)
				}
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/wave")
		}
	})
	b.Run("grouped", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			if m := Metric(ctx, client, groupedCond, grouped, nil, time.Now()); m.Outcome != verify.Passed {
				b.Fatalf("%+v", m)
			}
			b.ReportMetric(time.Since(start).Seconds(), "s/wave")
		}
	})
}
