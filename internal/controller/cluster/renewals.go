package cluster

import (
	"sync"
	"time"
)

// The hub's own observation decides liveness. The agent writes renewTime
// itself, so a member could write a time in the far future (or have a clock
// that runs ahead) and stay Available with no agent running. The hub
// therefore does not trust renewTime as a time: it only takes a change of
// renewTime as evidence of a renewal, and dates that renewal by its own clock,
// at the moment it first saw it. A cluster expires grace after the last
// renewal the hub saw.

// renewal is the hub's record of the last renewal it saw of one agent's Lease.
type renewal struct {
	// Written is the renewTime the agent wrote: only compared, never trusted as a time.
	Written time.Time
	// Seen is when the hub first saw that renewTime, by the hub's clock.
	Seen time.Time
}

// observe returns the record of a Lease read at now (hub clock) carrying
// renewTime written, given the previous record (nil when this hub process
// has seen no renewal of it yet). A renewTime that did not change is the
// same renewal, seen when it was first seen. A changed one is a new renewal,
// seen now. The first one a hub process sees (after it started, or took over
// leadership) may be old: it is dated by the agent's renewTime, but never
// later than now, so an agent that stopped while the hub was down stays
// Offline, and a renewTime in the future buys at most one grace from now.
func observe(prev *renewal, written, now time.Time) renewal {
	switch {
	case written.IsZero():
		return renewal{}
	case prev != nil && prev.Written.Equal(written):
		return *prev
	case prev == nil && written.Before(now):
		return renewal{Written: written, Seen: written}
	default:
		return renewal{Written: written, Seen: now}
	}
}

// renewals holds what the hub saw of each cluster's Lease, in memory: it
// belongs to this hub process (a new leader starts afresh; see observe).
type renewals struct {
	mu   sync.Mutex
	seen map[string]renewal
}

// observe records a read of cluster's Lease at now and returns when the hub
// saw its latest renewal; zero when the Lease was never renewed.
func (r *renewals) observe(cluster string, written, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var prev *renewal
	if p, ok := r.seen[cluster]; ok {
		prev = &p
	}
	next := observe(prev, written, now)
	if next.Written.IsZero() {
		delete(r.seen, cluster)
		return time.Time{}
	}
	if r.seen == nil {
		r.seen = map[string]renewal{}
	}
	r.seen[cluster] = next
	return next.Seen
}

// forget drops what was seen of a cluster that is gone.
func (r *renewals) forget(cluster string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, cluster)
}
