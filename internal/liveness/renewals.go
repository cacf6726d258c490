package liveness

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

// Renewal is the hub's record of the last renewal it saw of one agent's Lease.
type Renewal struct {
	// Written is the renewTime the agent wrote: only compared, never trusted as a time.
	Written time.Time
	// Seen is when the hub first saw that renewTime, by the hub's clock.
	Seen time.Time
}

// Observe returns the record of a Lease read at now (hub clock) carrying
// renewTime written, given the previous record (nil when this hub process
// has seen no renewal of it yet). A renewTime that did not change is the
// same renewal, seen when it was first seen. A changed one is a new renewal,
// seen now. The first one a hub process sees (after it started, or took over
// leadership) may be old: it is dated by the agent's renewTime plus offset,
// how far the agent's clock ran behind a hub's when one last measured it
// (ClockOffset; zero if none did), but never later than now, so an agent that
// stopped while the hub was down stays Offline, one whose clock runs behind
// does not go Offline at a restart, and a renewTime in the future buys at most
// one grace from now. A renewTime erased after a renewal (the agent may
// update its Lease) is no renewal: the last one seen stands, so the cluster
// goes Offline on time rather than back to "never heartbeated".
func Observe(prev *Renewal, written, now time.Time, offset time.Duration) Renewal {
	switch {
	case written.IsZero() && prev != nil:
		return *prev
	case written.IsZero():
		return Renewal{}
	case prev != nil && prev.Written.Equal(written):
		return *prev
	case prev == nil:
		seen := written.Add(offset)
		if seen.After(now) {
			seen = now
		}
		return Renewal{Written: written, Seen: seen}
	default:
		return Renewal{Written: written, Seen: now}
	}
}

// maxClockOffset bounds a recorded clock offset: a member booted at the
// epoch is 56 years behind, and the bound keeps the duration far from
// overflowing.
const maxClockOffset = 100 * 365 * 24 * time.Hour

// ClockOffset is how far an agent's clock runs behind the hub's as one
// renewal shows it: when the hub saw it (seen) minus the renewTime the agent
// wrote (written), in whole seconds, negative when the agent's clock runs
// ahead; zero when written is unknown. The Cluster's status records it, for
// the next hub process's first look (Observe).
func ClockOffset(seen, written time.Time) int64 {
	if written.IsZero() || seen.IsZero() {
		return 0
	}
	d := min(max(seen.Sub(written), -maxClockOffset), maxClockOffset)
	return int64(d.Round(time.Second) / time.Second)
}

// Offset is the duration of a clock offset recorded in seconds (ClockOffset).
func Offset(seconds int64) time.Duration {
	limit := int64(maxClockOffset / time.Second)
	return time.Duration(min(max(seconds, -limit), limit)) * time.Second
}

// Renewals holds what the hub saw of each cluster's Lease, in memory: it
// belongs to this hub process (a new leader starts afresh; see Observe). It
// is safe for concurrent use.
type Renewals struct {
	mu   sync.Mutex
	seen map[string]Renewal
}

// Observe records a read of cluster's Lease at now and returns when the hub
// saw its latest renewal; zero when the Lease was never renewed. offset is
// the agent's clock offset the Cluster records (see Observe).
func (r *Renewals) Observe(cluster string, written, now time.Time, offset time.Duration) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var prev *Renewal
	if p, ok := r.seen[cluster]; ok {
		prev = &p
	}
	next := Observe(prev, written, now, offset)
	if next.Written.IsZero() {
		delete(r.seen, cluster)
		return time.Time{}
	}
	if r.seen == nil {
		r.seen = map[string]Renewal{}
	}
	r.seen[cluster] = next
	return next.Seen
}

// Forget drops what was seen of a cluster that is gone.
func (r *Renewals) Forget(cluster string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.seen, cluster)
}
