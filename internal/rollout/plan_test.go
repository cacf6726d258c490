package rollout_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

func TestPlanRejectsInvalidInput(t *testing.T) {
	valid := func() rollout.Input {
		return newFixture(t, strategy(wave("canary"), wave("general", catchAll)), cluster("a"), cluster("b")).in
	}
	tests := []struct {
		name   string
		mutate func(*rollout.Input)
		want   string
	}{
		{"no time", func(in *rollout.Input) { in.Now = time.Time{} }, "now is not set"},
		{"no waves", func(in *rollout.Input) { in.Strategy.Waves = nil }, "no waves"},
		{"duplicate wave", func(in *rollout.Input) { in.Strategy.Waves[1].Name = "canary" }, "duplicate name"},
		{"reserved wave name", func(in *rollout.Input) { in.Strategy.Waves[1].Name = "remaining" }, "reserved"},
		{"concurrency over 100%", func(in *rollout.Input) { concurrency("150%")(&in.Strategy.Waves[0]) }, `"150%"`},
		{"concurrency zero", func(in *rollout.Input) { concurrency("0")(&in.Strategy.Waves[0]) }, "less than 1"},
		{"concurrency garbage", func(in *rollout.Input) { concurrency("lots")(&in.Strategy.Waves[0]) }, `"lots"`},
		{"negative failures", func(in *rollout.Input) { failures("-1")(&in.Strategy.Waves[0]) }, "negative"},
		{"negative bake", func(in *rollout.Input) { bake(-time.Minute)(&in.Strategy.Waves[0]) }, "bakeTime"},
		{"immediate garbage", func(in *rollout.Input) {
			in.Strategy.Immediate = &fleetv1alpha1.ImmediatePolicy{MaxFailures: ptr(intstr.Parse("x%"))}
		}, "immediate"},
		{"unknown onFailure", func(in *rollout.Input) { in.Strategy.OnFailure = "Explode" }, "onFailure"},
		{"unknown offline policy", func(in *rollout.Input) { in.Strategy.OfflinePolicy = "Ignore" }, "offlinePolicy"},
		{"bad selector", func(in *rollout.Input) {
			in.Strategy.Waves[0].Selector = &fleetv1alpha1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring", Operator: "Near"}}}
		}, "selector"},
		{"no target", func(in *rollout.Input) { in.Spec.TargetRevision = "" }, "targetRevision"},
		{"from is target", func(in *rollout.Input) { in.Spec.FromRevision = target }, "both"},
		{"rollback to target", func(in *rollout.Input) {
			in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: target}
		}, "rollback.toRevision"},
		{"deadline mode without deadline", func(in *rollout.Input) {
			in.Spec.UpdatePolicy.Mode = fleetv1alpha1.UpdateModeDeadline
		}, "deadline is required"},
		{"unknown mode", func(in *rollout.Input) { in.Spec.UpdatePolicy.Mode = "Yolo" }, "mode"},
		{"unknown desired state", func(in *rollout.Input) { in.Spec.DesiredState = "Sleeping" }, "desiredState"},
		{"cluster observed twice", func(in *rollout.Input) { in.Clusters = append(in.Clusters, cluster("a")) }, "observed twice"},
		{"cluster without name", func(in *rollout.Input) { in.Clusters[0].Name = "" }, "no name"},
		{"unknown freeze action", func(in *rollout.Input) {
			in.Freeze = &rollout.FreezeObservation{Name: "f", Action: "Melt"}
		}, "freeze"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.mutate(&in)
			_, err := rollout.Plan(in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := rollout.Plan(valid()); err != nil {
		t.Fatalf("valid input: %v", err)
	}
}

func TestTargetSetFrozenAtStart(t *testing.T) {
	s := strategy(wave("pilot"), wave("canary"), wave("empty"), wave("general", func(w *fleetv1alpha1.Wave) {
		w.Selector = &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"env": "prod"}}
	}))
	f := newFixture(t, s,
		cluster("c", "ring", "canary", "env", "prod"), // first matching wave wins
		cluster("b", "ring", "pilot"),
		cluster("a", "ring", "canary"),
		cluster("p", "env", "prod"),
		cluster("lab"), // matches no wave
	)
	f.plan()
	got := map[string][]string{}
	phases := map[string]fleetv1alpha1.WavePhase{}
	var order []string
	for _, w := range f.d.Status.Waves {
		got[w.Name], phases[w.Name] = w.Clusters, w.Phase
		order = append(order, w.Name)
	}
	want := map[string][]string{"pilot": {"b"}, "canary": {"a", "c"}, "empty": nil, "general": {"p"}, "remaining": {"lab"}}
	if !reflect.DeepEqual(got, want) || strings.Join(order, ",") != "pilot,canary,empty,general,remaining" {
		t.Fatalf("waves %v in order %v, want %v", got, order, want)
	}
	if phases["empty"] != fleetv1alpha1.WavePhaseSkipped {
		t.Errorf("empty wave is %s, want Skipped", phases["empty"])
	}
	if f.d.Status.StartedAt == nil || !f.d.Status.StartedAt.Time.Equal(t0) {
		t.Errorf("startedAt = %v", f.d.Status.StartedAt)
	}

	// A cluster that joins later is not part of the run; one that leaves
	// no longer blocks it and is counted offline.
	f.in.Clusters = append(f.in.Clusters, cluster("late", "ring", "pilot"))
	f.in.Clusters = slicesDelete(f.in.Clusters, "p")
	f.at(time.Minute).healthyAll().plan()
	for _, a := range f.d.Admit {
		if a.Cluster == "late" {
			t.Fatal("a cluster that joined after the start was admitted")
		}
	}
	if c := f.d.Status.Counts; c.Total != 5 || c.Offline != 1 {
		t.Fatalf("counts %+v, want 5 targets with 1 offline (gone)", c)
	}
	f.at(2 * time.Minute).healthyAll().plan()
	// It never ran the target: its wave did not succeed in full
	// (TestAWaveWhoseClustersLeftDoesNotReadSucceeded), and the next wave
	// goes on without it only once approved
	// (TestAWaveWhoseClustersAllLeftHoldsTheNextWave).
	if w := f.wave("general"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures {
		t.Fatalf("wave general with its only cluster gone is %s, want SucceededWithFailures", w.Phase)
	}
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "remaining")
	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "remaining", ChangeRecord: record("alice", f.in.Now, "")}}
	f.at(3 * time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "remaining")
	f.wantAdmitted("lab")
}

func slicesDelete(cs []rollout.ClusterObservation, name string) []rollout.ClusterObservation {
	var out []rollout.ClusterObservation
	for _, c := range cs {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

func TestStrategyChangedMidRun(t *testing.T) {
	f := newFixture(t, strategy(wave("canary"), wave("general", catchAll, concurrency("1"))),
		append(clusters("c", 1, "ring", "canary"), clusters("g", 3)...)...)
	f.plan()
	// The strategy is edited: general is renamed, a wave is added. The
	// frozen waves stay; one the strategy lost takes its last wave's settings.
	f.in.Strategy = strategy(wave("canary"), wave("new-first", concurrency("5")), wave("everyone", catchAll, concurrency("2")))
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g-1", "g-2")
	if len(f.d.Status.Waves) != 2 {
		t.Fatalf("waves %v: the layout changed", f.d.Status.Waves)
	}
}

func TestPolicyChangeIsRecordedOnceWithItsActor(t *testing.T) {
	f := newFixture(t, strategy(wave("canary"), wave("general", catchAll)),
		append(clusters("c", 1, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	n := len(f.d.Status.History)
	f.in.Strategy = strategy(wave("canary"), wave("general", catchAll, concurrency("1")))
	f.in.Spec.PolicyChange = ptr(record("pat", t0.Add(time.Minute), "slower general wave"))
	f.at(time.Minute).plan()
	h := f.d.Status.History
	if len(h) != n+1 || h[n].Actor != "pat" || h[n].From != h[n].To || !strings.Contains(h[n].Message, "slower general wave") {
		t.Fatalf("history %+v, want one entry by pat", h[n:])
	}
	if e := f.d.Events[len(f.d.Events)-1]; e.Reason != rollout.ReasonPolicyChanged || !strings.Contains(e.Message, "by pat") {
		t.Fatalf("event %+v", e)
	}
	f.at(2 * time.Minute).plan()
	if len(f.d.Status.History) != n+1 {
		t.Fatalf("history %+v: the change recorded again", f.d.Status.History[n:])
	}
}

func TestImplicitWaveTakesLastWaveSettings(t *testing.T) {
	f := newFixture(t, strategy(wave("canary"), wave("bank", approval, concurrency("1"))),
		cluster("c1", "ring", "canary"), cluster("x1"), cluster("x2"))
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "remaining")
	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "remaining", ChangeRecord: record("alice", t0, "")}}
	f.at(2 * time.Minute).plan()
	f.wantAdmitted("x1") // maxConcurrency 1, as the last wave
	// (the empty "bank" wave was skipped without asking for its approval)
	if w := f.wave("bank"); w.Phase != fleetv1alpha1.WavePhaseSkipped {
		t.Fatalf("empty wave bank is %s", w.Phase)
	}
}

func TestMaxConcurrency(t *testing.T) {
	tests := []struct {
		concurrency string
		size        int
		first       int
	}{
		{"1", 10, 1},
		{"3", 10, 3},
		{"30%", 10, 3},
		{"25%", 10, 3}, // 2.5 rounds up
		{"1%", 10, 1},  // 0.1 rounds up to at least 1
		{"100%", 10, 10},
		{"50", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.concurrency, func(t *testing.T) {
			f := newFixture(t, strategy(wave("general", catchAll, concurrency(tt.concurrency), failures("100%"))),
				clusters("m", tt.size)...)
			f.plan()
			if got := len(f.d.Admit); got != tt.first {
				t.Fatalf("admitted %d first, want %d", got, tt.first)
			}
		})
	}

	// A slot frees when a cluster turns healthy, or fails within budget.
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("2"), failures("1"))), clusters("m", 5)...)
	f.plan()
	f.wantAdmitted("m-1", "m-2")
	f.at(time.Minute).plan()
	f.wantAdmitted()
	f.at(2 * time.Minute).healthy("m-1").plan()
	f.wantAdmitted("m-3")
	f.at(3 * time.Minute).failing("m-2").plan()
	f.wantAdmitted("m-4")
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
}

func TestFailureBudget(t *testing.T) {
	tests := []struct {
		maxFailures string
		size, fail  int
		halts       bool
	}{
		{"0", 4, 1, true},
		{"1", 4, 1, false},
		{"1", 4, 2, true},
		{"10%", 10, 1, false}, // 1
		{"15%", 10, 1, false}, // 1.5 rounds down to 1
		{"15%", 10, 2, true},
		{"9%", 10, 1, true}, // 0.9 rounds down to 0
		{"100%", 4, 4, false},
		{"0%", 4, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.maxFailures+"-"+string(rune('0'+tt.fail)), func(t *testing.T) {
			f := newFixture(t, strategy(wave("general", catchAll, failures(tt.maxFailures))), clusters("m", tt.size)...)
			f.plan()
			f.at(time.Minute).failing(names(tt.size)[:tt.fail]...).plan()
			if halted := f.d.Status.Phase == fleetv1alpha1.RolloutPhaseHalted; halted != tt.halts {
				t.Fatalf("phase %s with %d failures of %d under %s", f.d.Status.Phase, tt.fail, tt.size, tt.maxFailures)
			}
			if int(f.d.Status.FailureCount) != tt.fail || len(f.d.Status.Failures) != tt.fail {
				t.Fatalf("failureCount %d, %d failures listed, want %d", f.d.Status.FailureCount, len(f.d.Status.Failures), tt.fail)
			}
			if got := f.d.Status.Failures[0]; got.Reason != "ApplyFailed" || got.Wave != "general" || !got.Time.Time.Equal(t0.Add(time.Minute)) {
				t.Fatalf("failure %+v", got)
			}
		})
	}
}

func TestHaltAdmitsNothingAndNeedsAPerson(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", concurrency("1")), wave("general", catchAll)),
		append(clusters("canary", 3, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.at(time.Minute).failing("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.wantAdmitted()
	if c := f.condition(fleetv1alpha1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonFailureBudgetExceeded {
		t.Fatalf("Stalled = %+v", c)
	}
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseFailed {
		t.Fatalf("wave canary is %s, want Failed", w.Phase)
	}
	if d := f.d; len(d.Events) != 1 || d.Events[0].Type != rollout.EventWarning || !strings.Contains(d.Events[0].Message, "canary-1 (ApplyFailed)") {
		t.Fatalf("events %+v", d.Events)
	}

	// The failure clears by itself: still halted. A freeze and its end do
	// not resume it either.
	f.at(2 * time.Minute).healthy("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.in.Freeze = &rollout.FreezeObservation{Name: "f", Reason: "r"}
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.in.Freeze = nil
	f.at(4 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.wantAdmitted()

	// Resuming (desiredState set after the halt) carries on.
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.in.Spec.StateChange = ptr(record("oncall", t0.Add(5*time.Minute), "checked"))
	f.at(5 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.wantAdmitted("canary-2")
	if h := f.lastHistory(); h.From != fleetv1alpha1.RolloutPhaseHalted || h.Actor != "oncall" {
		t.Fatalf("history %+v", h)
	}
}

// A halted rollout resumed during a freeze carries on when the freeze ends,
// and the history names the person who resumed it, not the freeze's end.
func TestResumeDuringAFreezeTakesEffectWhenItEnds(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", concurrency("1")), wave("general", catchAll)),
		append(clusters("canary", 3, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.at(time.Minute).failing("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.in.Freeze = &rollout.FreezeObservation{Name: "f", Reason: "r"}
	f.at(2 * time.Minute).healthy("canary-1").plan()
	f.in.Spec.StateChange = ptr(record("oncall", t0.Add(3*time.Minute), "checked"))
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.wantAdmitted()
	f.in.Freeze = nil
	f.at(4 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if h := f.lastHistory(); h.From != fleetv1alpha1.RolloutPhaseHalted || h.Actor != "oncall" {
		t.Fatalf("history %+v", h)
	}
}

func TestResumeWhileStillFailingIsRecordedAndRefused(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 3)...)
	f.plan()
	f.at(time.Minute).failing("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	f.in.Spec.StateChange = ptr(record("oncall", t0.Add(2*time.Minute), ""))
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	if h := f.lastHistory(); h.Actor != "oncall" || !strings.Contains(h.Message, "resume requested") {
		t.Fatalf("history %+v", h)
	}
	// The request is spent: the failure clearing later does not resume it.
	f.at(3 * time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
	// Pause then resume is the other way out.
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	f.at(4 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.at(5 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("m-2")
}

func TestBake(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(10*time.Minute)), wave("general", catchAll)),
		append(clusters("c", 2, "ring", "canary"), cluster("g"))...)
	f.plan()
	f.at(time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(2 * time.Minute).healthy("c-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if f.d.RequeueAfter != 10*time.Minute {
		t.Fatalf("requeue after %s, want the bake time", f.d.RequeueAfter)
	}
	if w := f.wave("canary"); w.BakeStartedAt == nil || !w.BakeStartedAt.Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("bakeStartedAt %v, want when the last cluster became healthy", w.BakeStartedAt)
	}

	// A cluster going unhealthy stops the bake; healthy again, it restarts.
	f.at(5 * time.Minute).progressing("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if w := f.wave("canary"); w.BakeStartedAt != nil {
		t.Fatal("bakeStartedAt kept while a cluster is not healthy")
	}
	f.at(6 * time.Minute).healthy("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(12 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if f.d.RequeueAfter != 4*time.Minute {
		t.Fatalf("requeue after %s, want 4m left of the restarted bake", f.d.RequeueAfter)
	}

	// A flap between two plans (seen only in HealthSince) restarts it too.
	f.at(13 * time.Minute).healthy("c-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if len(f.d.Events) != 1 || f.d.Events[0].Reason != rollout.ReasonBakeReset {
		t.Fatalf("events %+v, want a BakeReset", f.d.Events)
	}
	f.at(22 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(23 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g")
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceeded || !w.CompletedAt.Time.Equal(t0.Add(23*time.Minute)) {
		t.Fatalf("wave canary %s completed %v", w.Phase, w.CompletedAt)
	}
}

// A member whose clock runs behind dates a flap's recovery before the flap:
// the bake still restarts, no earlier than when the hub saw the wave
// unfinished.
func TestBakeRestartsAfterAFlapDatedInThePast(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute)), wave("general", catchAll)),
		cluster("canary-1", "ring", "canary"), cluster("general-1"))
	f.plan()
	f.at(time.Minute).healthy("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(20 * time.Minute).progressing("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.at(25 * time.Minute).healthy("canary-1")
	f.update("canary-1", func(o *rollout.ClusterObservation) { o.HealthSince = f.in.Now.Add(-time.Hour) })
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if w := f.wave("canary"); w.BakeStartedAt == nil || !w.BakeStartedAt.Time.Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("bakeStartedAt %v, want when the wave was seen unfinished (20m)", w.BakeStartedAt)
	}
	f.at(31 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.at(50 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
}

func TestBakeCountsFromAdmissionWhenHealthSinceIsOld(t *testing.T) {
	// A cluster whose Healthy condition never flipped still bakes from its
	// admission, not from when it was healthy on the old revision.
	f := newFixture(t, strategy(wave("canary", bake(10*time.Minute))), cluster("c", "ring", "canary"))
	f.plan()
	f.update("c", func(o *rollout.ClusterObservation) {
		o.AppliedRevision, o.Health, o.HealthSince = target, rollout.HealthHealthy, t0.Add(-time.Hour)
	})
	f.at(time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	if f.d.RequeueAfter != 9*time.Minute {
		t.Fatalf("requeue after %s, want 9m", f.d.RequeueAfter)
	}
}

func TestApproval(t *testing.T) {
	s := strategy(wave("canary"), wave("prod", catchAll, approval))
	f := newFixture(t, s, cluster("c", "ring", "canary"), cluster("p"))
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "prod")
	f.wantAdmitted()
	if c := f.condition(fleetv1alpha1.ConditionApproved); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("Approved = %+v", c)
	}
	if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionFalse {
		t.Fatal("waiting for an approval is not Stalled")
	}
	// An approval for another wave does nothing.
	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "canary", ChangeRecord: record("mallory", t0, "")}}
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "prod")

	f.in.Spec.Approvals = append(f.in.Spec.Approvals, fleetv1alpha1.Approval{Wave: "prod", ChangeRecord: record("alice", t0.Add(3*time.Minute), "CHG-1")})
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "prod")
	f.wantAdmitted("p")
	if w := f.wave("prod"); w.Approval == nil || w.Approval.By != "alice" || w.Approval.Message != "CHG-1" {
		t.Fatalf("wave approval %+v", w.Approval)
	}
	if h := f.lastHistory(); h.Actor != "alice" || h.From != fleetv1alpha1.RolloutPhaseWaitingForApproval {
		t.Fatalf("history %+v", h)
	}
	if c := f.condition(fleetv1alpha1.ConditionApproved); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Approved = %+v", c)
	}

	// Approved in advance: no wait at all; an approval without "by" is
	// recorded as unknown.
	f = newFixture(t, s, cluster("c", "ring", "canary"), cluster("p"))
	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "prod"}}
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "prod")
	if h := f.lastHistory(); h.Actor != rollout.ActorUnknown {
		t.Fatalf("actor %q, want unknown", h.Actor)
	}
}

func TestProgressDeadline(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, deadline(5*time.Minute), failures("1"))), clusters("m", 2)...)
	f.plan()
	if f.d.RequeueAfter != 5*time.Minute {
		t.Fatalf("requeue after %s, want the progress deadline", f.d.RequeueAfter)
	}
	f.at(time.Minute).healthy("m-2").plan()
	f.at(5*time.Minute - time.Second).plan()
	if f.d.Status.Counts.Failed != 0 {
		t.Fatal("failed before the deadline")
	}
	f.at(5 * time.Minute).plan()
	fl := f.d.Status.Failures
	if len(fl) != 1 || fl[0].Cluster != "m-1" || fl[0].Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded || !fl[0].Time.Time.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("failures %+v", fl)
	}
	// Within budget: the wave completes without it.
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")

	// The deadline counts from the last change of health: a cluster that
	// was healthy and turned unhealthy has a fresh progressDeadline.
	f = newFixture(t, strategy(wave("general", catchAll, deadline(5*time.Minute), bake(time.Hour))), clusters("m", 1)...)
	f.plan()
	f.at(time.Minute).healthy("m-1").plan()
	f.at(20 * time.Minute).progressing("m-1").plan()
	f.at(24 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.at(25 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "general")
}

func TestOfflinePolicies(t *testing.T) {
	tests := []struct {
		policy fleetv1alpha1.OfflinePolicy
		// at the start, with m-2 offline
		phase0           fleetv1alpha1.RolloutPhase
		failed0, offline int32
		// once m-1 is healthy
		phase1 fleetv1alpha1.RolloutPhase
		// 10m after the wave started, m-2 still offline
		phase2 fleetv1alpha1.RolloutPhase
	}{
		{fleetv1alpha1.OfflineWait, fleetv1alpha1.RolloutPhaseProgressing, 0, 1,
			fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.RolloutPhaseHalted},
		{"", fleetv1alpha1.RolloutPhaseProgressing, 0, 1, // Wait is the default
			fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.RolloutPhaseHalted},
		{fleetv1alpha1.OfflineSkip, fleetv1alpha1.RolloutPhaseProgressing, 0, 1,
			fleetv1alpha1.RolloutPhaseSucceeded, fleetv1alpha1.RolloutPhaseSucceeded},
		{fleetv1alpha1.OfflineCountAsFailure, fleetv1alpha1.RolloutPhaseHalted, 1, 0,
			fleetv1alpha1.RolloutPhaseHalted, fleetv1alpha1.RolloutPhaseHalted},
	}
	for _, tt := range tests {
		t.Run(string(tt.policy), func(t *testing.T) {
			s := strategy(wave("general", catchAll))
			s.OfflinePolicy = tt.policy
			f := newFixture(t, s, clusters("m", 2)...)
			f.online(false, "m-2")
			f.plan()
			if f.d.Status.Phase != tt.phase0 {
				t.Fatalf("phase %s at the start, want %s", f.d.Status.Phase, tt.phase0)
			}
			for _, a := range f.d.Admit {
				if a.Cluster == "m-2" {
					t.Fatal("an offline cluster was admitted")
				}
			}
			if c := f.d.Status.Counts; c.Failed != tt.failed0 || c.Offline != tt.offline {
				t.Fatalf("counts %+v", c)
			}
			if f.d.Status.Phase.IsTerminal() || f.d.Status.Phase == fleetv1alpha1.RolloutPhaseHalted {
				return
			}
			f.at(time.Minute).healthy("m-1").plan()
			if f.d.Status.Phase != tt.phase1 {
				t.Fatalf("phase %s with m-1 healthy, want %s", f.d.Status.Phase, tt.phase1)
			}
			if f.d.Status.Phase.IsTerminal() {
				return
			}
			f.at(10 * time.Minute).plan()
			if f.d.Status.Phase != tt.phase2 {
				t.Fatalf("phase %s after the progress deadline, want %s", f.d.Status.Phase, tt.phase2)
			}
			if fl := f.d.Status.Failures; len(fl) != 1 || fl[0].Reason != fleetv1alpha1.ReasonClusterOffline {
				t.Fatalf("failures %+v", fl)
			}
		})
	}

	// Under Wait, a cluster back in time is admitted and the wave completes.
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 2)...)
	f.online(false, "m-2").plan()
	f.at(time.Minute).healthy("m-1").plan()
	if f.d.RequeueAfter != 9*time.Minute {
		t.Fatalf("requeue after %s, want when m-2 would count as failed", f.d.RequeueAfter)
	}
	f.at(5*time.Minute).online(true, "m-2").plan()
	f.wantAdmitted("m-2")
	f.at(6 * time.Minute).healthy("m-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
}

func TestOfflineClusterHealthyOnTargetIsDone(t *testing.T) {
	// Once its wave completed, a cluster healthy on the target that goes
	// offline counts as offline but holds nothing back, whatever the
	// policy; in its wave at work, the offline policy applies to it
	// (TestACanaryThatWentOfflineDoesNotBakeOnItsLastReport).
	s := strategy(wave("first", concurrency("1")), wave("general", catchAll, concurrency("1")))
	s.OfflinePolicy = fleetv1alpha1.OfflineCountAsFailure
	f := newFixture(t, s, append(clusters("f", 1, "ring", "first"), clusters("m", 1)...)...)
	f.plan()
	f.at(time.Minute).healthy("f-1").plan()
	f.wantAdmitted("m-1")
	f.at(2*time.Minute).online(false, "f-1").plan()
	if c := f.d.Status.Counts; c.Offline != 1 || c.Failed != 0 || c.Healthy != 0 {
		t.Fatalf("counts %+v", c)
	}
	f.at(3 * time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")

	f = newFixture(t, s, append(clusters("f", 1, "ring", "first"), clusters("m", 1)...)...)
	f.plan()
	f.at(time.Minute).healthy("f-1").online(false, "f-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "first")
}

func TestImmediateMode(t *testing.T) {
	s := strategy(wave("pilot", approval, bake(time.Hour)), wave("general", catchAll))
	s.Immediate = &fleetv1alpha1.ImmediatePolicy{MaxConcurrency: ptr(intstr.Parse("50%")), MaxFailures: ptr(intstr.FromInt32(1))}
	f := newFixture(t, s, append(clusters("p", 2, "ring", "pilot"), clusters("g", 4)...)...)
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "CVE-2031-0001"}
	f.in.StartedBy = "security@example.com"
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	f.wantAdmitted("g-1", "g-2", "g-3") // 50% of 6, ignoring waves and the pilot's approval
	if len(f.d.Status.Waves) != 1 || len(f.d.Status.Waves[0].Clusters) != 6 {
		t.Fatalf("waves %+v, want the single immediate wave", f.d.Status.Waves)
	}
	h := f.lastHistory()
	if h.Actor != "security@example.com" || !strings.Contains(h.Message, "CVE-2031-0001") {
		t.Fatalf("history %+v, want who started it and why", h)
	}
	if e := f.d.Events[0]; e.Type != rollout.EventWarning || e.Reason != rollout.ReasonImmediateRollout {
		t.Fatalf("event %+v", e)
	}
	f.at(time.Minute).failing("g-1").healthy("g-2", "g-3").plan()
	f.wantAdmitted("g-4", "p-1", "p-2")
	f.at(2 * time.Minute).failing("g-4").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, rollout.ImmediateWaveName)
}

func TestImmediateDefaults(t *testing.T) {
	// No immediate policy: every target at once, 10% failure budget.
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 20)...)
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "now"}
	f.plan()
	if len(f.d.Admit) != 20 {
		t.Fatalf("admitted %d, want all 20", len(f.d.Admit))
	}
	f.at(time.Minute).failing("m-1", "m-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	f.at(2 * time.Minute).failing("m-3").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, rollout.ImmediateWaveName)
}

func TestSwitchToImmediateMidRun(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(time.Hour)), wave("general", catchAll)),
		append(clusters("c", 1, "ring", "canary"), clusters("g", 3)...)...)
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "exploited in the wild"}
	f.in.Spec.PolicyChange = ptr(record("security@example.com", t0.Add(2*time.Minute), "exploited in the wild"))
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	f.wantAdmitted("g-1", "g-2", "g-3")
	if h := f.lastHistory(); !strings.Contains(h.Message, "exploited in the wild") || h.Actor != "security@example.com" {
		t.Fatalf("history %+v, want the switch by security@example.com", h)
	}

	// A halted rollout switched to Immediate stays halted until resumed,
	// then goes on in the new layout.
	s := strategy(wave("canary"), wave("general", catchAll))
	s.Immediate = &fleetv1alpha1.ImmediatePolicy{MaxFailures: ptr(intstr.FromInt32(1))}
	f = newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 3)...)...)
	f.plan()
	f.at(time.Minute).failing("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "push it"}
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, rollout.ImmediateWaveName)
	f.wantAdmitted()
	f.in.Spec.StateChange = ptr(record("oncall", t0.Add(3*time.Minute), ""))
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	f.wantAdmitted("g-1", "g-2", "g-3") // 1 failure is within the immediate budget
}

// The attack, a careless sequence: a canary cluster never turns healthy
// and fails by its progress deadline (the budget's one failure); in the
// incident the platform switches the Rollout to Immediate. The merged wave
// started then, and a cluster's progress deadline counts from no earlier
// than its wave's start: the failure read as a cluster converging again,
// "0 failed", and the emergency lane went on admitting past a budget the
// next failure exceeded. The merged wave keeps the start of the run's first
// wave, so what failed stays failed.
func TestSwitchingToImmediateForgetsNoFailure(t *testing.T) {
	s := strategy(wave("canary", failures("1"), deadline(5*time.Minute), bake(time.Hour)), wave("general", catchAll))
	s.Immediate = &fleetv1alpha1.ImmediatePolicy{MaxConcurrency: ptr(intstr.FromInt32(2)), MaxFailures: ptr(intstr.FromInt32(1)),
		ProgressDeadline: &metav1.Duration{Duration: 5 * time.Minute}}
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 8)...)...)
	f.plan()
	f.at(time.Minute).healthy("c-2").plan()
	f.at(7 * time.Minute).plan()
	if f.d.Status.FailureCount != 1 {
		t.Fatalf("failures %d, want c-1 failed by its progress deadline", f.d.Status.FailureCount)
	}
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "exploited in the wild"}
	f.in.Spec.PolicyChange = ptr(record("security@example.com", t0.Add(8*time.Minute), "exploited in the wild"))
	f.at(8 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	if f.d.Status.FailureCount != 1 || f.d.Status.Counts.Failed != 1 {
		t.Fatalf("after the switch: %d failures, counts %+v; want c-1 still failed", f.d.Status.FailureCount, f.d.Status.Counts)
	}
	// One more failure is over the immediate budget: nothing more is admitted.
	f.at(9 * time.Minute).failing(f.admitted()[0]).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, rollout.ImmediateWaveName)
	f.wantAdmitted()

	// Across a restart of the hub (the status as written), the same.
	d := f.d
	f.at(10 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, rollout.ImmediateWaveName)
	if f.d.Status.FailureCount != d.Status.FailureCount {
		t.Errorf("failures %d after a look, want %d", f.d.Status.FailureCount, d.Status.FailureCount)
	}
}

// The same with a cluster that flapped out of the canary (Flapping,
// within its budget): its relapses were not merged, so it read as healthy
// again; they carry over now, and a cluster that relapsed keeps its count.
func TestSwitchingToImmediateForgetsNoRelapse(t *testing.T) {
	s := strategy(wave("canary", failures("1"), bake(30*time.Minute), deadline(10*time.Minute)), wave("general", catchAll))
	s.Immediate = &fleetv1alpha1.ImmediatePolicy{MaxFailures: ptr(intstr.FromInt32(1))}
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 3)...)...)
	f.plan()
	m := time.Duration(0)
	for ; f.d.Status.FailureCount == 0 && m < time.Hour; m += 6 * time.Minute {
		f.at(m+time.Minute).healthy("c-1", "c-2").plan()
		f.at(m + 2*time.Minute).progressing("c-1").plan()
	}
	if f.d.Status.FailureCount != 1 || f.d.Status.Failures[0].Reason != fleetv1alpha1.ReasonFlapping {
		t.Fatalf("failures %+v, want c-1 flapping", f.d.Status.Failures)
	}
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "exploited in the wild"}
	f.in.Spec.PolicyChange = ptr(record("security@example.com", t0.Add(m), "exploited in the wild"))
	f.at(m).healthy("c-1").plan()
	f.at(m + time.Minute).healthyAll().plan()
	if f.d.Status.FailureCount != 1 || f.d.Status.Failures[0].Cluster != "c-1" {
		t.Errorf("after the switch: failures %+v, want c-1 still flapping", f.d.Status.Failures)
	}
}

func TestDeadlineMode(t *testing.T) {
	s := strategy(wave("canary", concurrency("1")), wave("general", catchAll))
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
		Deadline: ptr(metav1.NewTime(t0.Add(time.Hour)))}
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "")
	f.wantAdmitted()
	if f.d.RequeueAfter != time.Hour {
		t.Fatalf("requeue after %s, want the deadline", f.d.RequeueAfter)
	}

	// Owners adopt, in any wave: admitted at once, and counted.
	f.update("g-2", func(o *rollout.ClusterObservation) { o.Adopted = true })
	f.at(10 * time.Minute).plan()
	f.wantAdmitted("g-2")
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "")
	if a := f.d.Status.Adoption; a == nil || a.Instances != 4 || a.Adopted != 1 || a.ForcedAt != nil {
		t.Fatalf("adoption %+v", a)
	}
	for _, w := range f.d.Status.Waves {
		if w.StartedAt != nil {
			t.Fatalf("wave %s started before the deadline", w.Name)
		}
	}

	// At the deadline the rest are forced through the waves; the
	// platform engineer who moved the deadline to now is the actor.
	f.in.Spec.UpdatePolicy.Deadline = ptr(metav1.NewTime(t0.Add(50 * time.Minute)))
	f.in.Spec.PolicyChange = ptr(record("pat", t0.Add(50*time.Minute), "enough waiting"))
	f.at(50 * time.Minute).healthy("g-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.wantAdmitted("c-1")
	if a := f.d.Status.Adoption; a.ForcedAt == nil || !a.ForcedAt.Time.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("adoption %+v", a)
	}
	if h := f.lastHistory(); !strings.Contains(h.Message, "deadline") || h.Actor != "pat" {
		t.Fatalf("history %+v, want the deadline forced by pat", h)
	}
	f.at(61 * time.Minute).healthyAll().plan()
	f.at(62 * time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g-1") // g-2 adopted and is already on the target
}

// status.adoption says how many owners chose to adopt before the deadline.
// Once the rest were forced, an owner whose cluster the waves had already
// moved could write the annotation and be counted as having adopted: the
// forced step read as the owner's choice ("2 of 2 adopted … the rest
// forced"). The counts stay as they were when the deadline passed.
func TestAnAdoptionAfterTheDeadlineIsNotCounted(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("g", 2)...)
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
		Deadline: ptr(metav1.NewTime(t0.Add(time.Hour)))}
	f.plan()
	f.update("g-2", func(o *rollout.ClusterObservation) { o.Adopted = true })
	f.at(10 * time.Minute).plan()
	f.wantAdmitted("g-2")
	f.at(time.Hour).healthy("g-2").plan()
	f.wantAdmitted("g-1") // forced
	if a := f.d.Status.Adoption; a.ForcedAt == nil || a.Adopted != 1 || a.Instances != 2 {
		t.Fatalf("adoption at the deadline %+v", a)
	}
	// g-1's owner annotates once the waves moved it.
	f.update("g-1", func(o *rollout.ClusterObservation) { o.Adopted = true })
	f.at(61 * time.Minute).healthyAll().plan()
	if a := f.d.Status.Adoption; a.Adopted != 1 || a.Instances != 2 {
		t.Fatalf("adoption after the deadline %+v, want the count at the deadline (1 of 2)", a)
	}
}

func TestPauseResumeAbort(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 3)...)
	f.plan()
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	f.in.Spec.StateChange = ptr(record("bob", t0.Add(time.Minute), "lunch"))
	f.at(time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
	f.wantAdmitted()
	if h := f.lastHistory(); h.Actor != "bob" || !strings.Contains(h.Message, "lunch") {
		t.Fatalf("history %+v", h)
	}
	if f.d.Status.Counts.Healthy != 1 {
		t.Fatal("a paused rollout stops observing")
	}
	// Failures while paused are recorded; onFailure waits for the resume.
	f.at(2 * time.Minute).failing("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
	if f.d.Status.FailureCount != 1 {
		t.Fatal("failure not recorded while paused")
	}
	f.at(3 * time.Minute).healthy("m-1").plan()

	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.in.Spec.StateChange = ptr(record("bob", t0.Add(4*time.Minute), ""))
	f.at(4 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("m-2")
	if e := f.d.Events; len(e) != 1 || e[0].Reason != rollout.ReasonResumed {
		t.Fatalf("events %+v", e)
	}

	f.in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
	f.in.Spec.StateChange = ptr(record("carol", t0.Add(5*time.Minute), "wrong target"))
	f.at(5 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseAborted, "general")
	f.wantAdmitted()
	if f.d.Status.CompletedAt == nil {
		t.Fatal("no completedAt")
	}
	// Terminal: nothing changes any more, whatever happens.
	before := f.d.Status
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.at(time.Hour).healthyAll().plan()
	if !reflect.DeepEqual(f.d.Status, before) || len(f.d.Admit)+len(f.d.Events) != 0 || f.d.RequeueAfter != 0 {
		t.Fatalf("a terminal rollout acted: %+v", f.d)
	}
}

func TestPausedBeforeTheStart(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 2)...)
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
	f.wantAdmitted()
	if len(f.d.Status.Waves) != 1 || f.d.Status.StartedAt == nil {
		t.Fatal("the target set is frozen even when paused")
	}
}

func TestManualRollback(t *testing.T) {
	start := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("general", catchAll, concurrency("2"))), clusters("m", 5)...)
		f.plan()
		f.at(time.Minute).healthy("m-1", "m-2").plan() // m-1, m-2 healthy; m-3, m-4 admitted, not applied yet
		return f
	}
	t.Run("to fromRevision", func(t *testing.T) {
		f := start(t)
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("carol", t0.Add(2*time.Minute), "bad")}
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1", "m-2", "m-3", "m-4")
		for _, a := range f.d.Admit {
			if a.Revision != from {
				t.Fatalf("admission %+v, want %s", a, from)
			}
		}
		if f.d.Status.RollbackRevision != from || f.lastHistory().Actor != "carol" {
			t.Fatalf("rollbackRevision %q, history %+v", f.d.Status.RollbackRevision, f.lastHistory())
		}
		// Done only when every cluster that applied the target reports the
		// rollback revision applied.
		f.at(3 * time.Minute).healthy("m-1").plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.at(4 * time.Minute).healthy("m-2").plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
		if c := f.d.Status.Counts; c.Admitted != 0 || f.d.Status.PercentOnTarget != 0 {
			t.Fatalf("counts %+v", c)
		}
	})
	t.Run("to an older revision", func(t *testing.T) {
		f := start(t)
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "app-r0"}
		f.at(2 * time.Minute).plan()
		for _, a := range f.d.Admit {
			if a.Revision != "app-r0" {
				t.Fatalf("admission %+v", a)
			}
		}
		if h := f.lastHistory(); h.Actor != rollout.ActorUnknown {
			t.Fatalf("actor %q", h.Actor)
		}
		// Changing toRevision later does not change the recorded one.
		f.in.Spec.Rollback.ToRevision = "app-rX"
		f.at(3 * time.Minute).plan()
		if f.d.Status.RollbackRevision != "app-r0" {
			t.Fatalf("rollbackRevision %s", f.d.Status.RollbackRevision)
		}
	})
	t.Run("nothing to return to", func(t *testing.T) {
		f := start(t)
		f.in.Spec.FromRevision = ""
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseFailed, "general")
		f.wantAdmitted()
		if c := f.condition(fleetv1alpha1.ConditionStalled); c.Status != metav1.ConditionTrue || c.Reason != rollout.ReasonCannotRollBack {
			t.Fatalf("Stalled %+v", c)
		}
	})
	t.Run("wins over pause and abort", func(t *testing.T) {
		f := start(t)
		f.in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
	})
	t.Run("waits for offline clusters unless Skip", func(t *testing.T) {
		for _, policy := range []fleetv1alpha1.OfflinePolicy{fleetv1alpha1.OfflineWait, fleetv1alpha1.OfflineSkip} {
			f := start(t)
			f.in.Strategy.OfflinePolicy = policy
			f.online(false, "m-1")
			f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
			f.at(2 * time.Minute).plan()
			f.wantAdmitted("m-1", "m-2", "m-3", "m-4") // offline ones too: they apply it when back
			f.at(3 * time.Minute).healthy("m-2").plan()
			want := fleetv1alpha1.RolloutPhaseRollingBack
			if policy == fleetv1alpha1.OfflineSkip {
				want = fleetv1alpha1.RolloutPhaseRolledBack
			}
			f.wantPhase(want, "general")
		}
	})
}

func TestOnFailureRollback(t *testing.T) {
	s := strategy(wave("canary"), wave("general", catchAll))
	s.OnFailure = fleetv1alpha1.FailureRollback
	f := newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.at(time.Minute).failing("c-1").healthy("c-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "canary")
	f.wantAdmitted("c-1", "c-2")
	fl := f.d.Status.Failures
	if len(fl) != 1 || fl[0].Cluster != "c-1" || f.d.Status.FailureCount != 1 {
		t.Fatalf("failures %+v: the rollout must name the failed clusters", fl)
	}
	f.at(2*time.Minute).healthy("c-1", "c-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "canary")
	if fl := f.d.Status.Failures; len(fl) != 1 || fl[0].Cluster != "c-1" {
		t.Fatalf("failures after the rollback %+v", fl)
	}
	if w := f.wave("general"); w.Phase != fleetv1alpha1.WavePhaseSkipped {
		t.Fatalf("wave general is %s, want Skipped", w.Phase)
	}

	// Without a fromRevision it halts instead.
	f = newFixture(t, s, append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.in.Spec.FromRevision = ""
	f.plan()
	f.at(time.Minute).failing("c-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
	if h := f.lastHistory(); !strings.Contains(h.Message, "no fromRevision") {
		t.Fatalf("history %+v", h)
	}
}

func TestFleetFreeze(t *testing.T) {
	start := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 3)...)
		f.plan()
		return f
	}
	t.Run("halt holds at once and resumes after", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident-1", Action: fleetv1alpha1.FreezeHalt, Reason: "bad image", By: "dave"}
		f.at(time.Minute).healthy("m-1").plan()
		f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
		f.wantAdmitted()
		if c := f.condition(fleetv1alpha1.ConditionFrozen); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "bad image") {
			t.Fatalf("Frozen %+v", c)
		}
		if h := f.lastHistory(); h.Actor != "dave" {
			t.Fatalf("history %+v", h)
		}
		f.in.Freeze = nil
		f.at(2 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
		f.wantAdmitted("m-2")
		if f.condition(fleetv1alpha1.ConditionFrozen) != nil {
			t.Fatal("Frozen condition kept after the freeze")
		}
	})
	t.Run("halt while paused is recorded", func(t *testing.T) {
		f := start(t)
		f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
		f.at(time.Minute).plan()
		n := len(f.d.Status.History)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident-1", Reason: "bad image"}
		f.at(2 * time.Minute).plan()
		if len(f.d.Status.History) != n+1 || f.condition(fleetv1alpha1.ConditionFrozen) == nil {
			t.Fatal("a freeze over a paused rollout is not recorded")
		}
		f.in.Freeze = nil
		f.at(3 * time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
		if len(f.d.Status.History) != n+2 {
			t.Fatal("the end of the freeze is not recorded")
		}
	})
	t.Run("rollback rolls back rollouts in flight", func(t *testing.T) {
		f := start(t)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident-2", Action: fleetv1alpha1.FreezeRollback, Reason: "undo", By: "dave"}
		f.at(time.Minute).healthy("m-1").plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted("m-1")
		// It keeps rolling back after the freeze is gone.
		f.in.Freeze = nil
		f.at(2 * time.Minute).healthy("m-1").plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
	})
	t.Run("rollback holds rollouts that touched nothing", func(t *testing.T) {
		f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 2)...)
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident-2", Action: fleetv1alpha1.FreezeRollback, Reason: "undo"}
		f.plan()
		f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "general")
		f.wantAdmitted()
	})
	t.Run("halt holds a rollback", func(t *testing.T) {
		f := start(t)
		f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
		f.in.Freeze = &rollout.FreezeObservation{Name: "incident-3", Reason: "stop everything"}
		f.at(time.Minute).plan()
		f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
		f.wantAdmitted()
		f.in.Freeze = nil
		f.at(2 * time.Minute).plan()
		f.wantAdmitted("m-1")
	})
}

func TestSuperseded(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 3)...)
	f.plan()
	f.in.SupersededBy = "app-r3"
	f.at(time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSuperseded, "general")
	f.wantAdmitted()
	if f.d.Status.SupersededBy != "app-r3" {
		t.Fatalf("supersededBy %q", f.d.Status.SupersededBy)
	}
	if c := f.condition(fleetv1alpha1.ConditionSuperseded); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Superseded %+v", c)
	}
	// Even a rollback request does nothing any more.
	f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSuperseded, "general")
	f.wantAdmitted()
}

func TestEmptyTargetSetSucceeds(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll)))
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	if f.d.Status.PercentOnTarget != 100 {
		t.Fatalf("percentOnTarget %d", f.d.Status.PercentOnTarget)
	}
}

func TestPlanIsDeterministicAndHealsAfterACrash(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(time.Minute)), wave("general", catchAll, concurrency("2"))),
		append(clusters("c", 2, "ring", "canary"), clusters("g", 5)...)...)
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.at(3 * time.Minute)
	in := f.in
	d1, err1 := rollout.Plan(in)
	d2, err2 := rollout.Plan(in)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(d1, d2) {
		t.Fatalf("two plans of one input differ:\n%+v\n%+v", d1, d2)
	}
	if len(d1.Admit) != 2 {
		t.Fatalf("admitted %v", d1.Admit)
	}
	// The controller wrote the status, then crashed before admitting: the
	// next plan admits the same clusters, and changes nothing else.
	in.Status = d1.Status
	d3, err := rollout.Plan(in)
	if err != nil || !reflect.DeepEqual(d3.Admit, d1.Admit) || !reflect.DeepEqual(d3.Status, d1.Status) || len(d3.Events) != 0 {
		t.Fatalf("re-plan after a crash: %+v", d3)
	}
	// It crashed after admitting one of them: the next plan admits the other.
	in.Clusters = append([]rollout.ClusterObservation(nil), in.Clusters...)
	for i := range in.Clusters {
		if c := &in.Clusters[i]; c.Name == d1.Admit[0].Cluster {
			c.Revision, c.AdmittedAt, c.Health, c.HealthSince = target, in.Now, rollout.HealthProgressing, in.Now
		}
	}
	d4, err := rollout.Plan(in)
	if err != nil || len(d4.Admit) != 1 || d4.Admit[0] != d1.Admit[1] {
		t.Fatalf("re-plan after a partial admission: %+v", d4.Admit)
	}
	// Plan does not change its input.
	if !reflect.DeepEqual(in.Clusters[0], f.in.Clusters[0]) || in.Status.Phase != d1.Status.Phase {
		t.Fatal("Plan changed its input")
	}
}

func TestBoundedLists(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, failures("100%"), deadline(24*time.Hour))), clusters("m", 61)...)
	f.plan()
	f.at(time.Minute).failing(names(60)...).plan()
	st := f.d.Status
	if len(st.Failures) != 50 || st.FailureCount != 60 {
		t.Fatalf("%d failures listed, failureCount %d; want 50 and 60", len(st.Failures), st.FailureCount)
	}
	// Flap a freeze on and off: history keeps the newest 50.
	for i := range 60 {
		if i%2 == 0 {
			f.in.Freeze = &rollout.FreezeObservation{Name: "f", Reason: "flap"}
		} else {
			f.in.Freeze = nil
		}
		f.at(time.Duration(i+2) * time.Minute).plan()
	}
	h := f.d.Status.History
	if len(h) != 50 || !h[49].Time.Time.Equal(t0.Add(61*time.Minute)) {
		t.Fatalf("%d history entries, last at %v", len(h), h[len(h)-1].Time)
	}
	// Messages are bounded too.
	f.in.Freeze = &rollout.FreezeObservation{Name: "f", Reason: strings.Repeat("é", 2000)}
	f.at(time.Hour * 2).plan()
	if m := f.lastHistory().Message; len(m) > 1024 || !strings.HasSuffix(m, "…") {
		t.Fatalf("history message of %d bytes", len(m))
	}
}

func TestConditionsPerPhase(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("1"))), clusters("m", 2)...)
	check := func(ready, reconciling, stalled metav1.ConditionStatus) {
		t.Helper()
		for typ, want := range map[string]metav1.ConditionStatus{
			fleetv1alpha1.ConditionReady: ready, fleetv1alpha1.ConditionReconciling: reconciling, fleetv1alpha1.ConditionStalled: stalled,
		} {
			c := f.condition(typ)
			if c == nil || c.Status != want || c.Reason == "" || c.LastTransitionTime.Nanosecond() != 0 {
				t.Fatalf("%s: %s = %+v, want %s", f.d.Status.Phase, typ, c, want)
			}
		}
	}
	f.plan()
	check(metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse)
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	f.at(time.Minute).plan()
	check(metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse)
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.at(2 * time.Minute).healthy("m-1").plan()
	f.at(3 * time.Minute).healthy("m-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	check(metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse)
	if f.d.Status.PercentOnTarget != 100 || f.d.Status.CompletedAt == nil {
		t.Fatalf("status %+v", f.d.Status)
	}
}

// Every condition says which generation it observed (kstatus and `kubectl
// wait` compare it), as does status.observedGeneration: the one Plan was
// given, also when nothing else changes.
func TestConditionsObserveTheGeneration(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 1)...)
	f.in.Generation = 3
	f.plan()
	want := func(gen int64) {
		t.Helper()
		if f.d.Status.ObservedGeneration != gen {
			t.Fatalf("status.observedGeneration %d, want %d", f.d.Status.ObservedGeneration, gen)
		}
		for _, c := range f.d.Status.Conditions {
			if c.ObservedGeneration != gen {
				t.Fatalf("condition %s observedGeneration %d, want %d", c.Type, c.ObservedGeneration, gen)
			}
		}
	}
	want(3)
	ready := *f.condition(fleetv1alpha1.ConditionReconciling)
	f.in.Generation = 4 // an edit that changes nothing the plan decides
	f.at(time.Minute).plan()
	want(4)
	if c := f.condition(fleetv1alpha1.ConditionReconciling); !c.LastTransitionTime.Equal(&ready.LastTransitionTime) {
		t.Fatalf("a new generation moved the transition time: %v, was %v", c.LastTransitionTime, ready.LastTransitionTime)
	}
}
