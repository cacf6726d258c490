package cluster

import (
	"time"

	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// heartbeat is what the hub reads from the agent's Lease: the renewal the
// liveness rules judge, and the facts the status copies.
type heartbeat struct {
	liveness.Heartbeat
	// Facts are the member's facts the agent reported on the Lease.
	Facts facts
}

// availability judges hb (nil: the Lease does not exist) by the liveness rules.
func availability(hb *heartbeat, now time.Time, g liveness.Grace) liveness.Judgement {
	if hb == nil {
		return liveness.Judge(nil, now, g)
	}
	return liveness.Judge(&hb.Heartbeat, now, g)
}
