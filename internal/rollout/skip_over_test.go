package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// The platform skipping a check of a canary that had completed with one
// cluster failed by it (SucceededWithFailures): the skip made the check
// count for nothing, so the failure was gone: the canary read Succeeded and
// the Rollout ended "Succeeded, 0 failed". Like a re-run, a skip of a check
// of a wave that is over is not applied: the verdict stands.
func TestASkipDoesNotEraseTheFailuresOfAWaveThatIsOver(t *testing.T) {
	s := strategy(wave("canary", bake(10*time.Minute), failures("1")), wave("general", catchAll, bake(10*time.Minute)))
	s.Waves[0].Checks = []fleetv1alpha1.Check{metricCheck("errors", "result[0] < 0.05")}
	f := newFixture(t, s, cluster("c-1", "ring", "canary"), cluster("c-2", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1", "c-2").plan()
	f.at(2 * time.Minute).plan()
	for _, task := range f.d.Measure {
		for _, c := range task.Clusters {
			m := rollout.Measurement{Wave: task.Wave, Check: task.Check.Name, Cluster: c.Name,
				Measurement: verify.Measurement{At: f.in.Now, Outcome: verify.Passed, Value: "[0.01]"}}
			if c.Name == "c-2" {
				m.Outcome, m.Value = verify.Failed, "[0.3]"
			}
			f.in.Measurements = append(f.in.Measurements, m)
		}
	}
	f.plan()
	f.in.Measurements = nil
	for m := 3 * time.Minute; m <= 12*time.Minute; m += time.Minute {
		f.at(m).plan()
		f.measureDue(verify.Passed)
	}
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckSkip,
		ChangeRecord: record("pat", f.in.Now, "noisy")}}
	f.at(13 * time.Minute).plan()
	for m := 14 * time.Minute; m <= 30*time.Minute; m += time.Minute {
		f.at(m).healthyAll().plan()
	}
	if canary := f.wave("canary"); canary.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || canary.Checks[0].Verdict != fleetv1alpha1.CheckFailed ||
		canary.Checks[0].Skipped != nil {
		t.Errorf("canary %s, check %s (skipped %v): a skip after the wave erased its failure", canary.Phase, canary.Checks[0].Verdict, canary.Checks[0].Skipped)
	}
	if st := f.d.Status; st.Phase != fleetv1alpha1.RolloutPhaseSucceeded || st.Counts.Failed != 1 || len(st.Failures) != 1 {
		t.Errorf("rollout %s, %d failed, failures %+v; want c-2 still failed by its check", st.Phase, st.Counts.Failed, st.Failures)
	}
}
