package rollout_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The kill switch pulled, then a placement edit. The on-call froze the
// fleet (Halt: "nothing changes now"); a platform engineer, or the
// automation that labels clusters, then edited a Fleet's selector with a
// typo that matches no cluster. Every instance the Fleet admitted lost its
// placement, and the hub deleted its Works on every cluster at once: the
// agents pruned the teams' workloads fleet-wide under the freeze. While a
// freeze is active no Work is deleted for a placement change; the instance
// says which clusters it keeps for the freeze, and once the freeze lifts
// the placement is honoured (but for one that matches no cluster at all).
func TestAPlacementEditUnderAFreezeDeletesNoWork(t *testing.T) {
	s := newStory(t, "unplfrz.example.com")
	r1 := s.givenSite("unplfrz", "")
	freeze := s.freeze("unplfrz-incident", fleetv1alpha1.FreezeHalt)
	s.waitFreezeActive(freeze.Name)

	// The typo: the Fleet now matches no cluster.
	s.setFleetSelector("unplfrz", map[string]string{"suite": "unplfrz-typo"})
	s.stays("unplfrz", r1, s.clusters("unplfrz")...)

	st := s.WaitInstance(s.group, "Site", "unplfrz-team", "shop", "says its Works stay for the freeze", func(st fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced)
		return c != nil && strings.Contains(c.Message, "3 clusters left the placement but keep their Works while a FleetFreeze is in force")
	})
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced); c.Reason != fleetv1alpha1.ReasonNoMatchingClusters {
		t.Errorf("Placed reason %s, want %s", c.Reason, fleetv1alpha1.ReasonNoMatchingClusters)
	}

	// The freeze lifted, the placement stands: a placement that matches no
	// cluster removes nothing (TestAPlacementThatMatchesNoClusterRemovesNoWork),
	// one narrowed to the canary removes the others.
	if err := s.C.Delete(s.Ctx, freeze); err != nil {
		t.Fatal(err)
	}
	s.WaitInstance(s.group, "Site", "unplfrz-team", "shop", "says its Works stay for the empty placement", func(st fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced)
		return c != nil && strings.Contains(c.Message, "3 clusters left the placement but keep their Works: the placement matches no cluster")
	})
	s.setFleetSelector("unplfrz", map[string]string{"suite": "unplfrz", "ring": "canary"})
	for _, c := range []string{"unplfrz-g1", "unplfrz-g2"} {
		promisetest.Eventually(t, time.Minute, "the Work on "+c+" deleted", func() (bool, string) {
			got := s.workRevision("unplfrz", "unplfrz-team", c)
			return got == "", got
		})
	}
}

// freeze pulls the kill switch: a FleetFreeze named name with action, by
// the on-call, lifted when the test ends.
func (s *story) freeze(name string, action fleetv1alpha1.FreezeAction) *fleetv1alpha1.FleetFreeze {
	s.TB.Helper()
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "incident", Action: action, FrozenBy: "oncall"},
	}
	s.Create(f)
	s.TB.Cleanup(func() { _ = s.C.Delete(s.Ctx, f) })
	return f
}

// waitFreezeActive waits until the hub has seen the FleetFreeze (its
// controller, which shares the hub's cache, wrote its status).
func (s *story) waitFreezeActive(name string) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, time.Minute, "FleetFreeze "+name+" seen by the hub", func() (bool, string) {
		f := &fleetv1alpha1.FleetFreeze{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Name: name}, f); err != nil {
			return false, err.Error()
		}
		return f.Status.ObservedGeneration == f.Generation, "not yet"
	})
}
