package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// kstatusOf is what kstatus computes from the trio once observedGeneration
// matches: Reconciling True is InProgress, Stalled True Failed, Ready True
// Current, and Ready False InProgress.
func kstatusOf(f *fixture) string {
	switch {
	case f.condition(fleetv1alpha1.ConditionReconciling).Status == metav1.ConditionTrue:
		return "InProgress"
	case f.condition(fleetv1alpha1.ConditionStalled).Status == metav1.ConditionTrue:
		return "Failed"
	case f.condition(fleetv1alpha1.ConditionReady).Status == metav1.ConditionTrue:
		return "Current"
	}
	return "InProgress"
}

// Every end is settled for kstatus, never InProgress forever: Current when
// the Rollout did what was asked of it (succeeded, aborted, rolled back on
// request or by a freeze, superseded by the Rollout that carries the
// subject on), Failed when its change failed (rolled back over its failure
// budget, or a rollback that could not be done).
func TestEndedRolloutsAreSettledForKstatus(t *testing.T) {
	onFailure := strategy(wave("general", catchAll, concurrency("2")))
	onFailure.OnFailure = fleetv1alpha1.FailureRollback
	for _, tc := range []struct {
		name    string
		s       fleetv1alpha1.RolloutStrategySpec
		end     func(f *fixture)
		phase   fleetv1alpha1.RolloutPhase
		reason  string
		kstatus string
	}{
		{name: "succeeded", end: func(f *fixture) {
			f.at(time.Minute).healthyAll().plan()
			f.at(2 * time.Minute).healthyAll().plan()
		}, phase: fleetv1alpha1.RolloutPhaseSucceeded, reason: string(fleetv1alpha1.RolloutPhaseSucceeded), kstatus: "Current"},
		{name: "succeeded with failures", s: func() fleetv1alpha1.RolloutStrategySpec {
			return strategy(wave("general", catchAll, concurrency("2"), failures("1")))
		}(), end: func(f *fixture) {
			f.at(time.Minute).healthy("m-1").failing("m-2").plan()
			f.at(2 * time.Minute).healthy("m-3").plan()
		}, phase: fleetv1alpha1.RolloutPhaseSucceeded, reason: fleetv1alpha1.ReasonSucceededWithFailures, kstatus: "Current"},
		{name: "aborted", end: func(f *fixture) {
			f.in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
			f.at(time.Minute).plan()
		}, phase: fleetv1alpha1.RolloutPhaseAborted, reason: string(fleetv1alpha1.RolloutPhaseAborted), kstatus: "Current"},
		{name: "superseded", end: func(f *fixture) {
			f.in.SupersededBy = "app-r3"
			f.at(time.Minute).plan()
		}, phase: fleetv1alpha1.RolloutPhaseSuperseded, reason: fleetv1alpha1.ReasonSupersededByRollout, kstatus: "Current"},
		{name: "rolled back on request", end: func(f *fixture) {
			f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("carol", t0.Add(time.Minute), "bad")}
			f.at(time.Minute).plan()
			f.at(2*time.Minute).healthy("m-1", "m-2").plan()
		}, phase: fleetv1alpha1.RolloutPhaseRolledBack, reason: string(fleetv1alpha1.RolloutPhaseRolledBack), kstatus: "Current"},
		{name: "rolled back by a freeze", end: func(f *fixture) {
			f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "incident", By: "dave"}
			f.at(time.Minute).plan()
			f.at(2*time.Minute).healthy("m-1", "m-2").plan()
		}, phase: fleetv1alpha1.RolloutPhaseRolledBack, reason: string(fleetv1alpha1.RolloutPhaseRolledBack), kstatus: "Current"},
		{name: "rolled back over the failure budget", s: onFailure, end: func(f *fixture) {
			f.at(time.Minute).failing("m-1").plan()
			f.at(2*time.Minute).healthy("m-1", "m-2").plan()
		}, phase: fleetv1alpha1.RolloutPhaseRolledBack, reason: string(fleetv1alpha1.RolloutPhaseRolledBack), kstatus: "Failed"},
		{name: "failed", end: func(f *fixture) {
			f.in.Spec.FromRevision = ""
			f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
			f.at(time.Minute).plan()
		}, phase: fleetv1alpha1.RolloutPhaseFailed, reason: rollout.ReasonCannotRollBack, kstatus: "Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			if len(s.Waves) == 0 {
				s = strategy(wave("general", catchAll, concurrency("2")))
			}
			f := newFixture(t, s, clusters("m", 3)...)
			f.in.Generation = 1
			f.plan()
			tc.end(f)
			f.wantPhase(tc.phase, f.d.Status.CurrentWave)
			if got := kstatusOf(f); got != tc.kstatus {
				t.Fatalf("kstatus %s, want %s; conditions %+v", got, tc.kstatus, f.d.Status.Conditions)
			}
			ready := *f.condition(fleetv1alpha1.ConditionReady)
			if ready.Reason != tc.reason || ready.ObservedGeneration != 1 {
				t.Fatalf("Ready %+v, want reason %s for generation 1", ready, tc.reason)
			}

			// A spec edited after the end changes nothing but the
			// generation observed, by the status and every condition.
			f.in.Generation = 2
			f.in.Spec.DesiredState = fleetv1alpha1.RolloutPaused
			f.at(time.Hour).plan()
			f.wantPhase(tc.phase, f.d.Status.CurrentWave)
			f.wantAdmitted()
			after := *f.condition(fleetv1alpha1.ConditionReady)
			if f.d.Status.ObservedGeneration != 2 || after.ObservedGeneration != 2 || after.Reason != ready.Reason ||
				after.Message != ready.Message || !after.LastTransitionTime.Equal(&ready.LastTransitionTime) {
				t.Fatalf("after an edit: observedGeneration %d, Ready %+v; was %+v", f.d.Status.ObservedGeneration, after, ready)
			}
			if got := kstatusOf(f); got != tc.kstatus {
				t.Fatalf("after an edit: kstatus %s, want %s", got, tc.kstatus)
			}
			// The same from a plan that cannot be made (the Promise is gone).
			f.in.Generation = 3
			f.d = rollout.PlanBlocked(f.in, rollout.Blocked{Reason: fleetv1alpha1.ReasonNotFound, Message: "promise app not found"})
			if got := kstatusOf(f); got != tc.kstatus || f.condition(fleetv1alpha1.ConditionReady).ObservedGeneration != 3 {
				t.Fatalf("blocked after the end: kstatus %s, conditions %+v", got, f.d.Status.Conditions)
			}
		})
	}
}

// A Rollout that ended before its end was settled for kstatus (Ready,
// Reconciling and Stalled all False: InProgress for ever) is settled by the
// next plan.
func TestAnEndLeftInProgressIsSettled(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll)), clusters("m", 2)...)
	f.plan()
	f.in.Spec.DesiredState = fleetv1alpha1.RolloutAborted
	f.at(time.Minute).plan()
	for i := range f.in.Status.Conditions {
		f.in.Status.Conditions[i].Status = metav1.ConditionFalse
	}
	f.at(time.Hour).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseAborted, "general")
	if got := kstatusOf(f); got != "Current" {
		t.Fatalf("kstatus %s; conditions %+v", got, f.d.Status.Conditions)
	}
}
