package instanceplan

import (
	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Subject is what a plan writes Works for: an instance of a Promise, or the
// Promise's fleet resources.
type Subject struct {
	Promise string
	// Instance is the instance; nil for the Promise's fleet resources.
	Instance *fleetv1alpha1.InstanceReference
}

// InstanceSubject is the subject of instance namespace/name of promise.
func InstanceSubject(promise, namespace, name string) Subject {
	return Subject{Promise: promise, Instance: &fleetv1alpha1.InstanceReference{Namespace: namespace, Name: name}}
}

// FleetSubject is the subject of promise's fleet resources.
func FleetSubject(promise string) Subject { return Subject{Promise: promise} }

// IsFleet reports whether s is a Promise's fleet resources.
func (s Subject) IsFleet() bool { return s.Instance == nil }

// WorkSubject is the Work's spec.subject for s.
func (s Subject) WorkSubject() fleetv1alpha1.WorkSubject {
	ws := fleetv1alpha1.WorkSubject{Promise: s.Promise}
	if s.Instance != nil {
		ws.Instance = &fleetv1alpha1.InstanceReference{Namespace: s.Instance.Namespace, Name: s.Instance.Name}
	}
	return ws
}

// Owns reports whether w is one of s's Works that the hub may replace or
// delete: written by the hub (HubOwned), naming s as its subject, and not
// being deleted.
func (s Subject) Owns(w *fleetv1alpha1.Work) bool {
	return w.DeletionTimestamp.IsZero() && s.Claims(w)
}

// Claims reports whether the hub wrote w for s (HubOwned, naming s as its
// subject), being deleted or not.
func (s Subject) Claims(w *fleetv1alpha1.Work) bool {
	if !HubOwned(w) || w.Spec.Subject.Promise != s.Promise {
		return false
	}
	i := w.Spec.Subject.Instance
	if s.Instance == nil || i == nil {
		return s.Instance == nil && i == nil
	}
	return i.Namespace == s.Instance.Namespace && i.Name == s.Instance.Name
}

// HubOwned reports whether the hub wrote w (see DesiredWork's labels). Works
// applied by people or other tools share the namespace and may name the
// same subject; the hub leaves them alone.
func HubOwned(w *fleetv1alpha1.Work) bool {
	return w.Labels[fleetv1alpha1.LabelManagedBy] == fleetv1alpha1.ManagedByValue
}

// Rollouts are the Rollouts that decide which revisions a subject's Works
// render: their status (rollout.RevisionFor over status.waves[].admitted)
// says which cluster renders which revision. The slices are the cache's
// objects, only read.
type Rollouts struct {
	// Promise are the Rollouts of the Promise's changes.
	Promise []fleetv1alpha1.Rollout
	// Governing is the newest of Promise (rollout.Newest), or nil.
	Governing *fleetv1alpha1.Rollout
	// Instance are the Rollouts of the instance's own changes (none for
	// fleet resources).
	Instance []fleetv1alpha1.Rollout
	// Spec is the newest of Instance, or nil.
	Spec *fleetv1alpha1.Rollout
	// GoverningIsRevert and SpecIsRevert say Governing, Spec, is a revert
	// (rollout.IsRevert), whose fromRevision no new Work starts on.
	GoverningIsRevert, SpecIsRevert bool
	// AdmitLatest admits every cluster to the latest revisions at once,
	// whatever the Rollouts say (the controller's Options.AdmitLatest).
	AdmitLatest bool
	// Freeze is the action of the FleetFreeze in force (the one that
	// decides, fleetv1alpha1.ActiveFreezes), "" when none: no Rollout
	// admits any cluster then, whatever a status written before the freeze
	// admits (see hold).
	Freeze fleetv1alpha1.FreezeAction
}

// NewRollouts picks the governing Rollouts of a subject's.
func NewRollouts(promise, instance []fleetv1alpha1.Rollout, admitLatest bool) Rollouts {
	r := Rollouts{Promise: promise, Governing: rollout.Newest(promise), Instance: instance, Spec: rollout.Newest(instance), AdmitLatest: admitLatest}
	r.GoverningIsRevert = rollout.IsRevert(r.Governing, promise)
	r.SpecIsRevert = rollout.IsRevert(r.Spec, instance)
	return r
}

// Revision is the PromiseRevision the Work on cluster renders: current is
// the one it renders now ("" for a new Work), latest the Promise's latest.
func (r Rollouts) Revision(cluster, current, latest string) string {
	if r.AdmitLatest {
		return latest
	}
	return hold(r.Freeze, r.Governing, current, rollout.RevisionFor(r.Governing, r.GoverningIsRevert, cluster, current, latest))
}

// InstanceRevision is the instance revision the Work on cluster renders, by
// the same rules over the instance's own Rollouts.
func (r Rollouts) InstanceRevision(cluster, current, latest string) string {
	if r.AdmitLatest {
		return latest
	}
	return hold(r.Freeze, r.Spec, current, rollout.RevisionFor(r.Spec, r.SpecIsRevert, cluster, current, latest))
}

// hold is the revision a Work renders under freeze, the action of the
// FleetFreeze in force ("" for none), rev being what ro, the Rollout that
// governs it, says. A freeze stops every admission, also one a Rollout's
// status stored before it (a hub that stopped between the admission and
// the Work writes, and restarted under the freeze, before its Rollout
// controller took the admission back): the Work stays on current, except
// that under a Rollback freeze it may go back to the Rollout's rollback
// revision. A new Work (current "") starts where it starts anyway, as a
// new instance passes no gate.
func hold(freeze fleetv1alpha1.FreezeAction, ro *fleetv1alpha1.Rollout, current, rev string) string {
	switch {
	case freeze == "" || current == "" || rev == current:
		return rev
	case freeze == fleetv1alpha1.FreezeRollback && ro != nil && rev == ro.Status.RollbackRevision:
		return rev
	}
	return current
}

// AdmittedBy names the Rollout that admitted cluster to revision, for the
// Work's spec.rollout (nil: none).
func (r Rollouts) AdmittedBy(cluster, revision string) *fleetv1alpha1.RolloutReference {
	return rollout.AdmittedBy(r.Promise, cluster, revision)
}

// SpecRollout is the newest of the instance's Rollouts whose target is
// instance revision target (the current spec), by creation time then name,
// or nil. Its phase decides the instance's SpecApplied condition.
func (r Rollouts) SpecRollout(target string) *fleetv1alpha1.Rollout {
	var newest *fleetv1alpha1.Rollout
	for i := range r.Instance {
		ro := &r.Instance[i]
		if ro.Spec.TargetRevision != target {
			continue
		}
		if newest == nil || newest.CreationTimestamp.Before(&ro.CreationTimestamp) ||
			(newest.CreationTimestamp.Equal(&ro.CreationTimestamp) && rollout.LaterName(ro.Name, newest.Name)) {
			newest = ro
		}
	}
	return newest
}
