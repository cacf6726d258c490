package rollout

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// BenchmarkHubChecksWaveOf1000Clusters: the Rollout controller's check path
// for a baking 1,000-cluster wave against a real Prometheus holding every
// cluster's error ratio — Plan lists the due check, measureChecks takes it,
// Plan runs again with the 1,000 measurements — per-cluster (1,000 queries,
// 8 in flight) and grouped (one query, clusterLabel). Goal (issue 17):
// within one check interval (30 s by default).
//
//	go test -run '^$' -bench HubChecksWaveOf1000Clusters -benchtime 3x ./internal/controller/rollout/
func BenchmarkHubChecksWaveOf1000Clusters(b *testing.B) {
	const n = 1000
	bin := testenv.NeedDebianPackage(b, "prometheus", testenv.PrometheusBinary)
	rates := testenv.StartMetricExporter(b)
	var clusters []rollout.ClusterObservation
	for i := range n {
		name := fmt.Sprintf("c%04d", i)
		rates.Set(name, 0.01)
		clusters = append(clusters, rollout.ClusterObservation{Name: name, Online: true, Revision: "r1", AppliedRevision: "r1",
			Health: rollout.HealthHealthy})
	}
	prom := testenv.StartPrometheus(b, bin, rates.Target())
	rates.WaitScraped(b)

	for _, tc := range []struct {
		name  string
		query string
		label string
	}{
		{"per-cluster", `app_error_ratio{cluster="{{ .Cluster }}"}`, ""},
		{"grouped", `app_error_ratio{cluster=~{{ regex .Clusters }}}`, "cluster"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			check := fleetv1alpha1.Check{Name: "error-rate", Condition: "result[0] < 0.05", Interval: &metav1.Duration{Duration: 30 * time.Second},
				Metric: &fleetv1alpha1.MetricCheck{Address: prom.URL, Query: tc.query, ClusterLabel: tc.label}}
			in := bakingWave(b, clusters, check)
			r := &Reconciler{}
			ro := &fleetv1alpha1.Rollout{Spec: in.Spec}
			for b.Loop() {
				in.Now = time.Now() // Prometheus is queried at the plan's time
				d, err := rollout.Plan(in)
				if err != nil || len(d.Measure) != 1 || len(d.Measure[0].Clusters) != n {
					b.Fatalf("plan: %v, %d tasks", err, len(d.Measure))
				}
				start := time.Now()
				ms := r.measureChecks(context.Background(), ro, d.Measure, in.Now)
				measured := time.Since(start)
				with := in
				with.Measurements = ms
				start = time.Now()
				d, err = rollout.Plan(with)
				planned := time.Since(start)
				if err != nil || len(d.Measure) != 0 || d.Status.Waves[0].Checks[0].Counts.Passing+d.Status.Waves[0].Checks[0].Counts.Passed != n {
					b.Fatalf("plan with measurements: %v, checks %+v, first %+v", err, d.Status.Waves[0].Checks[0].Counts, ms[0])
				}
				b.ReportMetric(measured.Seconds(), "s/measure")
				b.ReportMetric(float64(planned.Microseconds())/1000, "ms/plan")
			}
		})
	}
}

// bakingWave is the input of a plan of one 1,000-cluster wave, every
// cluster healthy on the target and baking, its check due.
func bakingWave(b *testing.B, clusters []rollout.ClusterObservation, check fleetv1alpha1.Check) rollout.Input {
	b.Helper()
	t0 := time.Now().Add(-31 * time.Second).Truncate(time.Second) // the plan runs now: Prometheus is queried at its time
	in := rollout.Input{
		Now: t0,
		Strategy: fleetv1alpha1.RolloutStrategySpec{Checks: []fleetv1alpha1.Check{check},
			Waves: []fleetv1alpha1.Wave{{Name: "all", BakeTime: &metav1.Duration{Duration: 10 * time.Minute}}}},
		Spec:     fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: "r1", TargetRevision: "r2"},
		Clusters: append([]rollout.ClusterObservation(nil), clusters...),
	}
	d, err := rollout.Plan(in)
	if err != nil {
		b.Fatal(err)
	}
	in.Status, in.Now = d.Status, t0.Add(30*time.Second)
	for i := range in.Clusters {
		c := &in.Clusters[i]
		c.Revision, c.AppliedRevision, c.AdmittedAt, c.HealthSince = "r2", "r2", t0, t0.Add(10*time.Second)
	}
	if d, err = rollout.Plan(in); err != nil || d.Status.Phase != fleetv1alpha1.RolloutPhaseBaking {
		b.Fatalf("not baking: %v %s", err, d.Status.Phase)
	}
	in.Status, in.Now = d.Status, in.Now.Add(time.Second)
	return in
}
