package rollout_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: team a's instance is all the platform's Promise runs on the
// canary. While the platform's change bakes there (an hour, no check), the
// team narrows its placement to the general clusters: the canary left the
// fleet, the canary wave completed at once with nothing baked, and the
// general wave, asking no approval, took the change on every general
// cluster, other teams' too. The general wave now waits for an approval
// saying that the canary showed the change good nowhere.
func TestACanaryThatAllLeftHoldsTheGeneralWave(t *testing.T) {
	const name = "canleft"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary", func(w *fleetv1alpha1.Wave) {
		w.BakeTime = &metav1.Duration{Duration: time.Hour}
	}), wave("general"))
	r1 := s.givenSite(name, name)
	change, r2 := s.release(name, "2", r1)
	s.moves(name, r2, name+"-c1")

	team := name + "-team"
	s.editShop(team, func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedStringMap(u.Object, map[string]string{"ring": "general"}, "spec", "placement", "selector", "matchLabels"); err != nil {
			t.Fatal(err)
		}
	})
	ro := s.waitRollout(change, "the general wave waiting for an approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	if c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionApproved); c == nil ||
		!strings.Contains(c.Message, "wave canary completed with none of its 1 cluster healthy on the target (1 left the fleet)") {
		t.Errorf("Approved %+v", c)
	}
	s.stays(name, r1, name+"-g1", name+"-g2")

	s.patchRollout(change, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves(name, r2, name+"-g1", name+"-g2")
}
