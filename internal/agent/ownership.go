package agent

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// claim is what a Work may do with an object that exists on the member.
type claim int

const (
	// claimOwned: the Work created it (or adopted it before): apply.
	claimOwned claim = iota
	// claimAdopted: the Work did not create it, nobody owns it, and the
	// Work's adoption policy lets it take it over: apply, and from then on it
	// is the Work's.
	claimAdopted
	// claimConflict: not the Work's to change; left untouched.
	claimConflict
)

// claimOf decides whether a live object is a Work's to apply. workLabel is
// the Work's fleet.flotilla.dev/work label value; recorded is the UID its
// inventory records for the object (empty when none); uid and label are the
// live object's UID and fleet.flotilla.dev/work label.
//
// The object is the Work's when its UID is the one recorded, or, when no UID
// is recorded (a store from before UIDs were recorded, a lost store, a crash
// between creating the object and recording its UID), when it carries the
// Work's label: the agent sets that label itself on everything it applies
// and overwrites whatever a manifest says, so no other Work can have put it
// there. Otherwise an object without any Work label may be adopted under
// AdoptionIfUnowned; anything else is a conflict, and the message names its
// owner. Pure.
func claimOf(workLabel string, recorded, uid types.UID, label string, adoption fleetv1alpha1.AdoptionPolicy) (claim, string) {
	switch {
	case recorded != "" && uid == recorded:
		return claimOwned, ""
	case recorded == "" && label == workLabel:
		return claimOwned, ""
	case label == "" && adoption == fleetv1alpha1.AdoptionIfUnowned:
		return claimAdopted, "adopted: it existed before and no Work owned it (adoption IfUnowned)"
	case label == workLabel:
		// A UID is recorded and the live object is another one carrying
		// this Work's label: someone deleted the Work's object and created
		// this one in its place.
		return claimConflict, "not created by this Work: the object it created was replaced by another (uid " +
			string(uid) + ", not " + string(recorded) + "); left untouched"
	case label != "":
		return claimConflict, "owned by Work " + label + "; left untouched"
	default:
		return claimConflict, "not created by Flotilla: it existed before; left untouched (the Work's adoption policy is " +
			string(orNever(adoption)) + ")"
	}
}

func orNever(p fleetv1alpha1.AdoptionPolicy) fleetv1alpha1.AdoptionPolicy {
	if p == "" {
		return fleetv1alpha1.AdoptionNever
	}
	return p
}

// objectLocks serialises, per object, the claim and apply of the agent's
// workers: two Works listing the same object that does not exist yet must
// not both create it (the second apply would force its way over the first
// and both would record its UID). With the lock, the second finds the
// first's object, with the first's label, and reports a conflict.
type objectLocks struct {
	mu    sync.Mutex
	locks map[refKey]*objectLock
}

type objectLock struct {
	sync.Mutex
	users int
}

// lock locks key and returns its unlock.
func (o *objectLocks) lock(key refKey) func() {
	o.mu.Lock()
	if o.locks == nil {
		o.locks = map[refKey]*objectLock{}
	}
	l := o.locks[key]
	if l == nil {
		l = &objectLock{}
		o.locks[key] = l
	}
	l.users++
	o.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		o.mu.Lock()
		l.users--
		if l.users == 0 {
			delete(o.locks, key)
		}
		o.mu.Unlock()
	}
}
