package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// farFuture is a time a hostile agent may write into its Works' status
// (a condition's lastTransitionTime, a check's measurement times): the agent
// writes those itself.
var farFuture = time.Date(2099, time.January, 1, 0, 0, 0, 0, time.UTC)

// A member that says it became healthy in 2099 does not hold its wave's bake
// (and every later wave) until then.
func TestAFutureHealthSinceDoesNotHoldTheBake(t *testing.T) {
	s := strategy(wave("all", catchAll, concurrency("100%"), bake(10*time.Minute)), wave("next", bake(time.Minute)))
	f := newFixture(t, s, cluster("honest"), cluster("hostile"))
	f.plan()
	f.at(time.Minute).healthyAll()
	f.update("hostile", func(o *rollout.ClusterObservation) { o.HealthSince = farFuture })
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "all")
	f.at(12 * time.Minute).plan()
	if w := f.wave("all"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("wave all %s after its bake: %s", w.Phase, f.condition(fleetv1alpha1.ConditionReady).Message)
	}
}

// A member that says its health changed in 2099 does not escape its
// progress deadline, which stops one cluster from holding a rollout forever.
func TestAFutureHealthSinceDoesNotEscapeTheProgressDeadline(t *testing.T) {
	s := strategy(wave("all", catchAll, concurrency("100%"), deadline(10*time.Minute), failures("1")), wave("next"))
	f := newFixture(t, s, cluster("honest"), cluster("hostile"))
	f.plan()
	f.at(time.Minute).healthy("honest")
	f.update("hostile", func(o *rollout.ClusterObservation) { o.HealthSince = farFuture })
	f.plan()
	f.at(12 * time.Minute).plan()
	st := f.d.Status
	if st.Counts.Failed != 1 {
		t.Errorf("at 12m: %d failed, want the hostile cluster failed past its deadline (phase %s: %s)", st.Counts.Failed, st.Phase,
			f.condition(fleetv1alpha1.ConditionReady).Message)
	}
}

// An agent-placed check: each member's agent reports its own measurements.
// One member that dates its measurement in 2099 does not turn the other
// members' passing measurements into ones "taken before the last tick"
// (held forever); its own report is not believed: it is not measured.
func TestAFutureCheckMeasurementDoesNotHoldTheOthers(t *testing.T) {
	s := strategy(wave("all", catchAll, concurrency("100%"), bake(10*time.Minute)), wave("next", bake(time.Minute)))
	s.Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 1.0",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}}}
	f := newFixture(t, s, cluster("honest"), cluster("hostile"))
	f.plan()
	f.at(time.Minute).healthyAll()
	f.plan()
	report := func(c string, since, last time.Time) {
		f.update(c, func(o *rollout.ClusterObservation) {
			o.Checks = []rollout.AgentCheck{{Name: "errors", State: verify.State{Since: since, Measurements: 30,
				Last: &verify.Measurement{At: last, Outcome: verify.Passed, Value: "[0]"}}}}
		})
	}
	report("honest", t0.Add(time.Minute), t0.Add(11*time.Minute+30*time.Second))
	report("hostile", t0.Add(time.Minute), farFuture)
	f.at(12 * time.Minute).plan()
	ck := f.wave("all").Checks[0]
	if ck.Marks != "+." || ck.LastMeasuredAt == nil || ck.LastMeasuredAt.After(f.in.Now) {
		t.Errorf("marks %q (honest, hostile), lastMeasuredAt %v: want the honest member passed, the hostile not measured", ck.Marks, ck.LastMeasuredAt)
	}
	// Once it reports a believable passing measurement, the wave completes.
	report("hostile", t0.Add(time.Minute), t0.Add(12*time.Minute))
	f.at(12*time.Minute + 10*time.Second).plan()
	if w := f.wave("all"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("wave all %s after its bake, both members passed: %s", w.Phase, f.condition(fleetv1alpha1.ConditionReady).Message)
	}
}

// Two members' agents measure on their own schedules: the one that measured
// earlier (past the bake's end) has passed too, not "not measured at the
// last tick" (which held such a wave forever).
func TestAgentChecksMeasuredAtDifferentTimesPass(t *testing.T) {
	s := strategy(wave("all", catchAll, concurrency("100%"), bake(10*time.Minute)), wave("next", bake(time.Minute)))
	s.Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 1.0",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}}}
	f := newFixture(t, s, cluster("a"), cluster("b"))
	f.plan()
	f.at(time.Minute).healthyAll()
	f.plan()
	report := func(c string, last time.Time) {
		f.update(c, func(o *rollout.ClusterObservation) {
			o.Checks = []rollout.AgentCheck{{Name: "errors", State: verify.State{Since: t0.Add(time.Minute), Measurements: 30,
				Last: &verify.Measurement{At: last, Outcome: verify.Passed, Value: "[0]"}}}}
		})
	}
	// A measurement before the bake's end passes nothing.
	report("a", t0.Add(10*time.Minute+30*time.Second))
	report("b", t0.Add(11*time.Minute+20*time.Second))
	f.at(11*time.Minute + 30*time.Second).plan()
	if w := f.wave("all"); w.Phase == fleetv1alpha1.WavePhaseSucceeded {
		t.Fatal("wave all succeeded, a member last measured before the bake's end")
	}
	report("a", t0.Add(11*time.Minute+35*time.Second))
	report("b", t0.Add(11*time.Minute+50*time.Second))
	f.at(12 * time.Minute).plan()
	if ck := f.wave("all").Checks[0]; ck.Verdict != fleetv1alpha1.CheckPassed || ck.Marks != "++" {
		t.Errorf("check %s, marks %q: want Passed on both", ck.Verdict, ck.Marks)
	}
	if w := f.wave("all"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("wave all %s: %s", w.Phase, f.condition(fleetv1alpha1.ConditionReady).Message)
	}
}

// A team member may resume its Rollouts, and so write spec.stateChange,
// whose time is theirs to set. One dated in the future, written while the
// rollout ran, is no resume when it halts later: the rollout stays halted
// once its failures clear, and no "resume requested" is recorded for it
// at every plan. Resuming for real, dated now, still works.
func TestAResumeDatedAheadDoesNotPreArmAHalt(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 3)...)
	f.plan()
	f.in.Spec.StateChange = ptr(record("mallory", farFuture, "pre-armed"))
	f.at(time.Minute).failing("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	entries := len(f.d.Status.History)
	for i := 2; i <= 4; i++ {
		f.at(time.Duration(i) * time.Minute).plan()
	}
	f.at(5 * time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	f.wantAdmitted()
	if n := len(f.d.Status.History); n != entries {
		t.Errorf("%d history entries after the halt, want none: %+v", n-entries, f.lastHistory())
	}
	f.in.Spec.StateChange = ptr(record("oncall", t0.Add(6*time.Minute), "checked"))
	f.at(6 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	if h := f.lastHistory(); h.Actor != "oncall" {
		t.Errorf("history %+v", h)
	}
}

// The attack: an agent reports its Work's check as failed (failures past
// the limit) with no decisive measurement, which it writes itself. The
// hub's plan read the decisive measurement's time and panicked, at every
// look: the platform's Rollout never moved again, neither forward nor
// back, a Rollback FleetFreeze included, and said nothing of why. The
// cluster fails its check now, as of the plan that saw it.
func TestACheckFailedWithoutADecisiveMeasurementDoesNotStopThePlan(t *testing.T) {
	s := strategy(wave("canary", failures("0"), bake(time.Hour), func(w *fleetv1alpha1.Wave) {
		w.Selector = &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "canary"}}
	}), wave("general", catchAll))
	s.Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 1.0",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}}}
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.update("c-1", func(o *rollout.ClusterObservation) {
		o.Checks = []rollout.AgentCheck{{Name: "errors", State: verify.State{Since: t0.Add(time.Minute), Measurements: 5, Failures: 5}}}
	})
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if len(f.d.Status.Failures) != 1 || f.d.Status.Failures[0].Cluster != "c-1" ||
		f.d.Status.Failures[0].Reason != fleetv1alpha1.ReasonAnalysisFailed || !f.d.Status.Failures[0].Time.Time.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("failures %+v, want c-1 failed its check at the plan that saw it", f.d.Status.Failures)
	}
}

// A canary cluster that failed a verification check (within the canary's
// budget) was judged healthy again once the platform switched the Rollout
// to Immediate, whose merged wave runs no checks and kept no check
// verdict: the Rollout ended Succeeded, "0 failed". The merged wave now
// keeps the failures of the waves it merges.
func TestSwitchingToImmediateKeepsACheckFailure(t *testing.T) {
	f := switchToImmediateAfterACheckFailure(t)
	f.at(5 * time.Minute).healthyAll().plan()
	if f.d.Status.FailureCount != 1 {
		t.Errorf("%d failures, phase %s: want c-1's check failure kept", f.d.Status.FailureCount, f.d.Status.Phase)
	}
	if fs := f.d.Status.Failures; len(fs) != 1 || fs[0].Cluster != "c-1" || fs[0].Reason != fleetv1alpha1.ReasonAnalysisFailed ||
		!strings.Contains(fs[0].Message, "check errors failed before the switch to Immediate: [5]") {
		t.Errorf("failures %+v, want c-1's check failure, its value", fs)
	}
}

// A person may still skip the carried check for the Immediate wave, as for
// any wave: its failure then counts no more.
func TestACheckFailureCarriedIntoImmediateCanBeSkipped(t *testing.T) {
	f := switchToImmediateAfterACheckFailure(t)
	f.in.Spec.CheckActions = []fleetv1alpha1.CheckAction{{Wave: rollout.ImmediateWaveName, Check: "errors", Action: fleetv1alpha1.CheckSkip,
		ChangeRecord: record("sec", t0.Add(5*time.Minute), "the errors were the old revision's")}}
	f.at(5 * time.Minute).healthyAll().plan()
	if f.d.Status.FailureCount != 0 || f.d.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded {
		t.Errorf("%d failures, phase %s: want the skipped check's failure gone", f.d.Status.FailureCount, f.d.Status.Phase)
	}
	if cs := f.d.Status.Waves[0].Checks; len(cs) != 1 || cs[0].Skipped == nil || cs[0].Skipped.By != "sec" {
		t.Errorf("Immediate wave checks %+v, want errors skipped by sec", cs)
	}
}

// switchToImmediateAfterACheckFailure runs a canary whose cluster c-1
// fails its check (within the canary's budget), then switches the Rollout
// to Immediate.
func switchToImmediateAfterACheckFailure(t *testing.T) *fixture {
	f := canaryWithAnAgentCheck(t)
	m := &verify.Measurement{At: t0.Add(2 * time.Minute), Outcome: verify.Failed, Value: "[5]"}
	f.update("c-1", func(o *rollout.ClusterObservation) {
		o.Checks = []rollout.AgentCheck{{Name: "errors", State: verify.State{Since: t0.Add(time.Minute), Measurements: 5, Failures: 5, Last: m, Decisive: m}}}
	})
	f.at(3 * time.Minute).plan()
	return switchToImmediateAt4m(f)
}

// A canary cluster's agent measured its check failed before the platform
// switched the Rollout to Immediate, but its report reached the hub only
// after the switch: no plan had written the failure into the canary's
// status, so the merged wave carried nothing, the Immediate wave measures
// nothing, and the Rollout ended Succeeded, "0 failed". The merged wave
// now keeps the run each cluster was measured in: a failure of that run,
// measured before the switch, counts when it arrives.
func TestACheckFailureReportedAfterTheSwitchToImmediateCounts(t *testing.T) {
	f := switchToImmediateBeforeAReport(t)
	m := &verify.Measurement{At: t0.Add(3*time.Minute + 30*time.Second), Outcome: verify.Failed, Value: "[7]"}
	f.update("c-2", func(o *rollout.ClusterObservation) {
		o.Checks = []rollout.AgentCheck{{Name: "errors", State: verify.State{Since: t0.Add(time.Minute), Measurements: 3, Failures: 3, Last: m, Decisive: m}}}
	})
	f.at(5 * time.Minute).healthyAll().plan()
	if fs := f.d.Status.Failures; len(fs) != 1 || fs[0].Cluster != "c-2" || fs[0].Reason != fleetv1alpha1.ReasonAnalysisFailed ||
		!strings.Contains(fs[0].Message, "check errors failed before the switch to Immediate: [7]") {
		t.Fatalf("failures %+v (phase %s), want c-2's check failure, its value", fs, f.d.Status.Phase)
	}
	// Kept: the agent's report may go once its Work no longer carries the check.
	f.update("c-2", func(o *rollout.ClusterObservation) { o.Checks = nil })
	f.at(6 * time.Minute).plan()
	if f.d.Status.FailureCount != 1 {
		t.Errorf("%d failures, phase %s: want c-2's late failure kept", f.d.Status.FailureCount, f.d.Status.Phase)
	}
}

// Only a failure of the run the cluster was measured in, measured in its
// wave before the switch, is carried: not one measured after the switch
// (the Immediate wave runs no checks), not an older run's a person re-ran,
// and not a state begun before the wave (an earlier wave's run).
func TestOnlyAFailureMeasuredBeforeTheSwitchToImmediateIsCarried(t *testing.T) {
	late := &verify.Measurement{At: t0.Add(4*time.Minute + 2*rollout.MaxClockSkew), Outcome: verify.Failed, Value: "[7]"}
	early := &verify.Measurement{At: t0.Add(3 * time.Minute), Outcome: verify.Failed, Value: "[7]"}
	for name, report := range map[string]struct {
		cluster string
		check   rollout.AgentCheck
	}{
		"measured after the switch": {"c-2", rollout.AgentCheck{Name: "errors",
			State: verify.State{Since: t0.Add(time.Minute), Measurements: 3, Failures: 3, Last: late, Decisive: late}}},
		"an older run": {"c-2", rollout.AgentCheck{Name: "errors", Run: -1,
			State: verify.State{Since: t0.Add(time.Minute), Measurements: 3, Failures: 3, Last: early, Decisive: early}}},
		"a state begun before the wave": {"c-2", rollout.AgentCheck{Name: "errors",
			State: verify.State{Since: t0.Add(-time.Minute), Measurements: 3, Failures: 3, Last: early, Decisive: early}}},
	} {
		t.Run(name, func(t *testing.T) {
			f := switchToImmediateBeforeAReport(t)
			f.update(report.cluster, func(o *rollout.ClusterObservation) { o.Checks = []rollout.AgentCheck{report.check} })
			f.at(5 * time.Minute).healthyAll().plan()
			if f.d.Status.FailureCount != 0 || f.d.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded {
				t.Errorf("%d failures, phase %s: want nothing carried", f.d.Status.FailureCount, f.d.Status.Phase)
			}
		})
	}
}

// switchToImmediateBeforeAReport runs a canary whose clusters are healthy
// and whose check has no report yet, then switches the Rollout to
// Immediate.
func switchToImmediateBeforeAReport(t *testing.T) *fixture {
	f := canaryWithAnAgentCheck(t)
	f.at(3 * time.Minute).plan()
	return switchToImmediateAt4m(f)
}

// canaryWithAnAgentCheck runs a canary of two clusters (c-1, c-2), healthy
// since 1m, baking for an hour under an agent-placed check, before a
// general wave of eight.
func canaryWithAnAgentCheck(t *testing.T) *fixture {
	s := strategy(wave("canary", failures("1"), bake(time.Hour), func(w *fleetv1alpha1.Wave) {
		w.Selector = &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "canary"}}
	}), wave("general", catchAll))
	s.Checks = []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] < 1.0",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `errors`, Placement: fleetv1alpha1.CheckOnAgent}}}
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 8)...)...)
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	return f
}

// switchToImmediateAt4m switches f's Rollout to Immediate at 4m, by sec.
func switchToImmediateAt4m(f *fixture) *fixture {
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "now"}
	f.in.Spec.PolicyChange = ptr(record("sec", t0.Add(4*time.Minute), "now"))
	f.at(4 * time.Minute).plan()
	return f
}
