package rollout_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// Every change leaves an ended Rollout that names every cluster of its
// waves: without a limit, a Promise's history grows with each change, in
// etcd and in the hub's memory. Past spec.rolloutHistoryLimit the oldest
// ended ones are deleted, and the Works, which name the Rollout that
// admitted their revision, are not rewritten for it.
func TestEndedRolloutsPastTheHistoryLimitAreDeleted(t *testing.T) {
	s := newStory(t, "history.example.com")
	rev := s.givenSite("history", "")
	s.UpdatePromise("history", func(p *fleetv1alpha1.Promise) { p.Spec.RolloutHistoryLimit = ptrTo(int32(2)) })
	team, clusters := "history-team", s.clusters("history")

	var names []string
	generations := map[string]int64{}
	for release := 2; release <= 5; release++ {
		name, next := s.release("history", strconv.Itoa(release), rev)
		s.moves("history", next, clusters...)
		for _, c := range clusters {
			w := s.Work("history", team, "shop", c)
			if w.Spec.Rollout == nil || w.Spec.Rollout.Name != name {
				t.Fatalf("the Work on %s names %v, want Rollout %s", c, w.Spec.Rollout, name)
			}
			generations[c] = w.Generation
		}
		s.reportReady("history", team, clusters...)
		s.waitRollout(name, "succeeded", phaseIs(fleetv1alpha1.RolloutPhaseSucceeded))
		names = append(names, name)
		rev = next
	}

	gone, kept := names[:2], names[2:]
	promisetest.Eventually(t, time.Minute, fmt.Sprintf("Rollouts %v deleted", gone), func() (bool, string) {
		for _, n := range gone {
			if s.rollout(n) != nil {
				return false, n + " still exists"
			}
		}
		return true, ""
	})
	for _, n := range kept {
		if s.rollout(n) == nil {
			t.Errorf("Rollout %s, within the limit, was deleted", n)
		}
	}
	list := &fleetv1alpha1.RolloutList{}
	if err := s.C.List(s.Ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: "history"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != len(kept) {
		t.Errorf("%d Rollouts of the Promise left, want %d", len(list.Items), len(kept))
	}
	// Pruning rewrote no Work: each still names the last Rollout, which exists.
	time.Sleep(time.Second)
	for _, c := range clusters {
		w := s.Work("history", team, "shop", c)
		if w.Generation != generations[c] {
			t.Errorf("the Work on %s was rewritten (generation %d, was %d): %v", c, w.Generation, generations[c], w.Spec.Rollout)
		}
		if w.Spec.Rollout == nil || s.rollout(w.Spec.Rollout.Name) == nil {
			t.Errorf("the Work on %s names Rollout %v, which does not exist", c, w.Spec.Rollout)
		}
	}
}

// An instance's own changes keep their history under the same limit, in
// the team's namespace, apart from the Promise's; a spec changed back to
// an earlier one is a new Rollout, and the old one to the same revision goes.
func TestEndedInstanceRolloutsPastTheHistoryLimitAreDeleted(t *testing.T) {
	s := newStory(t, "ihistory.example.com")
	s.givenSite("ihistory", "")
	s.UpdatePromise("ihistory", func(p *fleetv1alpha1.Promise) { p.Spec.RolloutHistoryLimit = ptrTo(int32(1)) })
	team, clusters := "ihistory-team", s.clusters("ihistory")

	var names []string
	for _, size := range []string{"large", "small", "large"} {
		inst := promisetest.Instance(s.group, "Site", team, "shop", nil)
		if err := s.C.Patch(s.Ctx, inst, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"size":"`+size+`"}}`))); err != nil {
			t.Fatal(err)
		}
		key := client.ObjectKey{Namespace: team, Name: "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)}
		ro := &fleetv1alpha1.Rollout{}
		promisetest.Eventually(t, time.Minute, "Rollout "+key.Name+" admitting every cluster", func() (bool, string) {
			if err := s.C.Get(s.Ctx, key, ro); err != nil {
				return false, err.Error()
			}
			return ro.Status.Counts.Admitted == int32(len(clusters)), string(ro.Status.Phase)
		})
		for _, c := range clusters {
			s.WaitWork("ihistory", team, "shop", c, func(w *fleetv1alpha1.Work) (bool, string) {
				return w.Spec.InstanceRevision == ro.Spec.TargetRevision, w.Spec.InstanceRevision
			})
		}
		s.reportReady("ihistory", team, clusters...)
		promisetest.Eventually(t, time.Minute, "Rollout "+key.Name+" succeeded", func() (bool, string) {
			if err := s.C.Get(s.Ctx, key, ro); err != nil {
				return false, err.Error()
			}
			return ro.Status.Phase == fleetv1alpha1.RolloutPhaseSucceeded, string(ro.Status.Phase)
		})
		names = append(names, key.Name)
	}
	promisetest.Eventually(t, time.Minute, "all but the last of "+strings.Join(names, ", ")+" deleted", func() (bool, string) {
		list := &fleetv1alpha1.RolloutList{}
		if err := s.C.List(s.Ctx, list, client.InNamespace(team)); err != nil {
			return false, err.Error()
		}
		left := []string{}
		for _, ro := range list.Items {
			left = append(left, ro.Name)
		}
		return len(left) == 1 && left[0] == names[len(names)-1], strings.Join(left, ", ")
	})
}
