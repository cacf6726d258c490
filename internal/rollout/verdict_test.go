package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// stray gives clusters a failure that is not the rollout's: a new instance
// failing on the old revision.
func (f *fixture) stray(names ...string) *fixture {
	for _, n := range names {
		f.update(n, func(o *rollout.ClusterObservation) {
			o.Unattributed = &rollout.Unattributed{Revision: from, Reason: "ApplyFailed",
				Message: `team-c/ledger: namespaces "team-c" not found`, Since: f.in.Now}
		})
	}
	return f
}

// A failure that is not the rollout's never counts against a budget, on a
// cluster admitted or not, and is reported apart with its revision.
func TestUnattributedFailuresNeverCount(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", failures("0")), wave("general", catchAll, failures("0"))),
		cluster("canary-1", "ring", "canary"), cluster("general-1"))
	f.in.Strategy.OnFailure = fleetv1alpha1.FailureRollback
	f.plan()
	f.wantAdmitted("canary-1")
	f.at(10*time.Second).stray("canary-1", "general-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	if st := f.d.Status; st.UnattributedFailureCount != 2 || st.FailureCount != 0 || st.Counts.Failed != 0 {
		t.Fatalf("unattributed %d, failures %d, failed %d; want 2, 0, 0", st.UnattributedFailureCount, st.FailureCount, st.Counts.Failed)
	}
	for _, fl := range f.d.Status.UnattributedFailures {
		if fl.Revision != from || fl.Reason != "ApplyFailed" || !fl.Time.Equal(ptr(metav1.NewTime(t0.Add(10*time.Second)))) {
			t.Errorf("unattributed failure %+v", fl)
		}
	}
	f.at(20 * time.Second).healthyAll().plan()
	f.at(30 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	if c := f.condition(fleetv1alpha1.ConditionDegraded); c != nil {
		t.Errorf("unattributed failures made it degraded: %+v", c)
	}
	if f.d.Status.UnattributedFailureCount != 2 {
		t.Errorf("the ended rollout keeps %d unattributed failures, want 2", f.d.Status.UnattributedFailureCount)
	}
}

// A wave that completes with a failure within its budget is
// SucceededWithFailures, and so is the rollout's outcome: phase Succeeded,
// Ready and Degraded with reason SucceededWithFailures.
func TestSucceededWithFailures(t *testing.T) {
	f := newFixture(t, strategy(wave("pilot", failures("0")), wave("general", catchAll, failures("1"))),
		cluster("pilot-1", "ring", "pilot"), cluster("general-1"), cluster("general-2"))
	f.plan()
	f.at(10 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	if w := f.wave("pilot"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Fatalf("pilot %s, want Succeeded", w.Phase)
	}
	f.at(20 * time.Second).healthy("general-1").failing("general-2").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	if w := f.wave("general"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures {
		t.Errorf("general %s, want SucceededWithFailures", w.Phase)
	}
	for _, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionDegraded} {
		if c := f.condition(typ); c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonSucceededWithFailures {
			t.Errorf("%s = %+v, want True SucceededWithFailures", typ, c)
		}
	}
}

// A completed wave says how its clusters are now: one that fails after the
// wave completed makes it SucceededWithFailures, never Succeeded with 0/1
// healthy; it does not fail the rollout (the bake is where late failures
// are caught).
func TestCompletedWaveTellsItsClustersNow(t *testing.T) {
	f := newFixture(t, strategy(wave("pilot"), wave("general", catchAll, approval)),
		cluster("pilot-1", "ring", "pilot"), cluster("general-1"))
	f.plan()
	f.at(10 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	f.at(20 * time.Second).failing("pilot-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	if w := f.wave("pilot"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || w.Counts.Healthy != 0 {
		t.Errorf("pilot %s with %d healthy, want SucceededWithFailures", w.Phase, w.Counts.Healthy)
	}
	f.at(30 * time.Second).healthy("pilot-1").plan()
	if w := f.wave("pilot"); w.Phase != fleetv1alpha1.WavePhaseSucceeded {
		t.Errorf("pilot %s once healthy again, want Succeeded", w.Phase)
	}
}

// Once a rollback starts no wave shows a phase at work: the ones that
// started are RolledBack, the others Skipped, the failed one stays Failed.
func TestRollbackLeavesNoWaveAtWork(t *testing.T) {
	f := newFixture(t, strategy(wave("pilot"), wave("canary", bake(time.Hour)), wave("general", catchAll)),
		cluster("pilot-1", "ring", "pilot"), cluster("canary-1", "ring", "canary"), cluster("general-1"))
	f.plan()
	f.at(10 * time.Second).healthyAll().plan()
	f.at(20 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "canary")
	f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("alice", t0.Add(30*time.Second), "")}
	f.at(30 * time.Second).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "canary")
	for name, want := range map[string]fleetv1alpha1.WavePhase{
		"pilot": fleetv1alpha1.WavePhaseRolledBack, "canary": fleetv1alpha1.WavePhaseRolledBack, "general": fleetv1alpha1.WavePhaseSkipped,
	} {
		if got := f.wave(name).Phase; got != want {
			t.Errorf("wave %s is %s, want %s", name, got, want)
		}
	}
}

// A Deadline rollout whose every target adopted and is healthy completes at
// once, long before its deadline, without starting its waves.
func TestDeadlineCompletesEarly(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", approval, bake(time.Hour)), wave("general", catchAll)),
		cluster("canary-1", "ring", "canary"), cluster("general-1"))
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
		Deadline: ptr(metav1.NewTime(t0.Add(5 * 365 * 24 * time.Hour)))}
	f.plan()
	f.update("canary-1", func(o *rollout.ClusterObservation) { o.Adopted = true })
	f.at(10 * time.Second).plan()
	f.at(20 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "")
	f.update("general-1", func(o *rollout.ClusterObservation) { o.Adopted = true })
	f.at(30 * time.Second).plan()
	f.at(40 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	if a := f.d.Status.Adoption; a == nil || a.ForcedAt != nil {
		t.Errorf("adoption %+v, want no forcedAt", a)
	}
	for _, w := range f.d.Status.Waves {
		if w.Phase != fleetv1alpha1.WavePhaseSucceeded || w.StartedAt != nil {
			t.Errorf("wave %s %s started %v, want Succeeded without starting", w.Name, w.Phase, w.StartedAt)
		}
	}
}

// pauseAt and resumeAt set desiredState as `flotilla rollout pause/resume` do.
func (f *fixture) pauseAt(at time.Duration) {
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	f.in.Spec.StateChange = ptr(record("bob", t0.Add(at), ""))
}

func (f *fixture) resumeAt(at time.Duration) {
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutRunning
	f.in.Spec.StateChange = ptr(record("bob", t0.Add(at), ""))
}

// A wave over its failure budget behind a pause or a Halt freeze does not
// complete: it would start the next wave, or end the rollout Succeeded
// "within the budget", once resumed. The resume applies onFailure.
func TestHeldWaveOverBudgetDoesNotComplete(t *testing.T) {
	for _, tt := range []struct {
		name      string
		hold, end func(*fixture)
		multi     bool
	}{
		{"paused, next wave", func(f *fixture) { f.pauseAt(time.Minute) }, func(f *fixture) { f.resumeAt(2 * time.Minute) }, true},
		{"paused, last wave", func(f *fixture) { f.pauseAt(time.Minute) }, func(f *fixture) { f.resumeAt(2 * time.Minute) }, false},
		{"frozen, next wave", func(f *fixture) {
			f.in.Freeze = &rollout.FreezeObservation{Name: "f", Action: fleetv1alpha1.FreezeHalt, Reason: "incident"}
		}, func(f *fixture) { f.in.Freeze = nil }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			waves := []fleetv1alpha1.Wave{wave("canary", catchAll, failures("0"))}
			cs := []rollout.ClusterObservation{cluster("canary-1"), cluster("canary-2")}
			if tt.multi {
				waves = []fleetv1alpha1.Wave{wave("canary", failures("0")), wave("general", catchAll)}
				cs = []rollout.ClusterObservation{cluster("canary-1", "ring", "canary"), cluster("canary-2", "ring", "canary"), cluster("general-1")}
			}
			f := newFixture(t, strategy(waves...), cs...)
			f.plan()
			f.wantAdmitted("canary-1", "canary-2")
			tt.hold(f)
			f.at(time.Minute).healthy("canary-1").failing("canary-2").plan()
			f.wantPhase(fleetv1alpha1.RolloutPhasePaused, "canary")
			if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseProgressing {
				t.Fatalf("wave canary is %s while held over its budget, want Progressing", w.Phase)
			}
			tt.end(f)
			f.at(2 * time.Minute).plan()
			f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
			f.wantAdmitted()
		})
	}
}

// A rollback under offlinePolicy Skip does not wait for an offline cluster
// still on the target, and its verdict says so rather than "every cluster
// is back".
func TestRolledBackNamesSkippedOfflineClusters(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, bake(time.Hour))), clusters("m", 2)...)
	f.in.Strategy.OfflinePolicy = fleetv1alpha1.OfflineSkip
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseBaking, "general")
	f.online(false, "m-2")
	f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("alice", t0.Add(2*time.Minute), "")}
	f.at(2 * time.Minute).plan()
	f.wantAdmitted("m-1", "m-2")
	f.at(3 * time.Minute).healthy("m-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
	want := "every cluster is back on " + from + " except 1 cluster offline (offlinePolicy Skip, not waited for), still on " + target + " until it returns"
	if c := f.condition(fleetv1alpha1.ConditionReady); c == nil || c.Message != want {
		t.Fatalf("Ready %+v, want message %q", c, want)
	}
}

// A cluster that fails after its wave completed is not checked against that
// wave's budget again (bake time is where late failures are caught), but the
// verdict does not call it a failure "within the budget" either.
func TestLateFailureOverACompletedWavesBudgetIsNotWithinIt(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", failures("0")), wave("general", catchAll)),
		cluster("canary-1", "ring", "canary"), cluster("general-1"))
	f.plan()
	f.at(10 * time.Second).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.at(20 * time.Second).healthy("general-1").failing("canary-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	c := f.condition(fleetv1alpha1.ConditionReady)
	if c == nil || strings.Contains(c.Message, "within the budget") || !strings.Contains(c.Message, "over the budget of a wave that had completed") {
		t.Fatalf("Ready %+v", c)
	}
}

// Clusters that leave the fleet mid-rollout are no failure, but the verdict
// does not say the Promise is on the target there: "is on" would be false of
// a rollout whose every cluster left.
func TestSucceededSaysWhichClustersLeftTheFleet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave []string
		want  string
	}{
		{"one of three", []string{"m-1"}, "; 1 of 3 clusters left the fleet without reaching it"},
		{"every one", []string{"m-1", "m-2", "m-3"}, "; 3 of 3 clusters left the fleet without reaching it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 3)...)
			f.plan()
			for _, name := range tc.leave {
				f.in.Clusters = slicesDelete(f.in.Clusters, name)
			}
			f.at(time.Minute).healthyAll().plan()
			f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
			if c := f.condition(fleetv1alpha1.ConditionReady); c == nil || !strings.HasSuffix(c.Message, tc.want) {
				t.Fatalf("Ready %+v, want a message ending %q", c, tc.want)
			}
		})
	}
	// None left: the message is as it was.
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 3)...)
	f.plan()
	f.at(time.Minute).healthyAll().plan()
	if c := f.condition(fleetv1alpha1.ConditionReady); c == nil || strings.Contains(c.Message, "left the fleet") {
		t.Fatalf("Ready %+v", c)
	}
}
