package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: a team has the hub hold its instance (here its placement
// names a Fleet that does not exist; Overrides over 128 KiB do the same)
// while the platform rolls a Promise change out, on clusters where that
// instance is all the Promise runs. The Rollout admitted the canary, whose
// Work the instance controller keeps as it is; judged on its Works alone,
// the canary was pending again at every plan, admitted anew and never
// failed by its progress deadline: the platform's Rollout stayed
// Progressing for ever, "1 in flight", for every team, and said nothing of
// why. It now fails the canary by its progress deadline, saying that its
// Works do not render the target.
func TestAHeldInstanceDoesNotKeepThePromisesRolloutInFlight(t *testing.T) {
	s := newStory(t, "heldinst.example.com")
	s.strategy("heldinst", fleetv1alpha1.FailureHalt, wave("canary", func(w *fleetv1alpha1.Wave) {
		w.ProgressDeadline = &metav1.Duration{Duration: 3 * time.Second}
	}), wave("general"))
	r1 := s.givenSite("heldinst", "heldinst")
	const team = "heldinst-team"
	canary := "heldinst-c1"

	s.editShop(team, func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedStringSlice(u.Object, []string{"nowhere"}, "spec", "placement", "fleets"); err != nil {
			t.Fatal(err)
		}
	})
	s.WaitInstance(s.group, "Site", team, "shop", "held for its placement", func(st fleetv1alpha1.InstanceStatus) bool {
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionFalse)
	})

	ro, _ := s.release("heldinst", "2", r1)
	got := s.waitRollout(ro, "halted, the canary failed", func(ro *fleetv1alpha1.Rollout) bool {
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseHalted
	})
	if len(got.Status.Failures) != 1 {
		t.Fatalf("failures %+v", got.Status.Failures)
	}
	f := got.Status.Failures[0]
	if f.Cluster != canary || f.Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded || !strings.Contains(f.Message, "do not render it: "+team+"/shop renders "+r1) {
		t.Errorf("failure %+v, want %s failed by its progress deadline, its Works not rendering the target", f, canary)
	}
	if rev := s.workRevision("heldinst", team, canary); rev != r1 {
		t.Errorf("the held instance's Work renders %s, want it kept at %s", rev, r1)
	}
}
