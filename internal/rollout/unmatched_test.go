package rollout_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A wave whose selector matches no Cluster of the hub (a typo: ring=canray)
// is Skipped as before, but the next wave with clusters waits for an
// approval that names it; the decision is frozen at start, so a restarted
// hub (or a fleet that later has such a cluster) decides the same. A wave
// that is only empty for this Rollout (wave elsewhere) holds nothing, nor
// does an unmatched last wave.
func TestAWaveMatchingNoClusterHoldsTheNextWave(t *testing.T) {
	s := strategy(wave("pilot"), wave("canary", func(w *fleetv1alpha1.Wave) {
		w.Selector.MatchLabels["ring"] = "canray"
	}), wave("elsewhere"), wave("general", catchAll), wave("tail"))
	f := newFixture(t, s, cluster("p1", "ring", "pilot"), cluster("g1"), cluster("g2"))
	f.in.UnmatchedWaves = rollout.WavesMatchingNoCluster(s, []map[string]string{
		{"ring": "pilot"}, {"ring": "elsewhere"}, {},
	})
	if !slices.Equal(f.in.UnmatchedWaves, []string{"canary", "tail"}) {
		t.Fatalf("unmatched waves %v, want canary and tail", f.in.UnmatchedWaves)
	}
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "pilot")
	f.wantAdmitted("p1")
	for name, want := range map[string]string{"canary": "ring=canray", "elsewhere": "", "tail": "ring=tail"} {
		if w := f.wave(name); w.Phase != fleetv1alpha1.WavePhaseSkipped || w.UnmatchedSelector != want {
			t.Errorf("wave %s: phase %s, unmatchedSelector %q; want Skipped, %q", name, w.Phase, w.UnmatchedSelector, want)
		}
	}

	// Later looks no longer say which waves match nothing: the status does.
	f.in.UnmatchedWaves = nil
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	f.wantAdmitted()
	want := "wave canary matches no cluster of the fleet (selector ring=canray); approve wave general to go on without it"
	if c := f.condition(fleetv1alpha1.ConditionApproved); c == nil || c.Message != want {
		t.Fatalf("Approved condition %+v, want message %q", c, want)
	}
	if !slices.ContainsFunc(f.d.Events, func(e rollout.Event) bool {
		return e.Type == rollout.EventWarning && strings.Contains(e.Message, want)
	}) {
		t.Errorf("no Warning Event names the unmatched wave: %+v", f.d.Events)
	}

	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "general", ChangeRecord: record("alice", t0.Add(2*time.Minute), "no canary ring yet")}}
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g1", "g2")
	if a := f.wave("general").Approval; a == nil || a.By != "alice" {
		t.Fatalf("general wave's approval %+v, want alice's", a)
	}
	f.at(3 * time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
}

// The emergency lane has one wave: nothing to skip, nothing to hold.
func TestImmediateIgnoresWavesMatchingNoCluster(t *testing.T) {
	s := strategy(wave("canary"), wave("general", catchAll))
	f := newFixture(t, s, cluster("g1"))
	f.in.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "CVE"}
	f.in.StartedBy = "alice"
	f.in.UnmatchedWaves = []string{"canary"}
	f.plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, rollout.ImmediateWaveName)
	f.wantAdmitted("g1")
}
