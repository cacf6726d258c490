package rollout_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

// BenchmarkPlan1000Clusters and BenchmarkPlan10000Clusters time one Plan
// in the middle of a 4-wave rollout (pilot 1%, canary 9%, general 40%,
// remaining 50%): the general wave is running with clusters healthy, in
// flight and pending. The goal is under 50 ms for 10,000 clusters.
func BenchmarkPlan1000Clusters(b *testing.B)  { benchmarkPlan(b, 1000) }
func BenchmarkPlan10000Clusters(b *testing.B) { benchmarkPlan(b, 10000) }

func benchmarkPlan(b *testing.B, n int) {
	in := midRollout(b, n)
	b.ReportAllocs()
	start, cpu, plans := time.Now(), cpuTime(), 0
	for b.Loop() {
		if _, err := rollout.Plan(in); err != nil {
			b.Fatal(err)
		}
		plans++
	}
	b.ReportMetric(float64(plans)/time.Since(start).Seconds(), "plans/s")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(plans), "cpu-ms/plan")
}

// BenchmarkSimulate10000Clusters runs a whole 10,000-cluster, 4-wave
// rollout through the simulator (every Plan, every fake agent); the goal is
// under 5 s of CPU per run.
func BenchmarkSimulate10000Clusters(b *testing.B) {
	s := fleetScenario(10000)
	var res simulate.Result
	cpu, runs := cpuTime(), 0
	for b.Loop() {
		var err error
		if res, err = simulate.Run(s, simulate.Options{NoTrace: true}); err != nil {
			b.Fatal(err)
		}
		runs++
	}
	if res.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded {
		b.Fatalf("ended %s", res.Status.Phase)
	}
	b.ReportMetric(float64(res.Plans), "plans/run")
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(runs), "cpu-s/run")
}

// TestSimulate10000Clusters checks that a 10,000-cluster rollout runs to
// the end (the benchmark above measures it).
func TestSimulate10000Clusters(t *testing.T) {
	if testing.Short() {
		t.Skip("large simulation")
	}
	res, err := simulate.Run(fleetScenario(10000), simulate.Options{NoTrace: true})
	if err != nil || res.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded || res.Admissions != 10000 {
		t.Fatalf("err %v, phase %s, %d admissions", err, res.Status.Phase, res.Admissions)
	}
}

// fleetStrategy is the 4-wave strategy of the benchmarks.
func fleetStrategy() fleetv1alpha1.RolloutStrategySpec {
	w := func(name, conc, fails string, bakeTime time.Duration) fleetv1alpha1.Wave {
		return fleetv1alpha1.Wave{
			Name:           name,
			Selector:       &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}},
			MaxConcurrency: ptr(intstr.Parse(conc)), MaxFailures: ptr(intstr.Parse(fails)),
			BakeTime: &metav1.Duration{Duration: bakeTime},
		}
	}
	return strategy(w("pilot", "10", "0", 10*time.Minute), w("canary", "20%", "2%", 20*time.Minute),
		w("general", "10%", "1%", 30*time.Minute), w("high-stakes", "5%", "0", 30*time.Minute))
}

// ring spreads n clusters over the waves: 1%, 9%, 40%, 50%.
func ring(i, n int) string {
	switch p := i * 100 / n; {
	case p < 1:
		return "pilot"
	case p < 10:
		return "canary"
	case p < 50:
		return "general"
	}
	return "high-stakes"
}

func fleetScenario(n int) simulate.Scenario {
	s := simulate.Scenario{
		Rollout:  fleetv1alpha1.RolloutSpec{FromRevision: "r1", TargetRevision: "r2"},
		Strategy: fleetStrategy(),
		Fleet:    simulate.Fleet{Jitter: metav1.Duration{Duration: time.Minute}, Seed: 1, Resync: metav1.Duration{Duration: 5 * time.Second}},
	}
	for i := range n {
		s.Clusters = append(s.Clusters, simulate.ClusterGroup{
			Names: []string{fmt.Sprintf("store-%05d", i)}, Labels: map[string]string{"ring": ring(i, n)},
		})
	}
	return s
}

// midRollout plans a rollout over n clusters until its general wave is
// under way, and returns the input of the next plan.
func midRollout(tb testing.TB, n int) rollout.Input {
	cs := make([]rollout.ClusterObservation, n)
	for i := range cs {
		cs[i] = cluster(fmt.Sprintf("store-%05d", i), "ring", ring(i, n), "region", fmt.Sprintf("r%d", i%7))
	}
	in := rollout.Input{
		Now: t0, Strategy: fleetStrategy(), Clusters: cs,
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "app"}, FromRevision: from, TargetRevision: target},
	}
	for step := 0; step < 100; step++ {
		d, err := rollout.Plan(in)
		if err != nil {
			tb.Fatal(err)
		}
		in.Status = d.Status
		admitted := map[string]bool{}
		for _, a := range d.Admit {
			admitted[a.Cluster] = true
		}
		if g := d.Status.Waves[2]; g.Counts.Admitted > g.Counts.Total/2 {
			return in
		}
		// Clusters admitted earlier turn healthy; this plan's admissions
		// start converging.
		in.Now = in.Now.Add(11 * time.Minute)
		for i := range in.Clusters {
			c := &in.Clusters[i]
			switch {
			case admitted[c.Name]:
				c.Revision, c.AdmittedAt, c.Health, c.HealthSince = target, in.Now.Add(-time.Minute), rollout.HealthProgressing, in.Now.Add(-time.Minute)
			case c.Revision == target && c.Health != rollout.HealthHealthy:
				c.AppliedRevision, c.Health, c.HealthSince = target, rollout.HealthHealthy, in.Now.Add(-time.Minute)
			}
		}
	}
	tb.Fatal("the general wave never got under way")
	return in
}

// BenchmarkEndedRolloutHeld measures what one ended 10,000-cluster Rollout
// (pilot 100, canary 900, general 9,000 clusters, names of 18 characters)
// costs where it is kept: its JSON (etcd, the API server's watch cache)
// and the heap of its decoded copy (each informer of Rollouts, in the hub
// and in every dashboard or CLI watch). Every change leaves one until the
// Promise's rolloutHistoryLimit lets it go.
func BenchmarkEndedRolloutHeld(b *testing.B) {
	ro := fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: "web-6f7d", TargetRevision: "web-9c2a"},
		Status:     fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseSucceeded},
	}
	at := metav1.NewTime(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	n := 0
	for _, w := range []struct {
		name     string
		clusters int
	}{{"pilot", 100}, {"canary", 900}, {"general", 9000}} {
		ws := fleetv1alpha1.WaveStatus{Name: w.name, Phase: fleetv1alpha1.WavePhaseSucceeded, StartedAt: &at, CompletedAt: &at}
		for range w.clusters {
			ws.Clusters = append(ws.Clusters, fmt.Sprintf("edge-eu-west-%05d", n))
			n++
		}
		ws.Admitted = strings.Repeat("T", w.clusters)
		ro.Status.Waves = append(ro.Status.Waves, ws)
	}
	data, err := json.Marshal(&ro)
	if err != nil {
		b.Fatal(err)
	}
	// The loop times a decode, as an informer's list or watch does.
	for b.Loop() {
		if err := json.Unmarshal(data, &fleetv1alpha1.Rollout{}); err != nil {
			b.Fatal(err)
		}
	}
	// Then what 32 decoded copies keep on the heap.
	held := make([]*fleetv1alpha1.Rollout, 32)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range held {
		held[i] = &fleetv1alpha1.Rollout{}
		if err := json.Unmarshal(data, held[i]); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(len(data)), "json-bytes")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(len(held)), "heap-bytes/held")
	runtime.KeepAlive(held)
}
