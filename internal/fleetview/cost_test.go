package fleetview

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// hostileDriftSnapshot is a fleet of 1,000 clusters running 5 Works each,
// healthy, and one cluster whose agent reports, on each of its 100 Works,
// as many drifted resources as a Work's status may hold (1,000), every one
// naming an exception the Work carries, so the view judges each.
func hostileDriftSnapshot() Snapshot {
	s := Snapshot{Now: now}
	for c := range 1000 {
		name := fmt.Sprintf("c-%04d", c)
		s.Clusters = append(s.Clusters, cluster(name, fleetv1alpha1.ClusterAvailabilityAvailable, nil))
		for i := range 5 {
			s.Works = append(s.Works, work(name, "web", fmt.Sprintf("shop-%d", i), "r-1", "r-1", healthy))
		}
	}
	s.Clusters = append(s.Clusters, cluster("hostile", fleetv1alpha1.ClusterAvailabilityAvailable, nil))
	for i := range 100 {
		w := withException(work("hostile", "web", fmt.Sprintf("inst-%03d", i), "r-1", "r-1", healthy), "team-a/hotfix", now.Add(time.Hour))
		for j := range 1000 {
			r := drifted("ConfigMap", "team-a", fmt.Sprintf("cm-%04d", j), fleetv1alpha1.DriftUnexplained, time.Duration(j+1)*time.Second, "team-a/hotfix", "data.x")
			r.Drift.AcceptedFields = []string{"data.y"}
			w.Status.Resources = append(w.Status.Resources, r)
		}
		s.Works = append(s.Works, w)
	}
	return s
}

// BenchmarkBuildWithAnAgentsDrift is the cost of one fleet view (every
// metrics scrape, every dashboard refresh, `flotilla status`) when one
// agent reports 100,000 drifted resources.
func BenchmarkBuildWithAnAgentsDrift(b *testing.B) {
	s := hostileDriftSnapshot()
	b.ResetTimer()
	for b.Loop() {
		_ = Build(s)
	}
}

// The attack: a member's agent reports, on each of its cluster's 100 Works,
// 1,000 drifted resources (as many as a Work's status holds). Every fleet
// view (each metrics scrape on the hub, each dashboard refresh, `flotilla
// status`) listed, sorted and carried all 100,000, about 170 MB and a third
// of a second of CPU on an idle machine (docs/benchmarks.md), for a list that
// shows 50. A view now keeps for its list at most MaxDriftItems of each
// Work's drift in each state; the counts stay whole, so the view still says
// how much drift it does not list.
func TestAnAgentsDriftCostsTheViewABoundPerWork(t *testing.T) {
	s := hostileDriftSnapshot()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := Build(s)
	runtime.ReadMemStats(&after)
	if d := v.Drift; d.Resources.Total != 100_000 || len(d.Items) != MaxDriftItems {
		t.Errorf("drift: %d resources counted, %d listed; want 100000 and %d", d.Resources.Total, len(d.Items), MaxDriftItems)
	}
	// 30 MB: what judging and counting each resource takes, not listing it.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 48<<20 {
		t.Errorf("one view allocated %d MB; want at most 48", alloc>>20)
	}
}
