package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// history is n Rollouts of one subject, web-1 (oldest) to web-n, each from
// revision r(i-1) to r(i), all succeeded.
func history(n int) []fleetv1alpha1.Rollout {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	out := make([]fleetv1alpha1.Rollout, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, subjectRollout(fmt.Sprintf("web-%d", i), t0.Add(time.Duration(i)*time.Minute), fmt.Sprint(i),
			fmt.Sprintf("r%d", i-1), fmt.Sprintf("r%d", i), fleetv1alpha1.RolloutPhaseSucceeded))
	}
	return out
}

func names(rollouts []*fleetv1alpha1.Rollout) []string {
	out := []string{}
	for _, r := range rollouts {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func TestExpiredHistory(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rollouts func() []fleetv1alpha1.Rollout
		keep     int
		inUse    []string
		want     []string
	}{
		{"within the limit: nothing", func() []fleetv1alpha1.Rollout { return history(3) }, 3, []string{"r3"}, []string{}},
		{"the oldest ended ones past the limit", func() []fleetv1alpha1.Rollout { return history(5) }, 2, []string{"r5"},
			[]string{"web-1", "web-2", "web-3"}},
		{"the order is the creation's, not the list's", func() []fleetv1alpha1.Rollout {
			h := history(4)
			slices.Reverse(h)
			return h
		}, 1, []string{"r4"}, []string{"web-1", "web-2", "web-3"}},
		{"a Rollout under way is neither deleted nor counted", func() []fleetv1alpha1.Rollout {
			h := history(5)
			h[2].Status.Phase = fleetv1alpha1.RolloutPhaseProgressing // web-3, superseded but not ended
			return h
		}, 2, []string{"r5"}, []string{"web-1"}},
		{"a Rollout under way keeps the one to the revision it moves Works from", func() []fleetv1alpha1.Rollout {
			h := history(4)
			h[1].Status.Phase = fleetv1alpha1.RolloutPhaseProgressing // web-2, from r1
			return h
		}, 1, []string{"r4"}, []string{"web-3"}},
		{"the newest Rollout to a revision still rendered somewhere is kept", func() []fleetv1alpha1.Rollout { return history(5) }, 1,
			[]string{"r5", "r2"}, []string{"web-1", "web-3", "web-4"}},
		{"an older Rollout to the same revision is not", func() []fleetv1alpha1.Rollout {
			h := history(4)
			h[2].Spec.TargetRevision = "r2" // web-3 re-targets r2, so web-2 names no Work
			return h
		}, 1, []string{"r4", "r2"}, []string{"web-1", "web-2"}},
		{"a rolled-back newest keeps the Rollout to the revision it returned to", func() []fleetv1alpha1.Rollout {
			h := history(4)
			h[3].Status.Phase = fleetv1alpha1.RolloutPhaseRolledBack
			h[3].Status.RollbackRevision = "r3"
			return h
		}, 1, nil, []string{"web-1", "web-2"}},
		{"a Rollout under way protects the revisions it may move Works to", func() []fleetv1alpha1.Rollout {
			h := history(5)
			h[4].Status.Phase = fleetv1alpha1.RolloutPhaseRollingBack
			h[4].Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "r1"}
			return h
		}, 1, []string{"r5"}, []string{"web-2", "web-3"}},
		{"the newest is kept even at a limit of zero", func() []fleetv1alpha1.Rollout { return history(2) }, 0, nil, []string{"web-1"}},
		{"one being deleted is not returned again", func() []fleetv1alpha1.Rollout {
			h := history(3)
			h[0].DeletionTimestamp = &metav1.Time{Time: time.Now()}
			return h
		}, 1, []string{"r3"}, []string{"web-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inUse := map[string]bool{}
			for _, rev := range tc.inUse {
				inUse[rev] = true
			}
			rollouts := tc.rollouts()
			before := fmt.Sprint(rollouts)
			got := names(ExpiredHistory(rollouts, tc.keep, inUse))
			if !slices.Equal(got, tc.want) {
				t.Errorf("ExpiredHistory = %v, want %v", got, tc.want)
			}
			if fmt.Sprint(rollouts) != before {
				t.Error("ExpiredHistory changed its input")
			}
		})
	}
}

// A Work names the newest Rollout to the revision it renders (AdmittedBy):
// whatever the history keeps, the answer for every revision in use is the
// same with and without the expired Rollouts, so pruning rewrites no Work.
func TestExpiredHistoryKeepsWhatWorksName(t *testing.T) {
	h := history(12)
	h[5].Spec.TargetRevision = "r3" // web-6 goes back to r3
	h[9].Status.Phase = fleetv1alpha1.RolloutPhaseRolledBack
	h[9].Status.RollbackRevision = "r9"
	inUse := map[string]bool{"r12": true, "r3": true, "r7": true}
	expired := ExpiredHistory(h, 2, inUse)
	if len(expired) == 0 {
		t.Fatal("nothing expired: the test proves nothing")
	}
	var kept []fleetv1alpha1.Rollout
	for _, r := range h {
		if !slices.ContainsFunc(expired, func(e *fleetv1alpha1.Rollout) bool { return e.Name == r.Name }) {
			kept = append(kept, r)
		}
	}
	for rev := range inUse {
		before, after := AdmittedBy(h, "c1", rev), AdmittedBy(kept, "c1", rev)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("revision %s: a Work named %v, and would name %v after pruning", rev, before, after)
		}
	}
	if n := Newest(kept); n == nil || n.Name != "web-12" {
		t.Errorf("the governing Rollout was not kept: %v", n)
	}
}
