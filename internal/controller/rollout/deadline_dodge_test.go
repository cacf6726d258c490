package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack, on a real hub: the canary's agent never reports the new
// revision healthy, and rewrites its Work's Healthy condition (False,
// InProgress) with a fresh lastTransitionTime every two seconds under a
// six-second progress deadline. The deadline counted from that time, so
// the canary stayed in flight and the Rollout Progressing, nothing failed,
// for as long as the agent went on. It now counts from the admission: the
// canary fails ProgressDeadlineExceeded and the Rollout halts.
func TestAnAgentRedatingItsHealthCannotDodgeTheDeadline(t *testing.T) {
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "redate.example.com"}
	s.strategy("redate", fleetv1alpha1.FailureHalt,
		wave("canary", func(w *fleetv1alpha1.Wave) { w.ProgressDeadline = &metav1.Duration{Duration: 6 * time.Second} }), wave("general"))
	r1 := s.givenSite("redate", "redate")
	name, r2 := s.release("redate", "2", r1)
	s.moves("redate", r2, "redate-c1")

	var ro *fleetv1alpha1.Rollout
	for end := time.Now().Add(40 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
		w := s.Work("redate", "redate-team", "shop", "redate-c1")
		w.Status.ObservedGeneration = w.Generation
		w.Status.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionFalse,
			Reason: fleetv1alpha1.ReasonInProgress, Message: "Deployment shop: 0/1 ready", LastTransitionTime: metav1.Now()}}
		if err := s.C.Status().Update(s.Ctx, w); err != nil {
			t.Fatal(err)
		}
		if ro = s.rollout(name); ro != nil && ro.Status.Phase == fleetv1alpha1.RolloutPhaseHalted {
			break
		}
	}
	if ro == nil || ro.Status.Phase != fleetv1alpha1.RolloutPhaseHalted {
		t.Fatalf("rollout %+v, want it halted by the canary's progress deadline", ro)
	}
	if f := ro.Status.Failures; len(f) != 1 || f[0].Cluster != "redate-c1" || f[0].Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded {
		t.Fatalf("failures %+v, want redate-c1 ProgressDeadlineExceeded", f)
	}
	s.stays("redate", r1, "redate-g1", "redate-g2")
}
