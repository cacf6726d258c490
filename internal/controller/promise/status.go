package promise

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultRevisionHistoryLimit is how many unused PromiseRevisions are kept
// when spec.revisionHistoryLimit is unset (the API server defaults it to the same).
const DefaultRevisionHistoryLimit = 10

// maxStatusRevisions bounds status.revisions (the API's MaxItems).
const maxStatusRevisions = 100

// Usage counts where one revision runs, from the Works of its Promise.
type Usage struct {
	// Instances with at least one Work asking for the revision.
	Instances int32
	// Clusters with at least one Work asking for the revision.
	Clusters int32
}

// WorkUsage counts, per revision, the instances and clusters whose Works ask
// for it (spec.revision), and returns every revision in use: asked for, last
// applied (status.appliedRevision) or labelled on a Work. A revision in use is
// never deleted: a member may still run it, and a Rollout may roll back to it.
func WorkUsage(works []fleetv1alpha1.Work) (map[string]Usage, map[string]bool) {
	type sets struct{ instances, clusters map[string]bool }
	per := map[string]*sets{}
	inUse := map[string]bool{}
	for i := range works {
		w := &works[i]
		rev := w.Spec.Revision
		for _, r := range []string{rev, w.Status.AppliedRevision, w.Labels[fleetv1alpha1.LabelRevision]} {
			if r != "" {
				inUse[r] = true
			}
		}
		if rev == "" {
			continue
		}
		s := per[rev]
		if s == nil {
			s = &sets{instances: map[string]bool{}, clusters: map[string]bool{}}
			per[rev] = s
		}
		s.clusters[w.Spec.Cluster] = true
		if inst := w.Spec.Subject.Instance; inst != nil {
			s.instances[inst.Namespace+"/"+inst.Name] = true
		}
	}
	usage := make(map[string]Usage, len(per))
	for rev, s := range per {
		usage[rev] = Usage{Instances: int32(len(s.instances)), Clusters: int32(len(s.clusters))}
	}
	return usage, inUse
}

// RevisionsToDelete returns the revisions garbage collection removes: all but
// the latest, those in use, and the limit newest of the others.
func RevisionsToDelete(revisions []fleetv1alpha1.PromiseRevision, latest string, inUse map[string]bool, limit int) []string {
	if limit < 0 {
		limit = 0
	}
	unused := make([]*fleetv1alpha1.PromiseRevision, 0, len(revisions))
	for i := range revisions {
		r := &revisions[i]
		if r.Name == latest || inUse[r.Name] || r.DeletionTimestamp != nil {
			continue
		}
		unused = append(unused, r)
	}
	sortNewestFirst(unused)
	var out []string
	for i, r := range unused {
		if i >= limit {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}

func sortNewestFirst(revs []*fleetv1alpha1.PromiseRevision) {
	slices.SortFunc(revs, func(a, b *fleetv1alpha1.PromiseRevision) int {
		return cmp.Or(cmp.Compare(b.Spec.Revision, a.Spec.Revision), cmp.Compare(a.Name, b.Name))
	})
}

// NextRevisionNumber is one more than the highest revision number in revisions.
func NextRevisionNumber(revisions []fleetv1alpha1.PromiseRevision) int64 {
	var highest int64
	for i := range revisions {
		highest = max(highest, revisions[i].Spec.Revision)
	}
	return highest + 1
}

// RevisionStatuses lists kept revisions newest first with their usage, at
// most maxStatusRevisions.
func RevisionStatuses(revisions []fleetv1alpha1.PromiseRevision, deleted []string, usage map[string]Usage) []fleetv1alpha1.RevisionUsage {
	kept := make([]*fleetv1alpha1.PromiseRevision, 0, len(revisions))
	for i := range revisions {
		if !slices.Contains(deleted, revisions[i].Name) {
			kept = append(kept, &revisions[i])
		}
	}
	sortNewestFirst(kept)
	out := make([]fleetv1alpha1.RevisionUsage, 0, min(len(kept), maxStatusRevisions))
	for _, r := range kept {
		if len(out) == maxStatusRevisions {
			break
		}
		u := usage[r.Name]
		out = append(out, fleetv1alpha1.RevisionUsage{Name: r.Name, Revision: r.Spec.Revision, Instances: u.Instances, Clusters: u.Clusters})
	}
	return out
}

// problem is why a Promise is not Ready.
type problem struct {
	// condition is the condition the problem is about: APIEstablished or Rendered (or Ready only).
	condition string
	reason    string
	message   string
	// stalled problems need a person; the others resolve by themselves (requeued).
	stalled bool
}

// outcome is what one reconcile of a Promise found.
type outcome struct {
	problem *problem
	// established is whether the generated CRD is Established.
	established bool
	// rendered is whether the current content renders its examples.
	rendered bool
	latest   string
	// latestNumber is the latest revision's number.
	latestNumber int64
	instances    int32
}

// newConditions sets the Promise's conditions from o.
func newConditions(status *fleetv1alpha1.PromiseStatus, generation int64, o outcome, now time.Time) {
	set := fleetv1alpha1.NewConditionSetter(&status.Conditions, generation, now).Set
	p := o.problem
	switch {
	case o.rendered:
		set(fleetv1alpha1.ConditionRendered, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "the templates render every example")
	case p != nil && p.condition == fleetv1alpha1.ConditionRendered:
		set(fleetv1alpha1.ConditionRendered, metav1.ConditionFalse, p.reason, p.message)
	}
	switch {
	case o.established:
		set(fleetv1alpha1.ConditionAPIEstablished, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "the instance CRD is established")
	case p != nil && p.condition == fleetv1alpha1.ConditionAPIEstablished:
		set(fleetv1alpha1.ConditionAPIEstablished, metav1.ConditionFalse, p.reason, p.message)
	case p != nil:
		set(fleetv1alpha1.ConditionAPIEstablished, metav1.ConditionFalse, p.reason, "the instance CRD is installed once the Promise renders its examples")
	default:
		set(fleetv1alpha1.ConditionAPIEstablished, metav1.ConditionFalse, fleetv1alpha1.ReasonProgressing, "waiting for the instance CRD to be established")
	}
	stalled := p != nil && p.stalled
	if stalled {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, p.reason, p.message)
	} else {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	}
	switch {
	case p != nil:
		msg := p.message
		if o.latest != "" {
			msg = fmt.Sprintf("%s (instances keep rendering revision %s)", msg, o.latest)
		}
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, p.reason, msg)
		if stalled {
			set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, p.reason, "")
		} else {
			set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, p.reason, p.message)
		}
	case !o.established || o.latest == "":
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonProgressing, "waiting for the instance CRD to be established")
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, "waiting for the instance CRD to be established")
	default:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded,
			fmt.Sprintf("serving revision %s (%d)", o.latest, o.latestNumber))
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionFalse, fleetv1alpha1.ReasonSucceeded, "")
	}
}
