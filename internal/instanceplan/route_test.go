package instanceplan_test

import (
	"errors"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

func TestRoute(t *testing.T) {
	inst := instanceplan.InstanceSubject("db", "team-a", "orders")
	fleet := instanceplan.FleetSubject("db")
	refused := placement.Result{Violations: []placement.Violation{{Reason: fleetv1alpha1.ReasonTenancyViolation, Message: "no"}}}
	two := placement.Result{Clusters: []string{"c1", "c2"}}
	progressing, err := newRollout(inst, false, "db-r2", "r1", "r2", fleetv1alpha1.RolloutPhaseProgressing, 1, "w:c1,c2:T.")
	if err != nil {
		t.Fatal(err)
	}
	rollingBack, err := newRollout(inst, false, "db-r2", "r1", "r2", fleetv1alpha1.RolloutPhaseRollingBack, 1, "w:c1,c2:R.")
	if err != nil {
		t.Fatal(err)
	}
	rollingBack.Status.RollbackRevision = "r1"
	frozen := func(action fleetv1alpha1.FreezeAction, ro fleetv1alpha1.Rollout) instanceplan.Rollouts {
		rt := instanceplan.NewRollouts([]fleetv1alpha1.Rollout{ro}, nil, false)
		rt.Freeze = action
		return rt
	}
	type target struct{ cluster, rev, inst, wave string }
	for _, tc := range []struct {
		name     string
		facts    instanceplan.Facts
		decision instanceplan.Decision
		targets  []target
		start    *instanceplan.InstanceChange
	}{
		{name: "no revision yet", facts: instanceplan.Facts{Subject: inst, Placement: two}, decision: instanceplan.WaitForRevision},
		{name: "refused placement", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r1", Placement: refused,
			Works: []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i1")}}, decision: instanceplan.Hold},
		{name: "fleet resources are held by a placement that does not parse", facts: instanceplan.Facts{Subject: fleet, LatestRevision: "r1", Placement: refused,
			Works: []fleetv1alpha1.Work{hubWork(fleet, "c1", "r1", "")}}, decision: instanceplan.Hold},
		{name: "new Works at the latest revisions", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r1", InstanceRevision: "i1", Placement: two},
			decision: instanceplan.Render, targets: []target{{"c1", "r1", "i1", ""}, {"c2", "r1", "i1", ""}}},
		{name: "a Rollout admits c1 only", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r2", InstanceRevision: "i1", Placement: two,
			Works:    []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i1"), hubWork(inst, "c2", "r1", "i1")},
			Rollouts: instanceplan.NewRollouts([]fleetv1alpha1.Rollout{progressing}, nil, false)},
			decision: instanceplan.Render, targets: []target{{"c1", "r2", "i1", "w"}, {"c2", "r1", "i1", ""}}},
		{name: "a freeze holds the admission of c1 where it is", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r2", InstanceRevision: "i1", Placement: two,
			Works:    []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i1"), hubWork(inst, "c2", "r1", "i1")},
			Rollouts: frozen(fleetv1alpha1.FreezeRollback, progressing)},
			decision: instanceplan.Render, targets: []target{{"c1", "r1", "i1", ""}, {"c2", "r1", "i1", ""}}},
		{name: "a Rollback freeze lets a rollback move, and a new Work start", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r2", InstanceRevision: "i1", Placement: two,
			Works:    []fleetv1alpha1.Work{hubWork(inst, "c1", "r2", "i1")},
			Rollouts: frozen(fleetv1alpha1.FreezeRollback, rollingBack)},
			decision: instanceplan.Render, targets: []target{{"c1", "r1", "i1", ""}, {"c2", "r1", "i1", ""}}},
		{name: "a Halt freeze holds a rollback too", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r2", InstanceRevision: "i1", Placement: two,
			Works:    []fleetv1alpha1.Work{hubWork(inst, "c1", "r2", "i1")},
			Rollouts: frozen(fleetv1alpha1.FreezeHalt, rollingBack)},
			decision: instanceplan.Render, targets: []target{{"c1", "r2", "i1", "w"}, {"c2", "r1", "i1", ""}}},
		{name: "AdmitLatest ignores the Rollout", facts: instanceplan.Facts{Subject: inst, LatestRevision: "r2", InstanceRevision: "i1", Placement: two,
			Works:    []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i1"), hubWork(inst, "c2", "r1", "i1")},
			Rollouts: instanceplan.NewRollouts([]fleetv1alpha1.Rollout{progressing}, nil, true)},
			decision: instanceplan.Render, targets: []target{{"c1", "r2", "i1", "w"}, {"c2", "r2", "i1", "w"}}},
		{name: "fleet resources render no instance revision", facts: instanceplan.Facts{Subject: fleet, LatestRevision: "r1", InstanceRevision: "i9", Placement: two},
			decision: instanceplan.Render, targets: []target{{"c1", "r1", "", ""}, {"c2", "r1", "", ""}}},
		{name: "an instance change asks for its Rollout from the least earlier revision",
			facts: instanceplan.Facts{Subject: inst, LatestRevision: "r1", InstanceRevision: "i3", Placement: two,
				Works: []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i2"), hubWork(inst, "c2", "r1", "i1"), hubWork(inst, "c3", "r1", "i3")}},
			decision: instanceplan.Render, targets: []target{{"c1", "r1", "i2", ""}, {"c2", "r1", "i1", ""}},
			start: &instanceplan.InstanceChange{From: "i1", To: "i3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := instanceplan.Route(tc.facts)
			if rt.Decision != tc.decision {
				t.Fatalf("decision %s, want %s", rt.Decision, tc.decision)
			}
			var got []target
			for _, tg := range rt.Targets {
				wave := ""
				if tg.Rollout != nil {
					wave = tg.Rollout.Wave
				}
				got = append(got, target{tg.Cluster, tg.Revision, tg.InstanceRevision, wave})
			}
			if !slices.Equal(got, tc.targets) {
				t.Errorf("targets %v, want %v", got, tc.targets)
			}
			if (rt.StartRollout == nil) != (tc.start == nil) || (tc.start != nil && *rt.StartRollout != *tc.start) {
				t.Errorf("start %v, want %v", rt.StartRollout, tc.start)
			}
		})
	}
}

// Only the subject's own Works, written by the hub and not being deleted,
// are Existing: the only ones a plan may replace or delete.
func TestRouteOwnsOnlyTheSubjectsWorks(t *testing.T) {
	inst := instanceplan.InstanceSubject("db", "team-a", "orders")
	foreign := hubWork(inst, "c2", "r1", "i1")
	delete(foreign.Labels, fleetv1alpha1.LabelManagedBy)
	deleting := hubWork(inst, "c3", "r1", "i1")
	deleting.DeletionTimestamp = &metav1.Time{Time: epoch}
	rt := instanceplan.Route(instanceplan.Facts{Subject: inst, LatestRevision: "r1", InstanceRevision: "i1",
		Placement: placement.Result{Clusters: []string{"c1", "c2", "c3", "c4", "c5", "c6"}},
		Works: []fleetv1alpha1.Work{hubWork(inst, "c1", "r1", "i1"), foreign, deleting,
			hubWork(instanceplan.InstanceSubject("db", "team-b", "orders"), "c4", "r1", "i1"),
			hubWork(instanceplan.FleetSubject("db"), "c5", "r1", ""),
			// Another Promise's instance of the same namespace and name.
			hubWork(instanceplan.InstanceSubject("cache", "team-a", "orders"), "c6", "r1", "i1")}})
	var owned []string
	for c := range rt.Existing {
		owned = append(owned, c)
	}
	if !slices.Equal(owned, []string{"c1"}) {
		t.Errorf("owned %v, want [c1]", owned)
	}
	for _, tg := range rt.Targets {
		if (tg.Current != nil) != (tg.Cluster == "c1") {
			t.Errorf("target %s has current %v", tg.Cluster, tg.Current)
		}
	}
}

func TestSpecRollout(t *testing.T) {
	inst := instanceplan.InstanceSubject("site", "shop", "web")
	a, _ := newRollout(inst, true, "a", "i1", "i2", fleetv1alpha1.RolloutPhaseProgressing, 1)
	b, _ := newRollout(inst, true, "b", "i1", "i2", fleetv1alpha1.RolloutPhaseProgressing, 1)
	c, _ := newRollout(inst, true, "c", "i2", "i3", fleetv1alpha1.RolloutPhaseProgressing, 2)
	rs := instanceplan.NewRollouts(nil, []fleetv1alpha1.Rollout{a, b, c}, false)
	if got := rs.SpecRollout("i2"); got == nil || got.Name != "b" {
		t.Errorf("SpecRollout(i2) = %v, want b (same second, greater name)", got)
	}
	if got := rs.SpecRollout("i9"); got != nil {
		t.Errorf("SpecRollout(i9) = %s, want none", got.Name)
	}
}

func TestFinish(t *testing.T) {
	fleet := instanceplan.FleetSubject("db")
	w1, w2, w3 := hubWork(fleet, "c1", "r1", ""), hubWork(fleet, "c2", "r1", ""), hubWork(fleet, "c3", "r1", "")
	w := newWorld(fleet)
	w.latest = "r1"
	w.placement = placement.Result{Clusters: []string{"c1", "c2"}}
	w.works = []fleetv1alpha1.Work{w1, w2, w3}
	rt := instanceplan.Route(w.facts())
	p, err := instanceplan.Finish(rt, []instanceplan.Result{rt.Targets[1].Empty(), rt.Targets[0].Failed(errTest)}, w.inputs())
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range p.Delete {
		deleted = append(deleted, d.Spec.Cluster)
	}
	if len(p.Writes) != 0 || !slices.Equal(p.Keep, []string{"c1"}) || !slices.Equal(deleted, []string{"c2", "c3"}) || !errors.Is(p.Failed["c1"], errTest) {
		t.Errorf("writes %d, keep %v, delete %v, failed %v", len(p.Writes), p.Keep, deleted, p.Failed)
	}
	if _, err := instanceplan.Finish(rt, []instanceplan.Result{{Target: rt.Targets[0], Outcome: "Bogus"}}, w.inputs()); err == nil {
		t.Error("an unknown outcome is accepted")
	}
	// A cluster whose admitted revision renders while the current spec
	// does not: its Work is written, and the failure reported.
	p, err = instanceplan.Finish(rt, []instanceplan.Result{
		rt.Targets[0].RenderedAs(instanceplan.Output{}, instanceplan.Confinement{}).WithLatestFailure(errTest),
		rt.Targets[1].Empty(),
	}, w.inputs())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Writes) != 1 || p.Writes[0].Cluster != "c1" || !errors.Is(p.Failed["c1"], errTest) {
		t.Errorf("with the current spec failing: writes %+v, failed %v", p.Writes, p.Failed)
	}
	// Under a FleetFreeze the Works of the clusters left out stay.
	frozen := rt
	frozen.Frozen = true
	p, err = instanceplan.Finish(frozen, []instanceplan.Result{rt.Targets[1].Empty(), rt.Targets[0].Failed(errTest)}, w.inputs())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Delete) != 0 || !slices.Equal(p.Held, []string{"c2", "c3"}) || !slices.Equal(p.Keep, []string{"c1"}) {
		t.Errorf("frozen: delete %d, held %v, keep %v", len(p.Delete), p.Held, p.Keep)
	}
	if p.HeldFor != instanceplan.HeldForFreeze {
		t.Errorf("frozen: held for %q", p.HeldFor)
	}
	// A placement that matches no cluster (a Fleet deleted, a selector
	// mistyped) removes no Work either.
	none := rt
	none.Placement.Clusters, none.Targets = nil, nil
	if p, _ := instanceplan.Finish(none, nil, w.inputs()); len(p.Delete) != 0 || len(p.Held) != len(rt.Existing) || p.HeldFor != instanceplan.HeldForNoCluster {
		t.Errorf("placed nowhere: delete %d, held %v for %q", len(p.Delete), p.Held, p.HeldFor)
	}
	// Under a FleetFreeze a new subject (no Work anywhere yet) gets none:
	// it would land on every cluster at once, past every wave.
	w.works = nil
	fresh := instanceplan.Route(w.facts())
	fresh.Frozen = true
	rendered := []instanceplan.Result{
		fresh.Targets[0].RenderedAs(instanceplan.Output{}, instanceplan.Confinement{}),
		fresh.Targets[1].RenderedAs(instanceplan.Output{}, instanceplan.Confinement{}),
	}
	if p, err := instanceplan.Finish(fresh, rendered, w.inputs()); err != nil || len(p.Writes) != 0 || !slices.Equal(p.Waiting, []string{"c1", "c2"}) {
		t.Errorf("a new subject under a freeze: writes %d, waiting %v, err %v", len(p.Writes), p.Waiting, err)
	}
	fresh.Frozen = false
	if p, err := instanceplan.Finish(fresh, rendered, w.inputs()); err != nil || len(p.Writes) != 2 || len(p.Waiting) != 0 {
		t.Errorf("a new subject with no freeze: writes %d, waiting %v, err %v", len(p.Writes), p.Waiting, err)
	}
	hold := instanceplan.Routing{Decision: instanceplan.Hold, Existing: rt.Existing}
	if p, _ := instanceplan.Finish(hold, nil, w.inputs()); len(p.Delete)+len(p.Writes) > 0 {
		t.Errorf("a held routing plans %d deletions, %d writes", len(p.Delete), len(p.Writes))
	}
}

var errTest = testError("boom")

type testError string

func (e testError) Error() string { return string(e) }
