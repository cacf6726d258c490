package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/controller/rollout"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// A hub admits the canary (its status write is the admission) and stops
// before its instance controller writes the canary's Works; it is down for
// longer than the progress deadline. The restarted hub's first plan, before
// its instance controller could write them, failed the canary by its
// deadline and halted the Rollout: a cluster that never received the
// change. The wait counts from when the restarted hub began to lead.
func TestAnAdmissionUnwrittenWhileTheHubWasDownIsNotFailedAtTheRestart(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "downdl.example.com"}
	canary := func(w *fleetv1alpha1.Wave) {
		w.Approval = fleetv1alpha1.ApprovalRequired
		w.ProgressDeadline = &metav1.Duration{Duration: time.Minute}
	}
	s.strategy("downdl", fleetv1alpha1.FailureHalt, wave("canary", canary), wave("general"))
	r1 := s.givenSite("downdl", "downdl")
	name, r2 := s.release("downdl", "2", r1)
	s.waitRollout(name, "waiting for the canary's approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	mgr, reconcileUntil := s.admitCanaryWithTheHubDown(stop, "downdl", name, r1)
	key := client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}

	cached := &fleetv1alpha1.Rollout{}
	promisetest.Eventually(t, time.Minute, "the cache to hold the admission", func() (bool, string) {
		if err := mgr.GetClient().Get(s.Ctx, key, cached); err != nil {
			return false, err.Error()
		}
		return len(cached.Status.Waves) > 0 && len(cached.Status.Waves[0].Admitted) == 1, "not yet"
	})

	// Restarted ten minutes later, its instance controller not yet done.
	restarted := &rollout.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
		Recorder: events.NewFakeRecorder(100), Clock: clocktesting.NewFakePassiveClock(time.Now().Add(10 * time.Minute))}
	ro := reconcileUntil(restarted, "a plan by the restarted hub", func(*fleetv1alpha1.Rollout) bool { return true })
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseProgressing || len(ro.Status.Failures) != 0 {
		t.Fatalf("after the restart: %s (%s), failures %+v; want Progressing, the canary in flight towards %s",
			ro.Status.Phase, ro.Status.History[len(ro.Status.History)-1].Message, ro.Status.Failures, r2)
	}
}

// admitCanaryWithTheHubDown leaves what a hub leaves when it stops between a
// canary's admission (its status write) and the writes of the canary's
// Works: it stops the hub (stop), approves the canary of Rollout name as
// alice, and admits it with a Rollout reconciler alone, no instance
// controller running, checking that promise's canary Work still renders
// r1. It returns the manager whose cache that reconciler read, and
// reconcileUntil, which reconciles the Rollout with a reconciler until done.
func (s *story) admitCanaryWithTheHubDown(stop func(), promise, name, r1 string) (
	manager.Manager, func(r *rollout.Reconciler, what string, done func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout) {
	t := s.TB
	t.Helper()
	stop()
	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "canary",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})

	key := client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}
	mgr := hubtest.StartManager(t, s.Ctx, hubCP.RESTConfig)
	reconcileUntil := func(r *rollout.Reconciler, what string, done func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
		t.Helper()
		var ro *fleetv1alpha1.Rollout
		promisetest.Eventually(t, time.Minute, what, func() (bool, string) {
			if _, err := r.Reconcile(s.Ctx, ctrl.Request{NamespacedName: key}); err != nil {
				return false, err.Error()
			}
			ro = s.rollout(name)
			return done(ro), string(ro.Status.Phase)
		})
		return ro
	}
	admitting := &rollout.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
		Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	reconcileUntil(admitting, "the canary admitted", func(ro *fleetv1alpha1.Rollout) bool {
		return len(ro.Status.Waves) > 0 && ro.Status.Waves[0].Admitted == string(fleetv1alpha1.AdmittedTarget)
	})
	if got := s.workRevision(promise, promise+"-team", promise+"-c1"); got != r1 {
		t.Fatalf("the canary's Work renders %q with no instance controller running, want %q", got, r1)
	}
	return mgr, reconcileUntil
}
