package rollout_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The kill switch pulled while the hub is down. The hub stored the
// canary's admission (its status write is the admission) and stopped
// before its instance controller wrote the canary's Works; meanwhile the
// on-call created a Rollback FleetFreeze: "no rollout admits any cluster".
// The restarted hub's instance controller wrote the change to the canary
// from the admission stored before the freeze, before (or, here, without)
// the Rollout controller taking it back: a cluster that never had the
// change got it under the kill switch. While a freeze is active no Work
// moves forward; an admission it held is written once it lifts.
func TestAnAdmissionUnwrittenWhenTheFleetFreezesIsNotWritten(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "downfrz.example.com"}
	s.strategy("downfrz", fleetv1alpha1.FailureHalt, wave("canary", func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
	}), wave("general"))
	r1 := s.givenSite("downfrz", "downfrz")
	name, r2 := s.release("downfrz", "2", r1)
	s.waitRollout(name, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	// The hub's last act: the canary's admission, no Work written after it.
	s.admitCanaryWithTheHubDown(stop, "downfrz", name, r1)

	// The kill switch, while the hub is down.
	freeze := s.freeze("downfrz-incident", fleetv1alpha1.FreezeRollback)

	// The restarted hub's instance controller, alone: its Rollout
	// controller may plan after it, or not at all, as here.
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{NoRolloutController: true})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got := s.workRevision("downfrz", "downfrz-team", "downfrz-c1"); got != r1 {
			t.Fatalf("under a Rollback freeze the canary's Work went from %s to %s, from an admission stored before the freeze", r1, got)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The freeze lifted, the admission stands: the canary takes the change.
	if err := s.C.Delete(s.Ctx, freeze); err != nil {
		t.Fatal(err)
	}
	s.moves("downfrz", r2, "downfrz-c1")
	s.stays("downfrz", r1, "downfrz-g1", "downfrz-g2")
}
