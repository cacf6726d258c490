package rollout

import (
	"k8s.io/apimachinery/pkg/api/equality"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ProgressOnly reports whether status cur differs from old only in how far
// the clusters already admitted have come: the admitted (Works rendering
// the target: the instance controller writes them one by one after an
// admission), healthy and pending counts of the run and of each wave, the
// percentage on target, and the conditions' messages that count them. Nothing a decision is made from or
// recorded in moves with it: no phase, wave, admission, failure, offline
// cluster, check, history entry or condition status. A controller may write
// such a change later, together with the next one; every other change is
// written at once.
func ProgressOnly(old, cur *fleetv1alpha1.RolloutStatus) bool {
	a, b := progressFree(old), progressFree(cur)
	return equality.Semantic.DeepEqual(a, b)
}

// progressFree is a copy of st without what ProgressOnly lets move.
func progressFree(st *fleetv1alpha1.RolloutStatus) *fleetv1alpha1.RolloutStatus {
	out := st.DeepCopy()
	out.Counts.Admitted, out.Counts.Healthy, out.Counts.Pending, out.PercentOnTarget = 0, 0, 0, 0
	for i := range out.Waves {
		c := &out.Waves[i].Counts
		c.Admitted, c.Healthy, c.Pending = 0, 0, 0
	}
	for i := range out.Conditions {
		out.Conditions[i].Message = ""
	}
	return out
}
