package rollout_test

import (
	"slices"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A whole-wave check's query reads every admitted cluster (.Clusters), but
// its measurement judges those in its window: the healthy ones through the
// bake. A cluster that failed within the budget, whose series may well have
// stopped, is not one the vector must name (verify.Condition.JudgeWave).
func TestAWholeWaveCheckJudgesTheClustersInItsWindow(t *testing.T) {
	s := strategy(wave("canary", bake(10*time.Minute), failures("1")), wave("general", catchAll))
	c := metricCheck("errors", "result.all(v, v < 0.05)")
	c.Scope = fleetv1alpha1.CheckWholeWave
	c.Metric.Query = `max by (cluster) (errors{cluster=~{{ regex .Clusters }}})`
	s.Waves[0].Checks = []fleetv1alpha1.Check{c}
	f := newFixture(t, s, append(clusters("c", 3, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.wantAdmitted("c-1", "c-2", "c-3")
	f.at(time.Minute).healthy("c-1", "c-2").failing("c-3").plan()
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if len(f.d.Measure) != 1 {
		t.Fatalf("measures %+v, want the canary's check", f.d.Measure)
	}
	task := f.d.Measure[0]
	var queried []string
	for _, tc := range task.Clusters {
		queried = append(queried, tc.Name)
	}
	if !slices.Equal(queried, []string{"c-1", "c-2", "c-3"}) || !slices.Equal(task.Judged, []string{"c-1", "c-2"}) {
		t.Errorf("queries %v judging %v; want every admitted cluster queried, the healthy ones judged", queried, task.Judged)
	}
}
