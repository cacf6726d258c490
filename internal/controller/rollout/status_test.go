package rollout_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/rollout"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// staleRollout reads one Rollout as a lagging cache would still hold it.
type staleRollout struct {
	client.Client
	stale *fleetv1alpha1.Rollout
}

func (c staleRollout) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if ro, ok := obj.(*fleetv1alpha1.Rollout); ok && key == client.ObjectKeyFromObject(c.stale) {
		c.stale.DeepCopyInto(ro)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// The status write is the admission, so it goes through the one status
// helper with its optimistic lock: a plan made from a stale Rollout (its
// status before the last step) is refused with a conflict, to be made again
// from the stored one, and never writes its admissions over the newer ones.
func TestAPlanFromAStaleRolloutIsNotWritten(t *testing.T) {
	s := newStory(t, "stale.example.com")
	s.strategy("stale", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite("stale", "stale")
	name, r2 := s.release("stale", "2", r1)
	stale := s.waitRollout(name, "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.CurrentWave == "canary" && ro.Status.Counts.Admitted == 1
	})
	s.moves("stale", r2, "stale-c1")
	s.reportReady("stale", "stale-team", "stale-c1")
	s.waitRollout(name, "admitting the general wave", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.CurrentWave == "general"
	})

	// A Reconciler of its own, with the hub's indexes, whose cache lags on this Rollout.
	ctx := s.Ctx
	mgr := hubtest.StartManager(t, ctx, hubCP.RESTConfig)
	r := &rollout.Reconciler{Client: staleRollout{Client: mgr.GetClient(), stale: stale}, Cache: mgr.GetCache(),
		Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stale)})
	if !apierrors.IsConflict(err) {
		t.Fatalf("a plan from a stale Rollout: err = %v, want a conflict", err)
	}
	if ro := s.rollout(name); ro.Status.CurrentWave != "general" {
		t.Fatalf("the stale plan was written: wave %q, waves %+v", ro.Status.CurrentWave, ro.Status.Waves)
	}
}
