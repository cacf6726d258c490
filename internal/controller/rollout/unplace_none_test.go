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

// A careless platform engineer, no freeze: a Fleet's selector edited with a
// typo that matches no cluster (or the Fleet deleted, or the automation
// that labels clusters wiping a label). Every instance the Fleet admitted
// lost its placement, and the hub deleted its Works on every cluster at
// once, outside any wave: the agents pruned the teams' workloads
// fleet-wide. A placement that matches no cluster removes no Work; the
// instance says which clusters keep theirs and why. A placement that still
// matches some clusters removes the others' Works as before, and deleting
// the instance removes them all.
func TestAPlacementThatMatchesNoClusterRemovesNoWork(t *testing.T) {
	s := newStory(t, "unplnone.example.com")
	r1 := s.givenSite("unplnone", "")
	s.setFleetSelector("unplnone", map[string]string{"suite": "unplnone-typo"})
	s.stays("unplnone", r1, s.clusters("unplnone")...)
	st := s.WaitInstance(s.group, "Site", "unplnone-team", "shop", "says its Works stay", func(st fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced)
		return c != nil && strings.Contains(c.Message, "3 clusters left the placement but keep their Works: the placement matches no cluster")
	})
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionPlaced); c.Reason != fleetv1alpha1.ReasonNoMatchingClusters {
		t.Errorf("Placed reason %s, want %s", c.Reason, fleetv1alpha1.ReasonNoMatchingClusters)
	}

	// Narrowed on purpose to the canary: the two others go.
	s.setFleetSelector("unplnone", map[string]string{"suite": "unplnone", "ring": "canary"})
	for _, c := range []string{"unplnone-g1", "unplnone-g2"} {
		promisetest.Eventually(t, time.Minute, "the Work on "+c+" deleted", func() (bool, string) {
			got := s.workRevision("unplnone", "unplnone-team", c)
			return got == "", got
		})
	}
	if got := s.workRevision("unplnone", "unplnone-team", "unplnone-c1"); got != r1 {
		t.Errorf("the canary's Work renders %q, want %s", got, r1)
	}
}

// setFleetSelector replaces Fleet name's selector with matchLabels labels.
func (s *story) setFleetSelector(name string, labels map[string]string) {
	s.TB.Helper()
	f := &fleetv1alpha1.Fleet{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: name}, f); err != nil {
		s.TB.Fatal(err)
	}
	f.Spec.Selector = metav1.LabelSelector{MatchLabels: labels}
	if err := s.C.Update(s.Ctx, f); err != nil {
		s.TB.Fatal(err)
	}
}
