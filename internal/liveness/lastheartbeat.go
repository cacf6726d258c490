package liveness

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultHeartbeatStatusResolution is how stale status.lastHeartbeatTime may
// get while a cluster stays Available (see LastHeartbeat).
const DefaultHeartbeatStatusResolution = 5 * time.Minute

// LastHeartbeat returns the status.lastHeartbeatTime to record, given the
// recorded one and when the hub saw the Lease's last renewal.
//
// It follows the Lease only coarsely: it moves when availability changed, or
// when the recorded time is resolution or more behind. Agents renew their
// Lease every few seconds; copying each renewal into the Cluster would cost
// the hub one write per heartbeat per cluster. With this rule a steady fleet
// costs one Cluster write per cluster per resolution, and the Lease itself
// stays the precise record.
func LastHeartbeat(recorded *metav1.Time, renew time.Time, availabilityChanged bool, resolution time.Duration) *metav1.Time {
	// The API keeps whole seconds; comparing finer times would see a change every time.
	next := metav1.NewTime(renew.Truncate(time.Second))
	if recorded == nil || availabilityChanged || next.Before(recorded) || next.Sub(recorded.Time) >= resolution {
		return &next
	}
	return recorded
}
