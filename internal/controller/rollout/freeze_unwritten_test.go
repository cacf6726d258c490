package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/controller/rollout"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
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
	stop()
	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "canary",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})

	// The hub's last act: the canary's admission, no Work written after it.
	key := client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}
	mgr := hubtest.StartManager(t, s.Ctx, hubCP.RESTConfig)
	admitting := &rollout.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
		Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	promisetest.Eventually(t, time.Minute, "the canary admitted", func() (bool, string) {
		if _, err := admitting.Reconcile(s.Ctx, ctrl.Request{NamespacedName: key}); err != nil {
			return false, err.Error()
		}
		ro := s.rollout(name)
		return len(ro.Status.Waves) > 0 && ro.Status.Waves[0].Admitted == string(fleetv1alpha1.AdmittedTarget), string(ro.Status.Phase)
	})
	if got := s.workRevision("downfrz", "downfrz-team", "downfrz-c1"); got != r1 {
		t.Fatalf("the canary's Work renders %q with no instance controller running, want %q", got, r1)
	}

	// The kill switch, while the hub is down.
	freeze := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "downfrz-incident"},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "incident", Action: fleetv1alpha1.FreezeRollback, FrozenBy: "oncall"},
	}
	s.Create(freeze)
	t.Cleanup(func() { _ = s.C.Delete(s.Ctx, freeze) })

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
