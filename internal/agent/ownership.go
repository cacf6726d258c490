package agent

import (
	"sync"
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
