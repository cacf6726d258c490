package rollout

import (
	"sort"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The Rollout's decision — which cluster renders which revision — lives in
// its status (status.waves[].admitted, one character per frozen cluster), not
// in any controller's memory: Plan writes it, with the rest of the next
// status, and RevisionFor reads it. The instance controller renders every
// Work from it and from nothing else, so a hub restarted between any two
// steps renders the same, and the status write that stores a plan is the
// admission itself.

// storeAdmissions records in each wave's status what this plan decided: the
// clusters admitted now (to the target, or back to the rollback revision),
// and the clusters already rendering the target (admitted earlier, or
// adopted, and those a crash left with only some of their Works rewritten,
// so that the rest follow). Everything else is not admitted: it renders
// what it renders. It is derived from the observations and this plan's
// admissions alone, so planning the same input again stores the same.
func (p *planner) storeAdmissions() {
	target, back := p.in.Spec.TargetRevision, p.st.RollbackRevision
	now := make(map[string]string, len(p.admit))
	for _, a := range p.admit {
		now[a.Cluster] = a.Revision
	}
	for _, w := range p.waves {
		marks := make([]byte, len(w.st.Clusters))
		some := false
		for i, name := range w.st.Clusters {
			marks[i] = fleetv1alpha1.AdmittedNone
			rev, admitted := now[name]
			if o := w.obs[i]; !admitted && o != nil && o.Revision == target {
				rev, admitted = target, true
			}
			switch {
			case !admitted:
				continue
			case rev == target:
				marks[i] = fleetv1alpha1.AdmittedTarget
			case rev == back && back != "":
				marks[i] = fleetv1alpha1.AdmittedRollback
			default:
				continue // never: Plan admits only to these two
			}
			some = true
		}
		w.st.Admitted = ""
		if some {
			w.st.Admitted = string(marks)
		}
	}
}

// Admitted returns the revision r's status admits cluster to, and whether
// it admits it at all: its target, or its rollback revision. r may be nil.
func Admitted(r *fleetv1alpha1.Rollout, cluster string) (string, bool) {
	w, i, ok := locate(r, cluster)
	if !ok {
		return "", false
	}
	marks := r.Status.Waves[w].Admitted
	if len(marks) != len(r.Status.Waves[w].Clusters) {
		return "", false // none admitted (or not written by Plan)
	}
	switch marks[i] {
	case fleetv1alpha1.AdmittedTarget:
		return r.Spec.TargetRevision, true
	case fleetv1alpha1.AdmittedRollback:
		if rb := r.Status.RollbackRevision; rb != "" {
			return rb, true
		}
	}
	return "", false
}

// WaveOf returns the wave of r's frozen target set that holds cluster, or "".
func WaveOf(r *fleetv1alpha1.Rollout, cluster string) string {
	if w, _, ok := locate(r, cluster); ok {
		return r.Status.Waves[w].Name
	}
	return ""
}

// locate finds cluster in r's frozen waves (each sorted): the wave's index
// and the cluster's index in it.
func locate(r *fleetv1alpha1.Rollout, cluster string) (wave, index int, ok bool) {
	if r == nil {
		return 0, 0, false
	}
	for w := range r.Status.Waves {
		cs := r.Status.Waves[w].Clusters
		if i := sort.SearchStrings(cs, cluster); i < len(cs) && cs[i] == cluster {
			return w, i, true
		}
	}
	return 0, 0, false
}

// NewAdmissions lists the clusters that next admits to another revision than
// prev did (prev nil: than none): the clusters whose Works must render
// again. A cluster no longer admitted is not listed: it keeps rendering
// what it renders.
func NewAdmissions(prev, next *fleetv1alpha1.Rollout) []string {
	if prev != nil && sameAdmissions(prev, next) {
		return nil
	}
	var out []string
	for _, w := range next.Status.Waves {
		if len(w.Admitted) != len(w.Clusters) {
			continue
		}
		for i, c := range w.Clusters {
			if w.Admitted[i] == fleetv1alpha1.AdmittedNone {
				continue
			}
			rev, _ := Admitted(next, c)
			if prev == nil {
				out = append(out, c)
				continue
			}
			if was, ok := Admitted(prev, c); !ok || was != rev {
				out = append(out, c)
			}
		}
	}
	return out
}

// sameAdmissions reports whether a and b admit the same clusters to the
// same revisions, comparing their stored decisions as they are.
func sameAdmissions(a, b *fleetv1alpha1.Rollout) bool {
	if len(a.Status.Waves) != len(b.Status.Waves) || a.Status.RollbackRevision != b.Status.RollbackRevision ||
		a.Spec.TargetRevision != b.Spec.TargetRevision {
		return false
	}
	for i := range a.Status.Waves {
		if wa, wb := &a.Status.Waves[i], &b.Status.Waves[i]; wa.Admitted != wb.Admitted || len(wa.Clusters) != len(wb.Clusters) {
			return false
		}
	}
	return true
}

// RevisionFor decides which revision a subject's Work on cluster renders,
// from the Rollout that governs the subject (Newest of its Rollouts; nil
// for none) alone: current is what the Work renders now ("" for a new
// Work), latest the Promise's latest revision (or the instance's, for an
// instance's own changes). revert says r is a revert (IsRevert), whose
// fromRevision no new Work starts on.
//
//   - No Rollout ever: latest for a new Work, current otherwise (a change is
//     only ever moved by a Rollout, which the hub creates before it publishes
//     the new latest revision).
//   - A Rollout in flight: the revision its status admits the cluster to;
//     else current; else (a new Work) NewWorkRevision. Clusters outside its
//     frozen target set are never admitted, so they stay on the stable
//     revision until it ends.
//   - A finished Rollout of the latest revision: every cluster settles on its
//     StableRevision, except after an abort or failure, where clusters stay
//     where they are (new Works get NewWorkRevision).
//   - A finished Rollout of an older revision (the Rollout of the latest is
//     still being created, or was deleted): current; else NewWorkRevision.
func RevisionFor(r *fleetv1alpha1.Rollout, revert bool, cluster, current, latest string) string {
	if r == nil {
		return or(current, latest)
	}
	fresh := NewWorkRevision(r, revert)
	if !r.Status.Phase.IsTerminal() {
		if rev, ok := Admitted(r, cluster); ok {
			return rev
		}
		return or(current, fresh)
	}
	if r.Spec.TargetRevision != latest {
		return or(current, fresh)
	}
	switch r.Status.Phase {
	case fleetv1alpha1.RolloutPhaseSucceeded, fleetv1alpha1.RolloutPhaseRolledBack:
		return StableRevision(r)
	}
	return or(current, fresh)
}

// NewWorkRevision is the revision a new Work of r's subject starts on (a
// cluster placed, or an instance made, while r governs and does not admit
// it): r's StableRevision, except that it is never the fromRevision of a
// revert (IsRevert): only the clusters the change it undoes reached took
// that revision, and the revert exists to take it back. A new Work then
// starts on what the revert returns to, the revision the rest of the fleet
// runs.
func NewWorkRevision(r *fleetv1alpha1.Rollout, revert bool) string {
	stable := StableRevision(r)
	if revert && stable == r.Spec.FromRevision {
		return r.Spec.TargetRevision
	}
	return stable
}

// AdmittedBy names the Rollout (and wave) that admitted cluster to
// revision, for a Work's spec.rollout: the newest of rollouts (a subject's)
// whose target is revision, or nil. The answer does not change when that
// Rollout ends, so finishing a Rollout rewrites no Work.
func AdmittedBy(rollouts []fleetv1alpha1.Rollout, cluster, revision string) *fleetv1alpha1.RolloutReference {
	var newest *fleetv1alpha1.Rollout
	for i := range rollouts {
		if r := &rollouts[i]; r.Spec.TargetRevision == revision && (newest == nil || newer(r, newest)) {
			newest = r
		}
	}
	if newest == nil {
		return nil
	}
	return &fleetv1alpha1.RolloutReference{Namespace: newest.Namespace, Name: newest.Name, Wave: WaveOf(newest, cluster)}
}
