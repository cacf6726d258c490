package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A Rollout rolled back over its failure budget (kstatus Failed: its change
// failed) must keep that verdict when someone adds spec.rollback after the
// end (the API server lets whoever operates the Rollout, a team for its
// instance's, write it on an ended Rollout; the CLI refuses, kubectl does
// not): the end is settled, an edit changes only the observed generation.
// It read "rolled back on request" (Ready True, Stalled False: Current).
func TestARollbackAddedAfterTheEndDoesNotRewriteAFailedVerdict(t *testing.T) {
	s := strategy(wave("general", catchAll, concurrency("2")))
	s.OnFailure = fleetv1alpha1.FailureRollback
	for _, when := range []string{"after the end", "while rolling back"} {
		t.Run(when, func(t *testing.T) {
			f := newFixture(t, s, clusters("m", 3)...)
			f.in.Generation = 1
			f.plan()
			f.at(time.Minute).failing("m-1").plan()
			f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
			if when == "while rolling back" {
				f.in.Generation = 2
				f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("mallory", t0.Add(90*time.Second), "")}
			}
			f.at(2*time.Minute).healthy("m-1", "m-2").plan()
			f.wantPhase(fleetv1alpha1.RolloutPhaseRolledBack, "general")
			if when == "after the end" {
				if got := kstatusOf(f); got != "Failed" {
					t.Fatalf("before the edit: kstatus %s, want Failed", got)
				}
				f.in.Generation = 2
				f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("mallory", t0.Add(time.Hour), "")}
				f.at(time.Hour).plan()
			}
			if got := kstatusOf(f); got != "Failed" {
				t.Fatalf("kstatus %s, want Failed (rolled back over the failure budget); conditions %+v", got, f.d.Status.Conditions)
			}
		})
	}
}
