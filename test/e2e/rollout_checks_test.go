package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Verification checks (issue 17) on the rollout fleet: a real Prometheus on
// loopback scrapes a small server whose error ratio per member the story
// sets, and the hub's error-rate check reads it.

// errorRatios is the server of the members' error ratios and the
// Prometheus that scrapes it.
type errorRatios struct {
	app  *testenv.MetricExporter
	prom *testenv.Prometheus
}

// checkedRollout carries the check stories' Promise from one to the next.
type checkedRollout struct {
	// startRatios starts the error ratios' server and Prometheus for the
	// rest of the stories (not a subtest's).
	startRatios func() *errorRatios
	ratios      *errorRatios
	w           web
	ns          string
	goodRev     string
	finished    bool
}

func startErrorRatios(t *testing.T) *errorRatios {
	t.Helper()
	bin := testenv.NeedDebianPackage(t, "prometheus", testenv.PrometheusBinary)
	r := &errorRatios{app: testenv.StartMetricExporter(t)}
	for _, m := range allMembers {
		r.app.Set(m, 0.01)
	}
	r.prom = testenv.StartPrometheus(t, bin, r.app.Target())
	r.app.WaitScraped(t)
	return r
}

// set sets a member's error ratio and waits until Prometheus has it.
func (r *errorRatios) set(t *testing.T, member string, ratio float64) {
	t.Helper()
	r.app.Set(member, ratio)
	r.app.WaitScraped(t)
}

// errorRateCheck is the hub's per-cluster check of the error ratio.
func errorRateCheck(address string, inconclusiveLimit int32) fleetv1alpha1.Check {
	return fleetv1alpha1.Check{
		Name: "error-rate",
		Metric: &fleetv1alpha1.MetricCheck{Placement: fleetv1alpha1.CheckOnHub, Address: address,
			Query: `app_error_ratio{cluster="{{ .Cluster }}"}`},
		Condition:         "result[0] < 0.05",
		Interval:          &metav1.Duration{Duration: time.Second},
		InconclusiveLimit: inconclusiveLimit,
	}
}

// Story: a release whose Pods are all Ready, but whose error ratio rises on
// a canary member, fails the canary's check during its bake: the member is
// failed with AnalysisFailed naming the check and the value, the budget of
// 0 is breached and the Rollout rolls back by itself; no later wave is
// touched.
func (c *checkedRollout) failingStory(t *testing.T, f *rolloutFleet) {
	c.ratios = c.startRatios()
	c.w, c.ns = webPromise("web-checked"), "team-checked"
	f.givenStrategy("checked", ringsStrategy(func(s *fleetv1alpha1.RolloutStrategySpec) {
		s.Waves[0].BakeTime = &metav1.Duration{Duration: 5 * time.Second}
		s.Checks = []fleetv1alpha1.Check{errorRateCheck(c.ratios.prom.URL, 2)}
	}))
	c.goodRev = f.givenWebSite(c.w, "checked", c.ns)

	// The new release doubles member-1's errors while its Pods stay Ready.
	c.ratios.set(t, "member-1", 0.3)
	name := f.whenImageChanges(c.w, webV2)
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseRolledBack, 2*time.Minute)
	t.Logf("%s", describe(ro))
	target := ro.Spec.TargetRevision
	var found bool
	for _, fl := range ro.Status.Failures {
		if fl.Cluster == "member-1" && fl.Reason == fleetv1alpha1.ReasonAnalysisFailed &&
			strings.Contains(fl.Message, "check error-rate failed: [0.3] does not satisfy result[0] < 0.05") {
			found = true
		}
	}
	if !found {
		t.Errorf("failures %+v, want member-1 AnalysisFailed naming the check and the value", ro.Status.Failures)
	}
	canary := wave(ro, "canary")
	if canary.Phase != fleetv1alpha1.WavePhaseFailed || len(canary.Checks) != 1 || canary.Checks[0].Verdict != fleetv1alpha1.CheckFailed {
		t.Errorf("canary wave %+v", canary)
	}
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(c.w.promise, target, later...); len(got) > 0 {
		t.Errorf("clusters %v outside the canary rendered the release that failed its check", got)
	}
	f.thenWebRuns(c.ns, "shop", webV1, 30*time.Second, allMembers...)
	f.thenRolloutEvent(name, "Warning", "CheckFailed")
	f.thenRolloutEvent(name, "Warning", fleetv1alpha1.ReasonFailureBudgetExceeded)
	c.finished = true
}

// Story: the same release with a healthy error ratio passes every wave's
// check through its bake and completes.
func (c *checkedRollout) passingStory(t *testing.T, f *rolloutFleet) {
	if !c.finished {
		t.Skip("needs the previous story's Promise and Prometheus")
	}
	c.ratios.set(t, "member-1", 0.01)
	name := f.whenImageChanges(c.w, webV3)
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	for _, w := range ro.Status.Waves {
		if len(w.Checks) != 1 || w.Checks[0].Verdict != fleetv1alpha1.CheckPassed || int(w.Checks[0].Counts.Passed) != len(w.Clusters) {
			t.Errorf("wave %s: checks %+v", w.Name, w.Checks)
		}
	}
	f.thenWebRuns(c.ns, "shop", webV3, 30*time.Second, allMembers...)
	f.thenRolloutEvent(name, "Normal", "CheckPassed")
}

// Story: Prometheus cannot be reached: the canary's check is inconclusive,
// the wave holds (Stalled, CheckInconclusive) and nothing is admitted past
// it; a person skips the check for the canary, with a reason, and the
// rollout carries on.
func blindCheckStory(t *testing.T, f *rolloutFleet) {
	w, ns := webPromise("web-blind"), "team-blind"
	down := testenv.FreeAddr(t)
	f.givenStrategy("blind", ringsStrategy(func(s *fleetv1alpha1.RolloutStrategySpec) {
		s.Waves[0].BakeTime = &metav1.Duration{Duration: 2 * time.Second}
		s.Waves[0].Checks = []fleetv1alpha1.Check{errorRateCheck("http://"+down, 1)}
	}))
	f.givenWebSite(w, "blind", ns)

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRollout(name, "held by its inconclusive check", time.Minute, func(ro *fleetv1alpha1.Rollout) bool {
		return conditionIs(ro, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, fleetv1alpha1.ReasonCheckInconclusive)
	})
	if ck := wave(ro, "canary").Checks; len(ck) != 1 || ck[0].Verdict != fleetv1alpha1.CheckInconclusive || !strings.Contains(ck[0].Message, "connection refused") {
		t.Errorf("canary checks %+v", ck)
	}
	time.Sleep(3 * time.Second) // held: nothing moves past the canary meanwhile
	ro = f.rollout(name)
	later := append(slices.Clone(earlyMembers), generalMembers...)
	if got := f.works.rendered(w.promise, ro.Spec.TargetRevision, later...); len(got) > 0 || ro.Status.CurrentWave != "canary" {
		t.Fatalf("clusters %v admitted past the held canary: %s", got, describe(ro))
	}
	f.thenRolloutEvent(name, "Warning", fleetv1alpha1.ReasonCheckInconclusive)

	skip := change("e2e-operator")
	skip["wave"], skip["check"], skip["action"], skip["message"] = "canary", "error-rate", "Skip", "prometheus is being migrated"
	f.patchRollout(name, map[string]any{"checkActions": []any{skip}})
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	if ck := wave(ro, "canary").Checks[0]; ck.Verdict != fleetv1alpha1.CheckSkipped || ck.Skipped == nil || ck.Skipped.By != "e2e-operator" {
		t.Errorf("skipped check %+v", ck)
	}
	f.thenRolloutEvent(name, "Warning", "CheckSkipped")
}
