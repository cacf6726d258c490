package rollout_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

func metricCheck(name, condition string) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{Name: name, Condition: condition, Interval: &metav1.Duration{Duration: time.Minute},
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors{cluster="{{ .Cluster }}"}`}}
}

func TestResolveChecks(t *testing.T) {
	errs, lat, smoke := metricCheck("errors", "result[0] < 0.05"), metricCheck("latency", "result[0] < 0.5"), metricCheck("smoke", "true")
	strictErrs := metricCheck("errors", "result[0] < 0.01")
	looseErrs := metricCheck("errors", "result[0] < 0.2")
	s := fleetv1alpha1.RolloutStrategySpec{
		Checks: []fleetv1alpha1.Check{errs, lat},
		Waves: []fleetv1alpha1.Wave{
			{Name: "canary", Checks: []fleetv1alpha1.Check{strictErrs}},
			{Name: "prod", Checks: []fleetv1alpha1.Check{smoke}},
		},
	}
	show := func(cs []fleetv1alpha1.Check) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+":"+c.Condition)
		}
		return strings.Join(out, ", ")
	}
	for _, tc := range []struct {
		wave    string
		promise []fleetv1alpha1.Check
		skip    []string
		want    string
	}{
		{wave: "canary", want: "errors:result[0] < 0.01, latency:result[0] < 0.5"},
		{wave: "prod", want: "errors:result[0] < 0.05, latency:result[0] < 0.5, smoke:true"},
		// The implicit last wave takes the last wave's.
		{wave: fleetv1alpha1.ImplicitWaveName, want: "errors:result[0] < 0.05, latency:result[0] < 0.5, smoke:true"},
		// The Promise replaces by name, in every wave, and adds.
		{wave: "canary", promise: []fleetv1alpha1.Check{looseErrs, metricCheck("queue", "true")}, want: "errors:result[0] < 0.2, latency:result[0] < 0.5, queue:true"},
		{wave: "prod", skip: []string{"latency", "smoke"}, want: "errors:result[0] < 0.05"},
		{wave: rollout.ImmediateWaveName, want: ""},
	} {
		if got := show(rollout.ResolveChecks(s, tc.wave, tc.promise, tc.skip)); got != tc.want {
			t.Errorf("wave %s, promise %v, skip %v:\n got %s\nwant %s", tc.wave, show(tc.promise), tc.skip, got, tc.want)
		}
	}
	if s.Waves[0].Checks[0].Condition != "result[0] < 0.01" || len(s.Checks) != 2 {
		t.Error("ResolveChecks changed the strategy")
	}
}

// A check that cannot run stalls the Rollout at its start with a clear
// reason, never a panic: a condition that does not compile, a query
// template that does not parse, a shape the engine cannot measure.
func TestInvalidCheckBlocks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		check fleetv1alpha1.Check
		err   string
	}{
		{"condition", metricCheck("errors", "result[0] <"), "Syntax error"},
		{"not bool", metricCheck("errors", "result[0]"), "not bool"},
		{"query", func() fleetv1alpha1.Check {
			c := metricCheck("errors", "true")
			c.Metric.Query = "up{cluster={{ .Cluster }"
			return c
		}(), "query template"},
		{"query that loops for ever", func() fleetv1alpha1.Check {
			c := metricCheck("errors", "true")
			c.Metric.Query = "{{ range 1000000000000 }}{{ end }}up"
			return c
		}(), "more than 100000 steps"},
		{"clusterLabel on an agent", func() fleetv1alpha1.Check {
			c := metricCheck("errors", "true")
			c.Metric.Placement, c.Metric.ClusterLabel = fleetv1alpha1.CheckOnAgent, "cluster"
			return c
		}(), "needs placement Hub"},
		{"none", fleetv1alpha1.Check{Name: "nothing", Condition: "true"}, "exactly one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := strategy(wave("canary", bake(time.Minute)))
			s.Checks = []fleetv1alpha1.Check{tc.check}
			f := newFixture(t, s, cluster("canary-1", "wave", "canary"))
			_, err := rollout.Plan(f.in)
			var ce *rollout.CheckError
			if !errors.As(err, &ce) || ce.Check != tc.check.Name || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Plan: %v; want a CheckError about %s with %q", err, tc.check.Name, tc.err)
			}
			// The controller reports it as PlanBlocked does.
			d := rollout.PlanBlocked(f.in, rollout.Blocked{Reason: fleetv1alpha1.ReasonInvalidCheck, Message: err.Error()})
			if c := findCondition(d.Status.Conditions, fleetv1alpha1.ConditionStalled); c == nil || c.Reason != fleetv1alpha1.ReasonInvalidCheck {
				t.Errorf("Stalled: %+v", c)
			}
		})
	}
}

// A 10,000-cluster wave whose check failed on every cluster keeps its
// status small: one mark per cluster and 10 clusters in full; the rest read
// back conservatively as failed.
func TestCheckStatusStaysSmall(t *testing.T) {
	const n = 10000
	s := strategy(wave("all", catchAll, concurrency("100%"), failures("100%"), bake(time.Minute)))
	s.Checks = []fleetv1alpha1.Check{metricCheck("errors", "result[0] < 0.05")}
	f := newFixture(t, s, clusters("c", n)...)
	f.plan() // starts, admits all
	f.at(time.Minute).healthyAll()
	f.plan() // baking; the checks' window opens
	var ms []rollout.Measurement
	for _, name := range f.wave("all").Clusters {
		ms = append(ms, rollout.Measurement{Wave: "all", Check: "errors", Cluster: name,
			Measurement: verify.Measurement{At: f.in.Now, Outcome: verify.Failed, Value: "[0.31]"}})
	}
	f.in.Measurements = ms
	f.plan()
	f.in.Measurements = nil
	ck := f.wave("all").Checks[0]
	if ck.Verdict != fleetv1alpha1.CheckFailed || ck.Counts.Failed != n || len(ck.Clusters) != fleetv1alpha1.MaxCheckDetails {
		t.Fatalf("check: verdict %s, counts %+v, %d in full", ck.Verdict, ck.Counts, len(ck.Clusters))
	}
	data, _ := json.Marshal(ck)
	if len(data) > 20_000 {
		t.Errorf("the check's status is %d bytes", len(data))
	}
	if f.wave("all").Counts.Failed != n {
		t.Errorf("failed clusters %d, want %d", f.wave("all").Counts.Failed, n)
	}
	// Planned again from the stored status: the same.
	before, _ := json.Marshal(f.d.Status.Waves[0].Checks)
	f.plan()
	if after, _ := json.Marshal(f.d.Status.Waves[0].Checks); string(after) != string(before) {
		t.Errorf("planning from the stored status changed the checks:\n%.2000s\n%.2000s", before, after)
	}
}
