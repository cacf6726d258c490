package rollout_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: in an incident the on-call pulls the kill switch (a Halt
// FleetFreeze) and a team, not watching, creates a new instance. It landed
// on every cluster of its placement at once: a new instance has no earlier
// revision for a Rollout to move it from, so it passed no wave, and the
// freeze held Rollouts only. A new instance now gets no Work while a freeze
// is in force; its status says so, and it lands when the freeze lifts.
func TestAFreezeHoldsANewInstance(t *testing.T) {
	const name = "frznew"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite(name, name)
	team := name + "-team"

	freeze := s.freeze(name+"-incident", fleetv1alpha1.FreezeHalt)
	s.Create(promisetest.Instance(s.group, "Site", team, "late", map[string]any{"size": "small"}))
	st := s.WaitInstance(s.group, "Site", team, "late", "held by the freeze", func(st fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonFleetFrozen
	})
	if msg := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady).Message; !strings.Contains(msg, "when the freeze lifts") {
		t.Errorf("Ready says %q, want it to say the Works wait for the freeze", msg)
	}
	for _, c := range s.clusters(name) {
		if w := s.Work(name, team, "late", c); w != nil {
			t.Errorf("a new instance under the freeze has a Work on %s, rendering %s", c, w.Spec.Revision)
		}
	}

	if err := s.C.Delete(s.Ctx, freeze); err != nil {
		t.Fatal(err)
	}
	for _, c := range s.clusters(name) {
		s.WaitWork(name, team, "late", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == r1, w.Spec.Revision })
	}
}
