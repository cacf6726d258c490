package rollout

import (
	"slices"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultHistoryLimit is how many ended Rollouts of one subject are kept
// when its Promise's spec.rolloutHistoryLimit is unset (the API server
// defaults it to the same).
const DefaultHistoryLimit = 10

// ExpiredHistory returns the Rollouts of one subject (a Promise's own
// changes, or one instance's) that its history limit lets go: the ended
// ones older than the newest keep ended ones. Kept whatever their age:
//   - a Rollout not ended, and the newest (it governs the subject: its
//     outcome settles the Works, and a Rollout to a revision that has one
//     is not started again);
//   - the newest Rollout to each revision the subject's Works render or
//     last applied (inUse), or that a Rollout kept here may move them to:
//     a Work names that Rollout (spec.rollout, AdmittedBy), and deleting it
//     would rewrite every such Work.
//
// Each Rollout is one the caller may delete; rollouts is not changed.
func ExpiredHistory(rollouts []fleetv1alpha1.Rollout, keep int, inUse map[string]bool) []*fleetv1alpha1.Rollout {
	keep = max(keep, 1)
	order := make([]*fleetv1alpha1.Rollout, 0, len(rollouts))
	for i := range rollouts {
		if rollouts[i].DeletionTimestamp == nil {
			order = append(order, &rollouts[i])
		}
	}
	if len(order) <= keep {
		return nil
	}
	slices.SortFunc(order, func(a, b *fleetv1alpha1.Rollout) int {
		switch {
		case newer(a, b):
			return -1
		case newer(b, a):
			return 1
		}
		return 0
	})
	revisions := make(map[string]bool, len(inUse)+4)
	for rev, ok := range inUse {
		revisions[rev] = ok
	}
	revisions[StableRevision(order[0])] = true
	for _, r := range order {
		if !r.Status.Phase.IsTerminal() {
			for _, rev := range movesTo(r) {
				revisions[rev] = true
			}
		}
	}
	var expired []*fleetv1alpha1.Rollout
	named := map[string]bool{} // revisions whose newest Rollout is seen
	ended := 0
	for i, r := range order {
		newestTo := !named[r.Spec.TargetRevision]
		named[r.Spec.TargetRevision] = true
		if !r.Status.Phase.IsTerminal() {
			continue
		}
		ended++
		if i == 0 || ended <= keep || newestTo && revisions[r.Spec.TargetRevision] {
			continue
		}
		expired = append(expired, r)
	}
	return expired
}

// movesTo lists the revisions a Rollout under way may give its subject's
// Works.
func movesTo(r *fleetv1alpha1.Rollout) []string {
	revs := []string{r.Spec.FromRevision, r.Spec.TargetRevision, r.Status.RollbackRevision}
	if rb := r.Spec.Rollback; rb != nil {
		revs = append(revs, rb.ToRevision)
	}
	return revs
}
