package cluster

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

// DefaultHeartbeatStatusResolution is how stale status.lastHeartbeatTime may
// get while a cluster stays Available.
const DefaultHeartbeatStatusResolution = 5 * time.Minute

// newStatus returns the status the hub wants for cluster given judgement j.
// The hub owns availability, conditions, observedGeneration and
// lastHeartbeatTime; the agent's facts (versions, node count) come from its
// Lease when it reported them there, and are otherwise copied unchanged, as
// git's fields are.
//
// lastHeartbeatTime follows the Lease only coarsely: it moves when
// availability changes, or when the recorded time is resolution or more behind
// the Lease. Agents renew their Lease every few seconds; copying each renewal
// into the Cluster would cost the hub one write per heartbeat per cluster.
// With this rule a steady fleet costs one Cluster write per cluster per
// resolution, and the Lease itself stays the precise record.
func newStatus(cluster *fleetv1alpha1.Cluster, j judgement, hb *heartbeat, now time.Time, resolution time.Duration) fleetv1alpha1.ClusterStatus {
	status := *cluster.Status.DeepCopy()
	changed := status.Availability != j.Availability
	status.Availability = j.Availability
	status.ObservedGeneration = cluster.Generation
	for _, c := range j.Conditions {
		c.ObservedGeneration = cluster.Generation
		controller.SetCondition(&status.Conditions, c, now)
	}
	if hb != nil {
		applyFacts(&status, hb.Facts)
		c := metav1.Condition{Type: fleetv1alpha1.ConditionFactsValid, Status: metav1.ConditionTrue,
			Reason: fleetv1alpha1.ReasonFactsAccepted, Message: "the facts on the agent's Lease are valid", ObservedGeneration: cluster.Generation}
		if len(hb.Facts.Invalid) > 0 {
			c.Status, c.Reason = metav1.ConditionFalse, fleetv1alpha1.ReasonInvalidFacts
			c.Message = "dropped from the agent's Lease, not copied into the status: " + strings.Join(hb.Facts.Invalid, "; ")
		}
		controller.SetCondition(&status.Conditions, c, now)
	}
	if hb != nil && !hb.Seen.IsZero() {
		status.LastHeartbeatTime = lastHeartbeat(status.LastHeartbeatTime, hb.Seen, changed, resolution)
	}
	return status
}

// lastHeartbeat returns the lastHeartbeatTime to record given the recorded one
// and the Lease's renewTime (see newStatus).
func lastHeartbeat(recorded *metav1.Time, renew time.Time, availabilityChanged bool, resolution time.Duration) *metav1.Time {
	// The API keeps whole seconds; comparing finer times would see a change every time.
	next := metav1.NewTime(renew.Truncate(time.Second))
	if recorded == nil || availabilityChanged || next.Before(recorded) || next.Sub(recorded.Time) >= resolution {
		return &next
	}
	return recorded
}
