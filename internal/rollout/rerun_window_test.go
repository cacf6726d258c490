package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// measureDue takes the measurements the last plan listed as due, all with
// outcome, at now, and plans with them.
func (f *fixture) measureDue(outcome verify.Outcome) {
	f.t.Helper()
	f.measureDueFailing(outcome, "")
}

// measureDueFailing measures every due check with outcome ([0.01]), but on
// cluster failing, where it fails ([0.3]), and plans.
func (f *fixture) measureDueFailing(outcome verify.Outcome, failing string) {
	f.t.Helper()
	var ms []rollout.Measurement
	for _, task := range f.d.Measure {
		for _, c := range task.Clusters {
			m := rollout.Measurement{Wave: task.Wave, Check: task.Check.Name, Cluster: c.Name,
				Measurement: verify.Measurement{At: f.in.Now, Outcome: outcome, Value: "[0.01]"}}
			if c.Name == failing {
				m.Outcome, m.Value = verify.Failed, "[0.3]"
			}
			ms = append(ms, m)
		}
	}
	f.in.Measurements = ms
	f.plan()
	f.in.Measurements = nil
}

// The attack: the canary's error-rate check fails the change (failureLimit
// 0), and, half a minute before the bake's end, a team member (who may
// re-run a check of its instance's Rollout) re-runs it: the next
// measurement, the one at the bake's end, passed the check on its own, and
// the canary completed on one measurement where the strategy asked for ten
// minutes of them (the earlier ones showing the change bad). A re-run
// measures a whole bake again: its check passes only with a passing
// measurement a bakeTime after the re-run.
func TestARerunMeasuresAWholeBake(t *testing.T) {
	s := strategy(wave("canary", bake(10*time.Minute), failures("100%")), wave("general", catchAll, approval))
	c := metricCheck("errors", "result[0] < 0.05")
	s.Waves[0].Checks = []fleetv1alpha1.Check{c}
	f := newFixture(t, s, cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1").plan() // baking from 1m to 11m
	f.at(2 * time.Minute).plan()
	f.measureDue(verify.Failed)
	if f.wave("canary").Checks[0].Verdict != fleetv1alpha1.CheckFailed {
		t.Fatalf("check %+v, want failed", f.wave("canary").Checks[0])
	}
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckRerun,
		ChangeRecord: record("alice", t0.Add(10*time.Minute+30*time.Second), "flaky")}}
	f.at(10*time.Minute + 30*time.Second).plan()
	f.measureDue(verify.Passed)
	for m := 11 * time.Minute; m <= 12*time.Minute; m += time.Minute {
		f.at(m).plan()
		f.measureDue(verify.Passed)
	}
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseBaking {
		t.Fatalf("canary %s at 12m, check %+v: want it baking until a bakeTime of passing measurements after the re-run", w.Phase, w.Checks[0])
	}
	for m := 13 * time.Minute; m <= 21*time.Minute; m += time.Minute {
		f.at(m).plan()
		f.measureDue(verify.Passed)
	}
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Fatalf("canary %s at 21m, check %+v: want it complete a bakeTime after the re-run", w.Phase, w.Checks[0])
	}
}

// The attack: a re-run's window lasts a whole bake from its start, and the
// hub took that start from the agents' reports, the earliest of them. A
// hostile agent of one canary cluster reported the new run begun an hour
// before the re-run, so the window "ended" at the bake's end, and the
// honest member's single passing measurement after the re-run passed the
// check for the whole canary (as TestARerunMeasuresAWholeBake forbids):
// the hostile agent decided the other cluster's verdict. A re-run's window
// starts when the hub records it, whatever an agent says.
func TestAnAgentCannotBackdateARerunsWindow(t *testing.T) {
	f := agentCheckCanary(t, "c-1", "c-2")
	f.agentReports("c-1", 1, passing(t0.Add(-time.Hour), t0.Add(11*time.Minute)))
	f.agentReports("c-2", 1, passing(t0.Add(10*time.Minute+40*time.Second), t0.Add(11*time.Minute)))
	f.at(11*time.Minute + 5*time.Second).plan()
	f.at(11*time.Minute + 10*time.Second).plan()
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseBaking {
		t.Fatalf("canary %s at 11m10s, check %+v: a backdated report ended the re-run's window for every member", w.Phase, w.Checks[0])
	}
	if ck := f.wave("canary").Checks[0]; ck.Since == nil || !ck.Since.Time.Equal(t0.Add(10*time.Minute+30*time.Second)) {
		t.Errorf("the re-run's window since %v, want when the hub recorded the re-run (10m30s)", ck.Since)
	}
	f.agentReports("c-1", 1, passing(t0.Add(-time.Hour), t0.Add(20*time.Minute+30*time.Second)))
	f.agentReports("c-2", 1, passing(t0.Add(10*time.Minute+40*time.Second), t0.Add(20*time.Minute+30*time.Second)))
	f.at(20*time.Minute + 31*time.Second).plan()
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("canary %s a whole bake after the re-run, check %+v", w.Phase, w.Checks[0])
	}
}

// The attack: a team member (who may re-run a check of its instance's
// Rollout) re-ran the canary's check after the canary had completed with
// one cluster failed by it: the re-run forgot the check's states, a wave
// that is over is never measured again, so the failure was simply gone —
// the canary read Succeeded, the cluster healthy, and the Rollout ended
// "Succeeded, 0 failed" (and its failure no longer counted against a
// budget over the whole target set). A re-run of a check of a wave that is
// over, or of a Rollout rolling back or over, is not applied: its verdict
// stands.
func TestARerunDoesNotEraseTheFailuresOfAWaveThatIsOver(t *testing.T) {
	f := canaryOverWithACheckFailure(t, fleetv1alpha1.CheckRerun, "team-a-dev")
	canary := f.wave("canary")
	if canary.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || canary.Checks[0].Verdict != fleetv1alpha1.CheckFailed || canary.Checks[0].Run != 0 {
		t.Errorf("canary %s, check %s (run %d): a re-run after the wave erased its failure", canary.Phase, canary.Checks[0].Verdict, canary.Checks[0].Run)
	}
	wantStillFailedByItsCheck(t, f)
}

// canaryOverWithACheckFailure runs a canary of two clusters whose check
// fails c-2 to its end (SucceededWithFailures), then has by write action on
// that check and runs the rest of the Rollout, every cluster healthy.
func canaryOverWithACheckFailure(t *testing.T, action fleetv1alpha1.CheckActionType, by string) *fixture {
	t.Helper()
	s := strategy(wave("canary", bake(10*time.Minute), failures("1")), wave("general", catchAll, bake(10*time.Minute)))
	s.Waves[0].Checks = []fleetv1alpha1.Check{metricCheck("errors", "result[0] < 0.05")}
	f := newFixture(t, s, cluster("c-1", "ring", "canary"), cluster("c-2", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).healthy("c-1", "c-2").plan()
	f.at(2 * time.Minute).plan()
	f.measureDueFailing(verify.Passed, "c-2")
	for m := 3 * time.Minute; m <= 12*time.Minute; m += time.Minute {
		f.at(m).plan()
		f.measureDue(verify.Passed)
	}
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || f.d.Status.Counts.Failed != 1 {
		t.Fatalf("canary %s, %d failed; want it complete with c-2 failed by its check", w.Phase, f.d.Status.Counts.Failed)
	}
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: action,
		ChangeRecord: record(by, f.in.Now, "after the wave")}}
	f.at(13 * time.Minute).plan()
	for m := 14 * time.Minute; m <= 30*time.Minute; m += time.Minute {
		f.at(m).healthyAll().plan()
	}
	return f
}

// wantStillFailedByItsCheck wants the Rollout over with c-2 failed by its check.
func wantStillFailedByItsCheck(t *testing.T, f *fixture) {
	t.Helper()
	if st := f.d.Status; st.Phase != fleetv1alpha1.RolloutPhaseSucceeded || st.Counts.Failed != 1 || len(st.Failures) != 1 ||
		st.Failures[0].Reason != fleetv1alpha1.ReasonAnalysisFailed {
		t.Errorf("rollout %s, %d failed, failures %+v; want c-2 still failed by its check", st.Phase, st.Counts.Failed, st.Failures)
	}
}

// The same through a check that runs while clusters progress (when:
// Progress): once the wave bakes, its window is over, so a re-run in the
// bake forgot the failure it had found during the progress and was never
// measured again: the failed cluster recovered and the canary completed
// without a failure. Such a re-run is not applied either.
func TestARerunDoesNotEraseTheFailuresOfAProgressCheckInTheBake(t *testing.T) {
	s := strategy(wave("canary", bake(10*time.Minute), failures("1")), wave("general", catchAll, bake(10*time.Minute)))
	c := metricCheck("errors", "result[0] < 0.05")
	c.When = fleetv1alpha1.CheckDuringProgress
	s.Waves[0].Checks = []fleetv1alpha1.Check{c}
	f := newFixture(t, s, cluster("c-1", "ring", "canary"), cluster("c-2", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(30 * time.Second).plan()
	f.measureDueFailing(verify.Passed, "c-2")
	if f.d.Status.Counts.Failed != 1 {
		t.Fatalf("%d failed, want c-2 failed by its check (check %+v)", f.d.Status.Counts.Failed, f.wave("canary").Checks)
	}
	f.at(time.Minute).healthy("c-1", "c-2").plan()
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: "canary", Check: "errors", Action: fleetv1alpha1.CheckRerun,
		ChangeRecord: record("team-a-dev", f.in.Now, "flaky")}}
	for m := 3 * time.Minute; m <= 14*time.Minute; m += time.Minute {
		f.at(m).plan()
	}
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || f.d.Status.Counts.Failed != 1 {
		t.Errorf("canary %s, %d failed, check %+v: a re-run in the bake erased what the progress check found", w.Phase, f.d.Status.Counts.Failed, w.Checks[0])
	}
}
