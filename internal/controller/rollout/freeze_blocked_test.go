package rollout_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The kill switch holds for a Rollout that cannot be planned. The canary
// takes the change, then its strategy goes (deleted by a platform engineer
// in the incident, or edited with a check that cannot run): the Rollout is
// Stalled, and a Rollback FleetFreeze, pulled for the incident, passed it
// over: the change stayed on the canary while the freeze rolled back every
// other Rollout. The freeze rolls it back to its fromRevision, and says so.
func TestARollbackFreezeRollsBackARolloutThatCannotBePlanned(t *testing.T) {
	for _, tc := range []struct {
		name, suite, reason string
		breaks              func(s *story, strategy string)
	}{
		{"its strategy deleted", "frzgone", fleetv1alpha1.ReasonStrategyNotFound, func(s *story, strategy string) {
			if err := s.C.Delete(s.Ctx, &fleetv1alpha1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: strategy}}); err != nil {
				t.Fatal(err)
			}
		}},
		{"a check that cannot run", "frzbadcheck", fleetv1alpha1.ReasonInvalidCheck, func(s *story, strategy string) {
			st := &fleetv1alpha1.RolloutStrategy{}
			if err := s.C.Get(s.Ctx, client.ObjectKey{Name: strategy}, st); err != nil {
				t.Fatal(err)
			}
			st.Spec.Checks = []fleetv1alpha1.Check{{Name: "smoke", Condition: "result.code ==",
				HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://shop:8080/smoke"}}}
			if err := s.C.Update(s.Ctx, st); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.suite
			s := newStory(t, n+".example.com")
			s.strategy(n, fleetv1alpha1.FailureHalt, wave("canary"), wave("general", func(w *fleetv1alpha1.Wave) {
				w.Approval = fleetv1alpha1.ApprovalRequired
			}))
			r1 := s.givenSite(n, n)
			name, r2 := s.release(n, "2", r1)
			s.moves(n, r2, n+"-c1")
			tc.breaks(s, n)
			s.waitRollout(name, "stalled", func(ro *fleetv1alpha1.Rollout) bool {
				return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == tc.reason
			})

			freeze := s.freeze(n+"-incident", fleetv1alpha1.FreezeRollback)
			ro := s.waitRollout(name, "rolled back by the freeze", func(ro *fleetv1alpha1.Rollout) bool {
				return ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRolledBack
			})
			if ro.Status.RollbackRevision != r1 || ro.Status.RolledBackBy() != freeze.Name {
				t.Fatalf("rollbackRevision %q, rolled back by %q", ro.Status.RollbackRevision, ro.Status.RolledBackBy())
			}
			s.moves(n, r1, n+"-c1")
			s.reportReady(n, n+"-team", n+"-c1")
			ro = s.waitRollout(name, "rolled back", phaseIs(fleetv1alpha1.RolloutPhaseRolledBack))
			if h := ro.Status.History[len(ro.Status.History)-1]; h.To != fleetv1alpha1.RolloutPhaseRolledBack {
				t.Fatalf("history %+v", ro.Status.History)
			}
			s.stays(n, r1, s.clusters(n)...)
		})
	}
}
