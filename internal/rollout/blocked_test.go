package rollout_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A rollback to a revision that is not the subject's (a typo, another
// instance's) must not wedge the rollout: it stalls, admits nothing, says how
// to get out, and can be replaced or aborted.
func TestRollbackToAnUnusableRevision(t *testing.T) {
	start := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("general", catchAll, concurrency("2"))), clusters("m", 4)...)
		f.plan()
		f.at(time.Minute).healthy("m-1", "m-2").plan()
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "app-nonsense", ChangeRecord: record("carol", t0.Add(2*time.Minute), "typo")}
		f.in.RollbackBlocked = &rollout.Blocked{Reason: fleetv1alpha1.ReasonRevisionNotFound, Message: "PromiseRevision app-nonsense not found"}
		f.at(2 * time.Minute).plan()
		return f
	}
	stalled := func(t *testing.T, f *fixture) {
		t.Helper()
		c := f.condition(fleetv1alpha1.ConditionStalled)
		if c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonRevisionNotFound ||
			!strings.Contains(c.Message, "rollback to app-nonsense requested by carol cannot proceed") ||
			!strings.Contains(c.Message, "flotilla rollout abort") {
			t.Fatalf("Stalled %+v", c)
		}
		if r := f.condition(fleetv1alpha1.ConditionReconciling); r.Status != metav1.ConditionFalse {
			t.Fatalf("Reconciling %+v", r)
		}
	}

	t.Run("stalls without admitting anything", func(t *testing.T) {
		f := start(t)
		f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
		f.wantAdmitted()
		stalled(t, f)
		if f.d.Status.RollbackRevision != "" {
			t.Fatalf("rollbackRevision %q", f.d.Status.RollbackRevision)
		}
		h := f.lastHistory()
		if h.Actor != rollout.ActorHub || !strings.Contains(h.Message, "cannot proceed") || len(f.d.Events) != 1 ||
			f.d.Events[0].Type != rollout.EventWarning {
			t.Fatalf("history %+v, events %+v", h, f.d.Events)
		}
		// Recorded once: planning again adds no entry and no Event.
		n := len(f.d.Status.History)
		f.at(3 * time.Minute).healthyAll().plan()
		f.wantAdmitted()
		stalled(t, f)
		if len(f.d.Status.History) != n || len(f.d.Events) != 0 {
			t.Fatalf("recorded again: %+v, %+v", f.d.Status.History[n-1:], f.d.Events)
		}
	})
	t.Run("an abort ends it without rolling back", func(t *testing.T) {
		f := start(t)
		f.in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
		f.in.Spec.StateChange = ptr(record("dave", t0.Add(3*time.Minute), "typo in the rollback"))
		f.at(3 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseAborted, "general")
		f.wantAdmitted()
		if h := f.lastHistory(); h.Actor != "dave" || !strings.Contains(h.Message, "aborted while stalled") {
			t.Fatalf("history %+v", h)
		}
		// The next Rollout starts from what the subject settles on: fromRevision.
		ro := &fleetv1alpha1.Rollout{Spec: f.in.Spec, Status: f.d.Status}
		if got := rollout.StableRevision(ro); got != f.in.Spec.FromRevision {
			t.Fatalf("stable revision %q, want %q", got, f.in.Spec.FromRevision)
		}
	})
	// The kill switch: a Rollback freeze rolls back every rollout in flight.
	// A stalled rollback request (a typo, in an incident; or written on
	// purpose) took precedence over it: the rollout kept the target on
	// the clusters it had admitted, neither rolled back nor reported held
	// by the freeze, while every other rollout was rolled back.
	t.Run("a Rollback freeze rolls it back to fromRevision", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "undo everything", By: "dave"}
		f.at(3 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1", "m-2", "m-3", "m-4")
		if f.d.Status.RollbackRevision != from || f.d.Status.Freeze == nil || f.d.Status.Freeze.RolledBackBy != "incident" {
			t.Fatalf("rollbackRevision %q, freeze %+v", f.d.Status.RollbackRevision, f.d.Status.Freeze)
		}
		// It carries on to the end, the stalled request aside.
		f.in.Freeze = nil
		for _, c := range names(4) {
			f.update(c, func(o *rollout.ClusterObservation) { o.AppliedRevision = from })
		}
		f.at(4 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
		if c := f.condition(fleetv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
			t.Fatalf("Ready %+v", c)
		}
	})
	t.Run("a Halt freeze holds it", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Reason: "stop everything", By: "dave"}
		f.at(3 * time.Minute).plan()
		f.wantAdmitted()
		if f.d.Status.HeldBy() != "incident" || f.condition(fleetv1alpha1.ConditionFrozen) == nil {
			t.Fatalf("not held by the freeze: freeze %+v, conditions %+v", f.d.Status.Freeze, f.d.Status.Conditions)
		}
	})
	t.Run("a usable revision replaces it", func(t *testing.T) {
		f := start(t)
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "app-r0", ChangeRecord: record("carol", t0.Add(3*time.Minute), "")}
		f.in.RollbackBlocked = nil
		f.at(3 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1", "m-2", "m-3", "m-4")
		if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionFalse {
			t.Fatalf("Stalled %+v", c)
		}
	})
}

func TestPlanBlocked(t *testing.T) {
	b := rollout.Blocked{Reason: fleetv1alpha1.ReasonStrategyNotFound, Message: "RolloutStrategy s not found"}
	in := rollout.Input{Now: t0, Spec: fleetv1alpha1.RolloutSpec{TargetRevision: target, FromRevision: from}}

	d := rollout.PlanBlocked(in, b)
	if d.Status.Phase != fleetv1alpha1.RolloutPhasePending || len(d.Admit) != 0 || len(d.Events) != 1 {
		t.Fatalf("decision %+v", d)
	}
	if c := findCondition(d.Status.Conditions, fleetv1alpha1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue ||
		c.Reason != b.Reason || !strings.HasPrefix(c.Message, "blocked: RolloutStrategy s not found; ") {
		t.Fatalf("Stalled %+v", c)
	}
	in.Status = d.Status
	in.Now = t0.Add(time.Minute)
	if d = rollout.PlanBlocked(in, b); len(d.Events) != 0 || len(d.Status.History) != 1 {
		t.Fatalf("recorded twice: %+v", d)
	}
	// Another cause under the same reason (another check that cannot run)
	// is recorded once too.
	other := rollout.Blocked{Reason: b.Reason, Message: "RolloutStrategy t not found"}
	in.Status = d.Status
	if d = rollout.PlanBlocked(in, other); len(d.Events) != 1 || len(d.Status.History) != 2 {
		t.Fatalf("another cause not recorded: %+v", d)
	}
	in.Status = d.Status
	if d = rollout.PlanBlocked(in, other); len(d.Events) != 0 || len(d.Status.History) != 2 {
		t.Fatalf("another cause recorded twice: %+v", d)
	}

	// Aborted, even though it cannot be planned.
	in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
	in.Spec.StateChange = ptr(record("erin", t0.Add(time.Minute), ""))
	in.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "general", Phase: fleetv1alpha1.WavePhasePending}}
	d = rollout.PlanBlocked(in, b)
	if d.Status.Phase != fleetv1alpha1.RolloutPhaseAborted || d.Status.CompletedAt == nil ||
		d.Status.Waves[0].Phase != fleetv1alpha1.WavePhaseSkipped || d.Status.History[len(d.Status.History)-1].Actor != "erin" {
		t.Fatalf("status %+v", d.Status)
	}
	// Terminal: nothing changes.
	in.Status = d.Status
	if d2 := rollout.PlanBlocked(in, b); len(d2.Events) != 0 || len(d2.Status.History) != len(d.Status.History) {
		t.Fatalf("a terminal rollout acted: %+v", d2)
	}
}

func findCondition(cs []metav1.Condition, typ string) *metav1.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

// The kill switch holds for a rollout that cannot be planned forward: its
// strategy deleted (in an incident, by a careless platform engineer), or
// given a check that cannot run, after the change reached some clusters.
// PlanBlocked stalled it whatever the freeze, so a Rollback freeze left the
// change there while it rolled back every other rollout; a rollback under
// way stalled half-way, and a requested one (the way out its message
// names) never started. A rollback needs only where each cluster stands.
func TestABlockedRolloutStillRollsBack(t *testing.T) {
	b := rollout.Blocked{Reason: fleetv1alpha1.ReasonStrategyNotFound, Message: "RolloutStrategy s not found", Observed: true}
	start := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("general", catchAll, concurrency("2"))), clusters("m", 4)...)
		f.plan()
		f.at(time.Minute).healthy("m-1", "m-2").plan()
		f.in.Strategy = fleetv1alpha1.RolloutStrategySpec{}
		return f
	}
	blocked := func(f *fixture) {
		f.t.Helper()
		f.d = rollout.PlanBlocked(f.in, b)
		f.in.Status = f.d.Status
		for _, a := range f.d.Admit {
			f.update(a.Cluster, func(o *rollout.ClusterObservation) { o.Revision, o.AdmittedAt = a.Revision, f.in.Now })
		}
	}
	back := func(f *fixture) {
		for _, c := range names(4) {
			f.update(c, func(o *rollout.ClusterObservation) { o.AppliedRevision = from })
		}
	}

	t.Run("without a freeze it stalls", func(t *testing.T) {
		f := start(t)
		blocked(f.at(2 * time.Minute))
		f.wantAdmitted()
		if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != b.Reason {
			t.Fatalf("Stalled %+v", c)
		}
	})
	t.Run("a Rollback freeze rolls it back to fromRevision", func(t *testing.T) {
		f := start(t)
		blocked(f.at(2 * time.Minute))
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "undo everything", By: "dave"}
		blocked(f.at(3 * time.Minute))
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1", "m-2", "m-3", "m-4")
		if f.d.Status.RollbackRevision != from || f.d.Status.RolledBackBy() != "incident" {
			t.Fatalf("rollbackRevision %q, freeze %+v", f.d.Status.RollbackRevision, f.d.Status.Freeze)
		}
		if h := f.lastHistory(); h.Actor != "dave" || h.Freeze != "incident" || !strings.Contains(h.Message, "rolls back every rollout in flight") {
			t.Fatalf("history %+v", h)
		}
		if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionFalse ||
			!strings.Contains(f.condition(fleetv1alpha1.ConditionReady).Message, "it cannot move forward: RolloutStrategy s not found") {
			t.Fatalf("conditions %+v", f.d.Status.Conditions)
		}
		// It ends when every cluster is back, the freeze lifted or not.
		f.in.Freeze = nil
		back(f)
		blocked(f.at(4 * time.Minute))
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
		if c := f.condition(fleetv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
			t.Fatalf("Ready %+v", c)
		}
	})
	t.Run("a rollback under way carries on", func(t *testing.T) {
		f := start(t)
		f.in.Strategy = strategy(wave("general", catchAll, concurrency("2")))
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("carol", t0.Add(2*time.Minute), "")}
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.in.Strategy = fleetv1alpha1.RolloutStrategySpec{}
		back(f)
		blocked(f.at(3 * time.Minute))
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
	})
	t.Run("a requested rollback starts", func(t *testing.T) {
		f := start(t)
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("carol", t0.Add(2*time.Minute), "")}
		blocked(f.at(2 * time.Minute))
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1", "m-2", "m-3", "m-4")
		if h := f.lastHistory(); h.Actor != "carol" {
			t.Fatalf("history %+v", h)
		}
	})
	t.Run("not observed, it stalls", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "undo everything", By: "dave"}
		f.d = rollout.PlanBlocked(f.in, rollout.Blocked{Reason: fleetv1alpha1.ReasonRevisionNotFound, Message: "PromiseRevision app-r1 not found"})
		f.in.Status = f.d.Status
		f.wantAdmitted()
		if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionTrue {
			t.Fatalf("Stalled %+v", c)
		}
	})
}

// A change a newer one superseded (or that was aborted, or failed) before
// the newer one admitted its clusters stays where it reached: those clusters
// are the newer Rollout's to move back. A Rollback freeze held a Rollout
// that had touched nothing of its own target, leaving the superseded change
// on the canary; a rollback moved only the clusters on its own target and
// said every cluster was back.
func TestARollbackTakesBackWhatAnEarlierRolloutLeft(t *testing.T) {
	const superseded = "app-r1b"
	start := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("general", catchAll, approval)), clusters("m", 3)...)
		f.in.Unsettled = []string{superseded}
		f.update("m-1", func(o *rollout.ClusterObservation) { o.Revision, o.AppliedRevision = superseded, superseded })
		f.plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
		return f
	}
	t.Run("a Rollback freeze rolls it back", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "undo", By: "dave"}
		f.at(time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		if a := f.d.Admit; len(a) != 1 || a[0].Cluster != "m-1" || a[0].Revision != from {
			t.Fatalf("admitted %+v", a)
		}
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.update("m-1", func(o *rollout.ClusterObservation) { o.AppliedRevision = from })
		f.at(3 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
	})
	t.Run("a Halt freeze holds it", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Reason: "stop", By: "dave"}
		f.at(time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
		if len(f.d.Admit) != 0 {
			t.Fatalf("admitted %+v", f.d.Admit)
		}
	})
}

func TestUnsettled(t *testing.T) {
	ro := func(name, from, to string, phase fleetv1alpha1.RolloutPhase, gen string) fleetv1alpha1.Rollout {
		return fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{rollout.AnnotationChangeGeneration: gen}},
			Spec:       fleetv1alpha1.RolloutSpec{FromRevision: from, TargetRevision: to},
			Status:     fleetv1alpha1.RolloutStatus{Phase: phase},
		}
	}
	all := []fleetv1alpha1.Rollout{
		ro("a-1", "r0", "r1", fleetv1alpha1.RolloutPhaseSucceeded, "1"),
		ro("a-2", "r1", "r2", fleetv1alpha1.RolloutPhaseSuperseded, "2"),
		ro("a-3", "r1", "r3", fleetv1alpha1.RolloutPhaseAborted, "3"),
		ro("a-4", "r1", "r4", fleetv1alpha1.RolloutPhaseRolledBack, "4"),
		ro("a-6", "r1", "r6", fleetv1alpha1.RolloutPhaseSuperseded, "6"),
	}
	cur := ro("a-5", "r1", "r5", fleetv1alpha1.RolloutPhaseProgressing, "5")
	if got := rollout.Unsettled(&cur, append(all, cur)); !slices.Equal(got, []string{"r2", "r3"}) {
		t.Fatalf("unsettled %v, want [r2 r3]", got)
	}
}
