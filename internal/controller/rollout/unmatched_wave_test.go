package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A canary wave whose selector is misspelt. A platform engineer writes the
// strategy's canary wave as ring=canray, a value no cluster carries; the API
// server accepts it. Every Rollout of the strategy froze the wave empty,
// Skipped it, and admitted the general wave at once: the canary's bake,
// checks and failure budget were silently dropped and the change hit the
// fleet in one go. A wave that matches no Cluster of the hub at all is now
// told apart from one that only has none of this Rollout's candidates
// (wave elsewhere, whose cluster is outside the Promise's fleet): the next
// wave with clusters waits for an approval that names the empty wave.
func TestAWaveMatchingNoClusterHoldsTheNextWave(t *testing.T) {
	s := newStory(t, "unmatched.example.com")
	// A cluster of the hub outside the Promise's fleet: wave elsewhere is
	// legitimately empty for this Rollout.
	s.cluster("unmatched-x1", map[string]string{"ring": "unmatched-elsewhere"})
	s.strategy("unmatched", fleetv1alpha1.FailureHalt,
		wave("elsewhere", func(w *fleetv1alpha1.Wave) { w.Selector.MatchLabels["ring"] = "unmatched-elsewhere" }),
		wave("canary", func(w *fleetv1alpha1.Wave) { w.Selector.MatchLabels["ring"] = "canray" }),
		wave("general", func(w *fleetv1alpha1.Wave) { w.Selector = nil }))
	r1 := s.givenSite("unmatched", "unmatched")

	name, r2 := s.release("unmatched", "2", r1)
	ro := s.waitRollout(name, "holding the general wave for an approval", phaseIs(fleetv1alpha1.RolloutPhaseWaitingForApproval))
	s.stays("unmatched", r1, s.clusters("unmatched")...)
	if ro.Status.CurrentWave != "general" {
		t.Errorf("current wave %q, want general", ro.Status.CurrentWave)
	}
	phases := map[string]fleetv1alpha1.WaveStatus{}
	for _, w := range ro.Status.Waves {
		phases[w.Name] = w
	}
	if w := phases["canary"]; w.Phase != fleetv1alpha1.WavePhaseSkipped || w.UnmatchedSelector != "ring=canray" {
		t.Errorf("wave canary: phase %s, unmatchedSelector %q", w.Phase, w.UnmatchedSelector)
	}
	if w := phases["elsewhere"]; w.Phase != fleetv1alpha1.WavePhaseSkipped || w.UnmatchedSelector != "" {
		t.Errorf("wave elsewhere matches a cluster of the hub: phase %s, unmatchedSelector %q", w.Phase, w.UnmatchedSelector)
	}
	want := "wave canary matches no cluster of the fleet (selector ring=canray); approve wave general to go on without it"
	if c := conditionMessage(ro, fleetv1alpha1.ConditionApproved); c != want {
		t.Errorf("Approved condition says %q, want %q", c, want)
	}

	s.patchRollout(name, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves("unmatched", r2, s.clusters("unmatched")...)
	s.waitRollout(name, "general wave started under alice's approval", func(ro *fleetv1alpha1.Rollout) bool {
		for _, w := range ro.Status.Waves {
			if w.Name == "general" {
				return w.Approval != nil && w.Approval.By == "alice"
			}
		}
		return false
	})
}

func conditionMessage(ro *fleetv1alpha1.Rollout, typ string) string {
	for _, c := range ro.Status.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}
