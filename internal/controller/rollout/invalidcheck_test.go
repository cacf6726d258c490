package rollout_test

import (
	"strings"
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

// A check that cannot run (its condition does not compile) stalls the
// Rollout with reason InvalidCheck, recorded as an Event once: a reconcile
// that finds the same cause writes no Event again.
func TestInvalidCheckIsRecordedOnce(t *testing.T) {
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{NoRolloutController: true})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "invchk.example.com"}
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "invchk"},
		Spec: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{wave("canary"), wave("general")},
			Checks: []fleetv1alpha1.Check{{Name: "errors", Condition: "result[0] <",
				Metric: &fleetv1alpha1.MetricCheck{Address: "http://127.0.0.1:1", Query: "errors"}}}},
	})
	r1 := s.givenSite("invchk", "invchk")
	name, _ := s.release("invchk", "2", r1)
	s.waitRollout(name, "created", func(*fleetv1alpha1.Rollout) bool { return true })

	ctx := s.Ctx
	mgr := hubtest.StartManager(t, ctx, hubCP.RESTConfig)
	recorder := events.NewFakeRecorder(10)
	r := &rollout.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), Recorder: recorder, Clock: clock.RealClock{}}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}}
	for i := range 2 {
		if i > 0 {
			// The second reconcile reads the status the first wrote.
			s.waitRollout(name, "stalled", func(ro *fleetv1alpha1.Rollout) bool {
				return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonInvalidCheck
			})
			promisetest.Eventually(t, 10*time.Second, "the cache has the stalled Rollout", func() (bool, string) {
				ro := &fleetv1alpha1.Rollout{}
				if err := mgr.GetClient().Get(ctx, req.NamespacedName, ro); err != nil {
					return false, err.Error()
				}
				return promisetest.ConditionReason(ro.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonInvalidCheck, ""
			})
		}
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile: %v", err)
		}
	}
	var got, invalid []string
	for len(recorder.Events) > 0 {
		ev := <-recorder.Events
		got = append(got, ev)
		if strings.Contains(ev, fleetv1alpha1.ReasonInvalidCheck) {
			invalid = append(invalid, ev)
		}
	}
	if len(invalid) != 1 || !strings.Contains(invalid[0], "check errors of wave canary cannot run") {
		t.Errorf("InvalidCheck Events of two reconciles: %q, want one naming check errors (all: %q)", invalid, got)
	}
}
