package rollout_test

import (
	"slices"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A revert (a change back while the change's Rollout is in flight) runs
// from the in-flight target, which only the canary took, back to what the
// rest of the fleet never left. Rolling the revert back (a Rollback freeze,
// onFailure Rollback, or a request) moved every cluster rendering its
// target to its fromRevision: the clusters that never left the old revision
// took the change their wave never approved, the kill switch spreading the
// change it was pulled to stop.
func TestRollingBackARevertMovesOnlyWhatItMoved(t *testing.T) {
	revert := func(t *testing.T) *fixture {
		f := newFixture(t, strategy(wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired })),
			cluster("canary-1", "ring", "canary"), cluster("general-1", "ring", "general"), cluster("general-2", "ring", "general"))
		// The canary runs the change (target) the revert undoes.
		f.update("canary-1", func(o *rollout.ClusterObservation) {
			o.Revision, o.AppliedRevision, o.AdmittedAt = target, target, t0.Add(-time.Minute)
		})
		f.in.Spec.FromRevision, f.in.Spec.TargetRevision = target, from
		f.plan()
		return f
	}
	for name, undo := range map[string]func(*fixture){
		"freeze": func(f *fixture) {
			f.in.Freeze = &rollout.FreezeObservation{Name: "incident", Action: fleetv1alpha1.FreezeRollback, Reason: "incident", By: "dave"}
		},
		"onFailure": func(f *fixture) {
			f.in.Strategy.OnFailure = fleetv1alpha1.FailureRollback
			f.failing("canary-1")
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := revert(t)
			f.in.PartialFrom = true // as the controller sets it for a revert (RanInFull)
			undo(f)
			for i := 1; i < 4; i++ {
				f.at(time.Duration(i) * time.Minute).plan()
				for _, c := range []string{"general-1", "general-2"} {
					if slices.Contains(f.admitted(), c) {
						t.Fatalf("%s admitted to %s, which its wave never approved (history: %s)", c, target, history(f.d.Status))
					}
				}
			}
			if f.d.Status.RollbackRevision != "" {
				t.Fatalf("rolling back to %s (history: %s)", f.d.Status.RollbackRevision, history(f.d.Status))
			}
		})
	}
}
