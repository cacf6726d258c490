package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// FuzzAMembersReport plans a canary Rollout with an agent-placed and a
// hub-placed check while one canary's agent reports anything its Work's
// status can say: any health since any time (RFC 3339 reaches years 0 to
// 9999), any applied revision, any state of its check (counts, run,
// measurements of any outcome and time, or none). Plan never fails or
// panics on it (that would stall the Rollout, a Rollback freeze included),
// and the wave never completes on a check the report failed.
//
//	go test ./internal/rollout -run '^$' -fuzz FuzzAMembersReport -fuzztime 1m
func FuzzAMembersReport(f *testing.F) {
	f.Add(uint8(0), int64(60), uint8(2), true, int32(0), int32(5), int32(5), int32(0), int32(0), uint8(0), int64(0), uint8(0), int64(0), int64(60))
	f.Add(uint8(2), int64(1<<36), uint8(1), false, int32(-1), int32(1), int32(0), int32(9), int32(9), uint8(3), int64(-1<<36), uint8(2), int64(1<<36), int64(-60))
	f.Add(uint8(1), int64(-1), uint8(3), true, int32(1<<30), int32(-5), int32(-1<<31), int32(3), int32(2), uint8(1), int64(7200), uint8(4), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, health uint8, healthSince int64, applied uint8, online bool,
		run, measurements, failed, inconclusives, inconclusiveRun int32,
		lastOutcome uint8, lastAt int64, decisiveOutcome uint8, decisiveAt int64, checkSince int64) {
		at := func(s int64) time.Time { return t0.Add(time.Duration(s%(1<<38)) * time.Second) } // within ±8,700 years
		measurement := func(o uint8, s int64) *verify.Measurement {
			outcomes := []verify.Outcome{verify.Passed, verify.Failed, verify.Inconclusive, "Bogus"}
			if o == 0 {
				return nil
			}
			return &verify.Measurement{At: at(s), Outcome: outcomes[int(o-1)%len(outcomes)], Value: "[1]"}
		}
		s := strategy(wave("canary", failures("0"), bake(time.Hour), func(w *fleetv1alpha1.Wave) {
			w.Selector = &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "canary"}}
		}), wave("general", catchAll))
		s.Checks = []fleetv1alpha1.Check{
			{Name: "errors", Condition: "result[0] < 1.0",
				Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}},
			{Name: "hub-errors", Condition: "result[0] < 1.0",
				Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors{cluster="{{ .Cluster }}"}`}},
		}
		fx := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
		fx.plan()
		fx.at(time.Minute).healthyAll().plan()
		report := func() {
			fx.update("c-1", func(o *rollout.ClusterObservation) {
				o.Health = []rollout.Health{rollout.HealthHealthy, rollout.HealthProgressing, rollout.HealthFailed, rollout.HealthUnknown, "Bogus"}[int(health)%5]
				o.HealthSince = at(healthSince)
				o.AppliedRevision = []string{"", from, target, "app-r9"}[int(applied)%4]
				o.Online = online
				o.Checks = []rollout.AgentCheck{{Name: "errors", Run: run, State: verify.State{
					Since: at(checkSince), Measurements: measurements, Failures: failed, Inconclusives: inconclusives, InconclusiveRun: inconclusiveRun,
					Last: measurement(lastOutcome, lastAt), Decisive: measurement(decisiveOutcome, decisiveAt)}}}
			})
		}
		for _, step := range []time.Duration{3 * time.Minute, 30 * time.Minute, 2 * time.Hour, 3 * time.Hour} {
			report()
			fx.at(step).plan()
		}
		reported := fx.in.Clusters[0].Checks[0].State
		if reported.Failures > 0 && reported.Measurements >= reported.Failures && run == 0 && online {
			for _, w := range fx.d.Status.Waves {
				if w.Name == "canary" && w.Phase == fleetv1alpha1.WavePhaseSucceeded {
					t.Fatalf("the canary completed over a check c-1 reported failed (%+v)", reported)
				}
			}
		}
	})
}
