// Package liveness decides whether a member cluster is alive from its agent's
// heartbeats: renewals of the agent's Lease, dated by the hub's own clock;
// the grace after which a cluster is Offline; and how often a Cluster's
// status.lastHeartbeatTime follows them. It is pure: the Cluster controller
// reads the Leases and writes the status, and the CLI offers the same
// defaults as the hub's flags.
package liveness

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultOfflineGrace is the grace used when the agent's Lease does not say
// (no leaseDurationSeconds) and the hub sets no override.
const DefaultOfflineGrace = 180 * time.Second

// MaxAgentGrace bounds the grace an agent may ask for with its Lease's
// leaseDurationSeconds (the agent writes it, so it is not trusted beyond
// this); the hub's --cluster-offline-grace is not bounded.
const MaxAgentGrace = time.Hour

// DefaultMinAgentGrace is the least grace the hub's flag gives an agent's
// own leaseDurationSeconds (--min-agent-grace).
const DefaultMinAgentGrace = 10 * time.Second

// Grace is the hub's say in how long a cluster may go without a heartbeat.
type Grace struct {
	// Override, when positive, replaces every agent's leaseDurationSeconds
	// (the hub's --cluster-offline-grace).
	Override time.Duration
	// AgentMin, when positive, is the least an agent's own
	// leaseDurationSeconds counts for (the hub's --min-agent-grace): an
	// agent that asks for 1 s and renews every 1.5 s would flip its cluster
	// Available and Offline twice a second, and each flip re-plans the
	// hub's Rollouts, counts its Fleets and reconciles the cluster's
	// instances again.
	AgentMin time.Duration
}

// of is the grace hb gets: the hub's override, else the agent's own
// (bounded by AgentMin and MaxAgentGrace), else DefaultOfflineGrace;
// floored says the agent asked for less than AgentMin.
func (g Grace) of(hb *Heartbeat) (grace time.Duration, floored bool) {
	if g.Override > 0 {
		return g.Override, false
	}
	if hb.Duration <= 0 {
		return DefaultOfflineGrace, false
	}
	if hb.Duration < g.AgentMin {
		return g.AgentMin, true
	}
	return min(hb.Duration, MaxAgentGrace), false
}

// Heartbeat is what the hub knows of an agent's Lease.
type Heartbeat struct {
	// Seen is when the hub saw the last renewal, by its own clock (see
	// Observe); zero when the agent never renewed.
	Seen time.Time
	// Written is the renewTime the agent wrote; never used as a time.
	Written time.Time
	// Duration is the agent's leaseDurationSeconds; zero when unset.
	Duration time.Duration
}

// Judgement is the availability of a cluster at one instant.
type Judgement struct {
	Availability fleetv1alpha1.ClusterAvailability
	// Conditions are Ready, Available and Offline, without observedGeneration
	// or transition times (the Cluster controller sets those).
	Conditions []metav1.Condition
	// RequeueAfter is when the judgement changes by itself (the Lease expires);
	// zero when only a new heartbeat can change it.
	RequeueAfter time.Duration
}

// Judge judges a cluster from its agent's heartbeat. hb is nil when the
// Lease does not exist. g is the hub's say in the grace (Grace.of). A
// cluster is Available while now is before the hub saw the last renewal +
// grace: both times are the hub's clock, so neither the member's clock nor
// what the agent writes as renewTime moves the expiry.
func Judge(hb *Heartbeat, now time.Time, g Grace) Judgement {
	if hb == nil {
		return unknown(fmt.Sprintf("the agent's Lease %s does not exist; re-run `flotilla join` to create it", fleetv1alpha1.AgentLease))
	}
	if hb.Seen.IsZero() {
		return unknown("the agent has not heartbeated yet")
	}
	grace, floored := g.of(hb)
	expiry := hb.Seen.Add(grace)
	if now.Before(expiry) {
		msg := fmt.Sprintf("the agent heartbeats; grace %s", grace)
		if floored {
			msg += fmt.Sprintf(" (it asks for %s, under the hub's least for an agent)", hb.Duration)
		}
		return Judgement{
			Availability: fleetv1alpha1.ClusterAvailabilityAvailable,
			Conditions:   conditions(metav1.ConditionTrue, fleetv1alpha1.ReasonHeartbeating, msg),
			RequeueAfter: expiry.Sub(now),
		}
	}
	// No age in the message: it would change on every reconcile, and each
	// change is a status write (lastHeartbeatTime and the CLI show the age).
	msg := fmt.Sprintf("no heartbeat since %s (grace %s)", hb.Seen.UTC().Format(time.RFC3339), grace)
	return Judgement{
		Availability: fleetv1alpha1.ClusterAvailabilityOffline,
		Conditions:   conditions(metav1.ConditionFalse, fleetv1alpha1.ReasonHeartbeatMissed, msg),
	}
}

// WithoutHeartbeat is the judgement of a cluster that has no agent to
// heartbeat: a git-delivered cluster whose health source is None.
func WithoutHeartbeat() Judgement {
	return Judgement{
		Availability: fleetv1alpha1.ClusterAvailabilityAvailable,
		Conditions: conditions(metav1.ConditionTrue, fleetv1alpha1.ReasonHeartbeatNotRequired,
			"git delivery with healthSource None: no agent heartbeats; health comes from the push"),
	}
}

func unknown(msg string) Judgement {
	return Judgement{
		Availability: fleetv1alpha1.ClusterAvailabilityUnknown,
		Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionUnknown, Reason: fleetv1alpha1.ReasonNeverConnected, Message: msg},
			{Type: fleetv1alpha1.ConditionAvailable, Status: metav1.ConditionUnknown, Reason: fleetv1alpha1.ReasonNeverConnected, Message: msg},
			{Type: fleetv1alpha1.ConditionOffline, Status: metav1.ConditionUnknown, Reason: fleetv1alpha1.ReasonNeverConnected, Message: msg},
		},
	}
}

// conditions returns Ready and Available with status available, and Offline
// with the opposite.
func conditions(available metav1.ConditionStatus, reason, msg string) []metav1.Condition {
	offline := metav1.ConditionFalse
	if available == metav1.ConditionFalse {
		offline = metav1.ConditionTrue
	}
	return []metav1.Condition{
		{Type: fleetv1alpha1.ConditionReady, Status: available, Reason: reason, Message: msg},
		{Type: fleetv1alpha1.ConditionAvailable, Status: available, Reason: reason, Message: msg},
		{Type: fleetv1alpha1.ConditionOffline, Status: offline, Reason: reason, Message: msg},
	}
}
