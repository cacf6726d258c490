package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: a team whose instances are all the Promise runs on the
// canary's clusters removes them mid-wave, before the canary's checks
// measured anything (or bad luck: the canary's clusters fail within its
// budget, go offline under offlinePolicy Skip). With no cluster healthy on
// the target, the check gate let the canary complete without its checks —
// a whole-wave check the docs say must pass once — and the general wave,
// which asks no approval, started at once: the platform's error-rate check
// never measured the change anywhere. A wave whose checks run through the
// bake now does not complete with none of its clusters healthy: it waits
// for its checks ("no cluster healthy on the target to measure"), until a
// person skips them.
func TestAWaveWithNoHealthyClusterDoesNotPassItsChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		scope fleetv1alpha1.CheckScope
		// away takes the canary's clusters out of the run.
		away func(f *fixture)
	}{
		{"whole wave, clusters left", fleetv1alpha1.CheckWholeWave, func(f *fixture) {
			f.in.Clusters = slicesDelete(slicesDelete(f.in.Clusters, "c-1"), "c-2")
		}},
		{"per cluster, clusters left", fleetv1alpha1.CheckEachCluster, func(f *fixture) {
			f.in.Clusters = slicesDelete(slicesDelete(f.in.Clusters, "c-1"), "c-2")
		}},
		{"whole wave, clusters skipped offline", fleetv1alpha1.CheckWholeWave, func(f *fixture) {
			f.in.Strategy.OfflinePolicy = fleetv1alpha1.OfflineSkip
			f.online(false, "c-1", "c-2")
		}},
	} {
		scope := tc.scope
		t.Run(tc.name, func(t *testing.T) {
			s := strategy(wave("canary", bake(10*time.Minute)), wave("general", catchAll))
			c := metricCheck("errors", "result.all(v, v < 0.05)")
			c.Scope = scope
			c.Metric.Query = `errors{cluster=~{{ regex .Clusters }}}`
			s.Waves[0].Checks = []fleetv1alpha1.Check{c}
			f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
			f.plan()
			f.wantAdmitted("c-1", "c-2")
			tc.away(f)
			f.at(time.Minute).plan()
			f.at(2 * time.Minute).plan()
			if w := f.wave("general"); w.StartedAt != nil {
				t.Fatalf("the general wave started (%s) on a canary whose check measured nothing: canary %s, check %+v",
					w.Phase, f.wave("canary").Phase, f.wave("canary").Checks)
			}
			f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
			var msgs []string
			for _, c := range f.d.Status.Conditions {
				msgs = append(msgs, c.Message)
			}
			if msg := strings.Join(msgs, "\n"); !strings.Contains(msg, "waiting for checks: errors") || !strings.Contains(msg, "no cluster healthy") {
				t.Errorf("conditions %q, want them waiting for the check with no cluster to measure", msg)
			}
			// (An admitted cluster offline is still measured by a whole-wave
			// check: its metrics may reach the endpoint; it passes nothing.)
			if tc.name != "whole wave, clusters skipped offline" && len(f.d.Measure) > 0 {
				t.Errorf("measures %+v with no cluster to measure", f.d.Measure)
			}
			// A person skips the check: the canary completes, with failures.
			f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckSkip,
				ChangeRecord: record("alice", f.in.Now, "the canary's instances are gone; checked by hand")}}
			f.at(3 * time.Minute).plan()
			if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures {
				t.Fatalf("canary %s after the skip, want %s", w.Phase, fleetv1alpha1.WavePhaseSucceededWithFailures)
			}
			f.wantAdmitted("g-1", "g-2")
		})
	}
}
