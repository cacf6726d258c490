package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// startErrorRates starts a server of each cluster's error ratio (0.01 to
// begin with) and a real Prometheus that has scraped it.
func startErrorRates(t *testing.T, clusters ...string) (*testenv.MetricExporter, *testenv.Prometheus) {
	t.Helper()
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	rates := testenv.StartMetricExporter(t)
	for _, c := range clusters {
		rates.Set(c, 0.01)
	}
	prom := testenv.StartPrometheus(t, bin, rates.Target())
	rates.WaitScraped(t)
	return rates, prom
}

// errorRateCheck is a hub check of each cluster's error ratio.
func errorRateCheck(address string) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{
		Name:              "error-rate",
		Metric:            &fleetv1alpha1.MetricCheck{Placement: fleetv1alpha1.CheckOnHub, Address: address, Query: `app_error_ratio{cluster="{{ .Cluster }}"}`},
		Condition:         "result[0] < 0.05",
		Interval:          &metav1.Duration{Duration: time.Second},
		InconclusiveLimit: 2,
	}
}

// The hub measures a hub-placed check through each wave's bake against a
// real Prometheus: with healthy ratios every wave passes and the Rollout
// succeeds; when the canary's ratio rises, its check fails the cluster
// (AnalysisFailed, naming the check, the value and the condition), the
// canary's budget is breached and the Rollout rolls back.
func TestHubChecks(t *testing.T) {
	s := newStory(t, "hubchecks.example.com")
	rates, prom := startErrorRates(t, "hubchecks-c1", "hubchecks-g1", "hubchecks-g2")
	bake := func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: 3 * time.Second} }
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "hubchecks"},
		Spec: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{wave("canary", bake), wave("general", bake)},
			OnFailure: fleetv1alpha1.FailureRollback, Checks: []fleetv1alpha1.Check{errorRateCheck(prom.URL)}},
	})
	r1 := s.givenSite("hubchecks", "hubchecks")

	name, r2 := s.release("hubchecks", "2", r1)
	s.moves("hubchecks", r2, "hubchecks-c1")
	s.reportReady("hubchecks", "hubchecks-team", "hubchecks-c1")
	s.moves("hubchecks", r2, "hubchecks-g1", "hubchecks-g2")
	s.reportReady("hubchecks", "hubchecks-team", "hubchecks-g1", "hubchecks-g2")
	ro := s.waitRollout(name, "succeeded", phaseIs(fleetv1alpha1.RolloutPhaseSucceeded))
	for _, w := range ro.Status.Waves {
		if len(w.Checks) != 1 || w.Checks[0].Verdict != fleetv1alpha1.CheckPassed || !strings.Contains(w.Checks[0].Marks, "+") {
			t.Errorf("wave %s checks %+v", w.Name, w.Checks)
		}
	}
	s.hasEvent(name, "Normal CheckPassed wave canary: check error-rate: Passed")

	rates.Set("hubchecks-c1", 0.3)
	rates.WaitScraped(t)
	name, r3 := s.release("hubchecks", "3", r2)
	s.moves("hubchecks", r3, "hubchecks-c1")
	s.reportReady("hubchecks", "hubchecks-team", "hubchecks-c1")
	ro = s.waitRollout(name, "rolled back", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
	})
	if len(ro.Status.Failures) != 1 || ro.Status.Failures[0].Reason != fleetv1alpha1.ReasonAnalysisFailed ||
		!strings.Contains(ro.Status.Failures[0].Message, "check error-rate failed: [0.3] does not satisfy result[0] < 0.05") {
		t.Errorf("failures %+v", ro.Status.Failures)
	}
	s.hasEvent(name, "Warning FailureBudgetExceeded wave canary: 1 of 1 clusters failed, more than its budget of 0: hubchecks-c1 (AnalysisFailed)")
	s.stays("hubchecks", r2, "hubchecks-g1", "hubchecks-g2")
}

// An endpoint the hub cannot reach makes the check inconclusive: the wave
// holds (Stalled, CheckInconclusive) and nothing is admitted past it; a
// person's skip, recorded with a reason, lets it carry on.
func TestUnreachableCheckHoldsTheWave(t *testing.T) {
	s := newStory(t, "nocheck.example.com")
	bake := func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: 2 * time.Second} }
	check := errorRateCheck("http://127.0.0.1:1")
	check.InconclusiveLimit = 1
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "nocheck"},
		Spec: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{wave("canary", bake), wave("general")},
			Checks: []fleetv1alpha1.Check{check}},
	})
	r1 := s.givenSite("nocheck", "nocheck")
	name, r2 := s.release("nocheck", "2", r1)
	s.moves("nocheck", r2, "nocheck-c1")
	s.reportReady("nocheck", "nocheck-team", "nocheck-c1")
	ro := s.waitRollout(name, "held by its inconclusive check", func(ro *fleetv1alpha1.Rollout) bool {
		return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonCheckInconclusive
	})
	if ck := ro.Status.Waves[0].Checks[0]; ck.Verdict != fleetv1alpha1.CheckInconclusive || !strings.Contains(ck.Message, "connection refused") {
		t.Errorf("check %+v", ck)
	}
	s.stays("nocheck", r1, "nocheck-g1", "nocheck-g2")
	if ro := s.rollout(name); ro.Status.CurrentWave != "canary" || ro.Status.Phase != fleetv1alpha1.RolloutPhaseBaking {
		t.Errorf("phase %s wave %s", ro.Status.Phase, ro.Status.CurrentWave)
	}

	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.CheckActions = append(ro.Spec.CheckActions, fleetv1alpha1.CheckAction{Wave: "canary", Check: "error-rate",
			Action: fleetv1alpha1.CheckSkip, ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", Message: "prometheus is being migrated"}})
	})
	s.moves("nocheck", r2, "nocheck-g1", "nocheck-g2")
	ro = s.rollout(name)
	if sk := ro.Status.Waves[0].Checks[0]; sk.Verdict != fleetv1alpha1.CheckSkipped || sk.Skipped == nil || sk.Skipped.By != "alice" {
		t.Errorf("skipped check %+v", sk)
	}
	s.hasEvent(name, "Warning CheckSkipped wave canary: check error-rate skipped by alice: prometheus is being migrated")
}
