package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack (bad luck as much as a hostile team): a whole-wave check
// reads each cluster's error ratio, `max by (cluster)` over the wave's
// clusters, and passes when every value is under the limit. A failing
// cluster whose metrics stopped reaching the endpoint (its application, or
// its scrape, broken with the change) is not in the vector at all, so the
// condition held over the others and the wave passed its check: a verdict
// on a cluster nobody measured. A whole-wave measurement whose samples name
// clusters (by the label `cluster`) must now name every cluster it judges:
// one missing is Inconclusive, and the wave holds for a person.
func TestAWholeWaveCheckDoesNotPassWithoutAClustersSamples(t *testing.T) {
	s := newStory(t, "wavecover.example.com")
	rates, prom := startErrorRates(t, "wavecover-c1", "wavecover-g1", "wavecover-g2")
	bake := func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: 3 * time.Second} }
	check := fleetv1alpha1.Check{
		Name:  "wave-errors",
		Scope: fleetv1alpha1.CheckWholeWave,
		Metric: &fleetv1alpha1.MetricCheck{Placement: fleetv1alpha1.CheckOnHub, Address: prom.URL,
			Query: `max by (cluster) (app_error_ratio{cluster=~{{ regex .Clusters }}})`},
		Condition:         "result.all(r, r < 0.05)",
		Interval:          &metav1.Duration{Duration: time.Second},
		InconclusiveLimit: 1,
	}
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "wavecover"},
		Spec: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{wave("canary", bake), wave("general", bake)},
			Checks: []fleetv1alpha1.Check{check}},
	})
	r1 := s.givenSite("wavecover", "wavecover")

	// g2's change breaks it, and its metrics stop with it.
	rates.Remove("wavecover-g2")
	rates.WaitScraped(t)
	name, r2 := s.release("wavecover", "2", r1)
	s.moves("wavecover", r2, "wavecover-c1")
	s.reportReady("wavecover", "wavecover-team", "wavecover-c1")
	s.moves("wavecover", r2, "wavecover-g1", "wavecover-g2")
	s.reportReady("wavecover", "wavecover-team", "wavecover-g1", "wavecover-g2")
	ro := s.waitRollout(name, "held, or passed", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded ||
			promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonCheckInconclusive
	})
	if ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded {
		t.Fatalf("the Rollout succeeded, its whole-wave check passed without g2's samples: %+v", ro.Status.Waves[1].Checks)
	}
	if ro.Status.CurrentWave != "general" {
		t.Fatalf("held in wave %s, want general", ro.Status.CurrentWave)
	}
	ck := ro.Status.Waves[1].Checks[0]
	if ck.Verdict != fleetv1alpha1.CheckInconclusive || !strings.Contains(ck.Message, "wavecover-g2") {
		t.Errorf("general's check %s: %s; want it inconclusive, naming wavecover-g2", ck.Verdict, ck.Message)
	}
	if c := ro.Status.Waves[0].Checks[0]; c.Verdict != fleetv1alpha1.CheckPassed {
		t.Errorf("canary's check %s: %s; want it passed (its one cluster reports)", c.Verdict, c.Message)
	}
}
