package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack, on a real hub: the team whose instance is all the Promise
// runs on the canary makes it flap between ready and not ready. Each
// relapse reset the bake and restarted the canary's progress deadline, so
// the platform's Rollout stayed Progressing with nothing failed for as long
// as the team went on. The hub now counts the relapses in the Rollout's
// status, across a restart of the hub, and the fourth fails the canary as
// Flapping: the wave's budget (none) is exceeded and the Rollout halts.
func TestAFlappingCanaryHaltsTheRolloutAcrossARestartOfTheHub(t *testing.T) {
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "flap.example.com"}
	s.strategy("flap", fleetv1alpha1.FailureHalt,
		wave("canary", func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: time.Hour} }), wave("general"))
	r1 := s.givenSite("flap", "flap")
	name, r2 := s.release("flap", "2", r1)
	s.moves("flap", r2, "flap-c1")
	s.reportReady("flap", "flap-team", "flap-c1")
	s.waitRollout(name, "baking the canary", phaseIs(fleetv1alpha1.RolloutPhaseBaking))

	for i := 1; i <= fleetv1alpha1.MaxRelapses+1; i++ {
		s.reportNotReady(s.Work("flap", "flap-team", "shop", "flap-c1"))
		if i > fleetv1alpha1.MaxRelapses {
			break
		}
		ro := s.waitRollout(name, "seeing the relapse", func(ro *fleetv1alpha1.Rollout) bool {
			return ro.Status.Phase == fleetv1alpha1.RolloutPhaseProgressing && ro.Status.Waves[0].Relapses == string(rune('a'+i))
		})
		if len(ro.Status.Failures) != 0 {
			t.Fatalf("relapse %d failed the canary already: %+v", i, ro.Status.Failures)
		}
		if i == 2 {
			// A new hub knows only what the API server kept.
			stop()
			stop = promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
		}
		s.reportReady("flap", "flap-team", "flap-c1")
		s.waitRollout(name, "baking the canary again", phaseIs(fleetv1alpha1.RolloutPhaseBaking))
	}
	ro := s.waitRollout(name, "halted by the flapping canary", phaseIs(fleetv1alpha1.RolloutPhaseHalted))
	if f := ro.Status.Failures; len(f) != 1 || f[0].Cluster != "flap-c1" || f[0].Reason != fleetv1alpha1.ReasonFlapping ||
		!strings.Contains(f[0].Message, "more than 3 times") {
		t.Fatalf("failures %+v, want flap-c1 Flapping", f)
	}
	s.stays("flap", r1, "flap-g1", "flap-g2")
}

// reportNotReady writes the status of an agent that found the Work's
// resources no longer ready (Healthy False, InProgress).
func (s *story) reportNotReady(w *fleetv1alpha1.Work) {
	s.TB.Helper()
	now := metav1.Now()
	for i := range w.Status.Conditions {
		if c := &w.Status.Conditions[i]; c.Type == fleetv1alpha1.ConditionHealthy || c.Type == fleetv1alpha1.ConditionReady {
			c.Status, c.Reason, c.Message, c.LastTransitionTime = metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, "Deployment shop: 0/1 ready", now
		}
	}
	if err := s.C.Status().Update(s.Ctx, w); err != nil {
		s.TB.Fatal(err)
	}
}
