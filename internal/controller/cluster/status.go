package cluster

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// newStatus returns the status the hub wants for cluster given judgement j.
// The hub owns availability, conditions, observedGeneration and
// lastHeartbeatTime; the agent's facts (versions, node count) come from its
// Lease when it reported them there, and are otherwise copied unchanged, as
// git's fields are. lastHeartbeatTime follows the Lease only coarsely
// (liveness.LastHeartbeat), so a steady fleet costs one Cluster write per
// cluster per resolution.
func newStatus(cluster *fleetv1alpha1.Cluster, j liveness.Judgement, hb *heartbeat, now time.Time, resolution time.Duration) fleetv1alpha1.ClusterStatus {
	status := *cluster.Status.DeepCopy()
	changed := status.Availability != j.Availability
	status.Availability = j.Availability
	status.ObservedGeneration = cluster.Generation
	set := fleetv1alpha1.NewConditionSetter(&status.Conditions, cluster.Generation, now)
	var ready metav1.Condition
	for _, c := range j.Conditions {
		if c.Type == fleetv1alpha1.ConditionReady {
			ready = c
			continue
		}
		set.Set(c.Type, c.Status, c.Reason, c.Message)
	}
	setSummary(set, cluster, &status, ready)
	if hb != nil {
		applyFacts(&status, hb.Facts)
		c := metav1.Condition{Type: fleetv1alpha1.ConditionFactsValid, Status: metav1.ConditionTrue,
			Reason: fleetv1alpha1.ReasonFactsAccepted, Message: "the facts on the agent's Lease are valid"}
		if len(hb.Facts.Invalid) > 0 {
			c.Status, c.Reason = metav1.ConditionFalse, fleetv1alpha1.ReasonInvalidFacts
			c.Message = "dropped from the agent's Lease, not copied into the status: " + strings.Join(hb.Facts.Invalid, "; ")
		}
		set.Set(c.Type, c.Status, c.Reason, c.Message)
	}
	if hb != nil && !hb.Seen.IsZero() {
		last := liveness.LastHeartbeat(status.LastHeartbeatTime, hb.Seen, changed, resolution)
		if !hb.Written.IsZero() && (status.LastHeartbeatTime == nil || !last.Equal(status.LastHeartbeatTime)) {
			// Measured on the heartbeat recorded, so that it costs no
			// write of its own: the next hub process's first look dates
			// the agent's renewTime by it (liveness.Observe).
			status.AgentClockOffsetSeconds = liveness.ClockOffset(hb.Seen, hb.Written)
		}
		status.LastHeartbeatTime = last
	}
	return status
}

// setSummary sets the kstatus trio of a Cluster from ready, the judgement
// of its agent (availability and mode), and, for git delivery, the Delivered
// condition git delivery wrote on it (read from status, where the other
// writer left it; the status write is guarded by the resourceVersion, so it
// never undoes a newer Delivered):
//
//   - Ready: joined, heartbeating (or needing no heartbeat) in the right
//     mode, and, with git delivery, the last push succeeded;
//   - Reconciling: on its way there by itself: the agent has not heartbeated
//     yet, or the first push, or a push that failed for a reason that may
//     pass (unreachable, rejected), is retried;
//   - Stalled: it cannot proceed until a person acts: the agent stopped
//     heartbeating (HeartbeatMissed), runs in the wrong mode
//     (AgentModeMismatch), git refuses the credentials or they cannot be
//     read (GitAuthFailed, SecretNotFound), or its git path is not its own
//     (GitPathConflict, GitPathInvalid).
//
// Ready keeps the judgement's reason and message when it holds; otherwise it
// carries the reason that stops it.
func setSummary(set fleetv1alpha1.ConditionSetter, cluster *fleetv1alpha1.Cluster, status *fleetv1alpha1.ClusterStatus, ready metav1.Condition) {
	switch {
	case ready.Status == metav1.ConditionUnknown:
		set.Set(fleetv1alpha1.ConditionReady, metav1.ConditionUnknown, ready.Reason, ready.Message)
		set.Set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, ready.Reason, ready.Message)
		set.Set(fleetv1alpha1.ConditionStalled, metav1.ConditionFalse, ready.Reason, ready.Message)
		return
	case ready.Status != metav1.ConditionTrue:
		set.Stalled(ready.Reason, ready.Message)
		return
	case cluster.Spec.Delivery.Mode != fleetv1alpha1.DeliveryGit:
		set.Ready(ready.Reason, ready.Message)
		return
	}
	delivered := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionDelivered)
	switch {
	case delivered == nil:
		set.Reconciling(fleetv1alpha1.ReasonProgressing, "waiting for the first push to the cluster's git repository")
	case delivered.Status == metav1.ConditionTrue:
		set.Ready(ready.Reason, ready.Message+"; "+delivered.Message)
	case delivered.Reason == fleetv1alpha1.ReasonGitAuthFailed || delivered.Reason == fleetv1alpha1.ReasonSecretNotFound ||
		delivered.Reason == fleetv1alpha1.ReasonGitPathConflict || delivered.Reason == fleetv1alpha1.ReasonGitPathInvalid:
		set.Stalled(delivered.Reason, "git delivery: "+delivered.Message)
	default:
		set.Reconciling(delivered.Reason, "git delivery, retried: "+delivered.Message)
	}
}
