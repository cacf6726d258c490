package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// tooLargeStatus refuses every status write as etcd refuses an object
// over its 1.5 MiB (the API server's answer, as
// TestARolloutStatusThatCouldOutgrowEtcdIsRefusedAtTheStart sees it).
type tooLargeStatus struct{ client.Client }

func (c tooLargeStatus) Status() client.SubResourceWriter { return tooLargeWriter{c.Client.Status()} }

type tooLargeWriter struct{ client.SubResourceWriter }

func (tooLargeWriter) Patch(context.Context, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
	return apierrors.NewInternalError(errors.New("etcdserver: request is too large"))
}

// A Rollout whose status grew past what etcd stores (check details kept
// across many waves, what the bound on a target set does not count) is
// refused at every write, and a status write cannot say why, so the
// Rollout read as it was with only the hub's log saying anything. The hub
// now records a Warning Event on the Rollout, an object of its own.
func TestAStatusTooLargeToWriteIsAWarningEvent(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "toolarge.example.com"}
	s.strategy("toolarge", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite("toolarge", "toolarge")
	name, r2 := s.release("toolarge", "2", r1)
	ro := s.waitRollout(name, "admitting the canary", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.CurrentWave == "canary" && ro.Status.Counts.Admitted == 1
	})
	s.moves("toolarge", r2, "toolarge-c1")
	stop()
	s.reportReady("toolarge", "toolarge-team", "toolarge-c1")

	mgr := hubtest.StartManager(t, s.Ctx, hubCP.RESTConfig)
	rec := events.NewFakeRecorder(100)
	r := &rollout.Reconciler{Client: tooLargeStatus{mgr.GetClient()}, Cache: mgr.GetCache(), Recorder: rec, Clock: clock.RealClock{}}
	promisetest.Eventually(t, 30*time.Second, "a plan whose write is refused", func() (bool, string) {
		_, err := r.Reconcile(s.Ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ro)})
		return err != nil, "no write"
	})
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, rollout.ReasonStatusTooLarge) || !strings.Contains(e, "request is too large") {
			t.Fatalf("event %q", e)
		}
	default:
		t.Fatal("a status write refused for its size recorded no Event")
	}
}
