package agent

import (
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// Who owns an existing object (which Work may apply it, prune it) is
// decided by plan.ClaimOf, plan.ApplyObject and plan.PruneObject.

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

// recordedOwners knows, across all of the agent's Works, which Work's
// inventory records each object UID. An object is one Work's by that record,
// whatever labels it carries: anyone who may update an object on the member
// (a team, in its own namespace) can write another Work's label on it or
// take the label off, and must not so hand the platform's object to its own
// Work to apply over and prune.
type recordedOwners struct {
	mu     sync.Mutex
	byUID  map[types.UID]map[string]bool
	byWork map[string][]types.UID
}

// set replaces what work's inventory records (nil: nothing, the Work is gone).
func (o *recordedOwners) set(work string, inv inventory) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byUID == nil {
		o.byUID, o.byWork = map[types.UID]map[string]bool{}, map[string][]types.UID{}
	}
	for _, uid := range o.byWork[work] {
		delete(o.byUID[uid], work)
		if len(o.byUID[uid]) == 0 {
			delete(o.byUID, uid)
		}
	}
	delete(o.byWork, work)
	for _, r := range inv {
		if r.UID != "" {
			o.record(work, r.UID)
		}
	}
}

// add records that work's inventory holds uid (before the next save).
func (o *recordedOwners) add(work string, uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byUID == nil {
		o.byUID, o.byWork = map[types.UID]map[string]bool{}, map[string][]types.UID{}
	}
	if !o.byUID[uid][work] {
		o.record(work, uid)
	}
}

func (o *recordedOwners) record(work string, uid types.UID) {
	if o.byUID[uid] == nil {
		o.byUID[uid] = map[string]bool{}
	}
	o.byUID[uid][work] = true
	o.byWork[work] = append(o.byWork[work], uid)
}

// other returns a Work other than work whose inventory records uid; "" when
// none does.
func (o *recordedOwners) other(work string, uid types.UID) string {
	if uid == "" {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for w := range o.byUID[uid] {
		if w != work {
			names = append(names, w)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names) // the same name every time
	return names[0]
}
