// Package metrics holds the hub's own Prometheus metrics: gauges computed at
// scrape time from the hub manager's cache (clusters, revisions, rollouts in
// flight, freezes) and counters the Rollout controller increments
// (transitions, rollbacks).
//
// Each hub manager has a registry of its own, served next to
// controller-runtime's global one. Several hubs run in one process (tests,
// `flotilla dev up`), and a collector that reads one manager's cache cannot
// be registered twice in the global registry: a per-hub registry lets every
// hub report its own fleet, and lets a test gather exact values from the hub
// it started.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Hub is one hub manager's metrics.
type Hub struct {
	registry    *prometheus.Registry
	transitions *prometheus.CounterVec
	rollbacks   *prometheus.CounterVec
	failures    *prometheus.CounterVec
}

// RollbackCause says what started a rollback (the cause label).
type RollbackCause string

// Rollback causes.
const (
	// RollbackFailure: a wave exceeded its failure budget with onFailure Rollback.
	RollbackFailure RollbackCause = "failure"
	// RollbackManual: someone asked for it (spec.rollback, `flotilla rollout rollback`).
	RollbackManual RollbackCause = "manual"
	// RollbackFreeze: a FleetFreeze with action Rollback.
	RollbackFreeze RollbackCause = "freeze"
)

// Phases are every Rollout phase, so each counter series exists from the
// start (rate() and increase() need a first sample).
var Phases = []fleetv1alpha1.RolloutPhase{
	fleetv1alpha1.RolloutPhasePending, fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.RolloutPhasePaused,
	fleetv1alpha1.RolloutPhaseWaitingForApproval, fleetv1alpha1.RolloutPhaseBaking, fleetv1alpha1.RolloutPhaseHalted,
	fleetv1alpha1.RolloutPhaseRollingBack, fleetv1alpha1.RolloutPhaseRolledBack, fleetv1alpha1.RolloutPhaseSucceeded,
	fleetv1alpha1.RolloutPhaseFailed, fleetv1alpha1.RolloutPhaseAborted, fleetv1alpha1.RolloutPhaseSuperseded,
}

// NewHub registers the hub's metrics in registry. reader is the manager's
// cache; gauges are read from it only once elected is closed (the manager's
// Elected()), so of several HA replicas only the leader reports the fleet
// and sums over replicas stay right.
func NewHub(registry *prometheus.Registry, reader client.Reader, clk clock.PassiveClock, elected <-chan struct{}) (*Hub, error) {
	h := &Hub{
		registry: registry,
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_rollout_transitions_total",
			Help: "Rollout phase changes, by the phase entered.",
		}, []string{"phase"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_rollout_rollbacks_total",
			Help: "Rollbacks started, by cause (failure, manual, freeze).",
		}, []string{"cause"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_rollout_cluster_failures_total",
			Help: "Clusters a Rollout counted as failed, by reason: the cause seen on the member (ImagePullBackOff, CrashLoopBackOff, Unschedulable…) or the hub's (ProgressDeadlineExceeded, ClusterOffline, ApplyFailed…); reasons outside a fixed set count as Other.",
		}, []string{"reason"}),
	}
	for _, p := range Phases {
		h.transitions.WithLabelValues(string(p))
	}
	for _, c := range []RollbackCause{RollbackFailure, RollbackManual, RollbackFreeze} {
		h.rollbacks.WithLabelValues(string(c))
	}
	for _, r := range FailureReasons {
		h.failures.WithLabelValues(r)
	}
	c := &collector{reader: reader, clock: clk, elected: elected}
	for _, m := range []prometheus.Collector{h.transitions, h.rollbacks, h.failures, c} {
		if err := registry.Register(m); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// RolloutTransition counts a Rollout entering phase. A nil Hub counts nothing
// (controllers built without metrics, in tests).
func (h *Hub) RolloutTransition(phase fleetv1alpha1.RolloutPhase) {
	if h == nil || phase == "" {
		return
	}
	h.transitions.WithLabelValues(string(phase)).Inc()
}

// RolloutRollback counts a rollback that started.
func (h *Hub) RolloutRollback(cause RollbackCause) {
	if h == nil {
		return
	}
	h.rollbacks.WithLabelValues(string(cause)).Inc()
}

// FailureReasons are the reason label values of
// flotilla_rollout_cluster_failures_total: the causes the agent reports and
// the hub's own reasons. Any other reason counts as ReasonOther, so the
// label stays bounded whatever a member says.
var FailureReasons = []string{
	"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff", "OOMKilled",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "Unschedulable",
	"BackoffLimitExceeded", "DeadlineExceeded", "Evicted",
	fleetv1alpha1.ReasonUnhealthy, fleetv1alpha1.ReasonApplyFailed, fleetv1alpha1.ReasonPruneFailed,
	fleetv1alpha1.ReasonProgressDeadlineExceeded, fleetv1alpha1.ReasonClusterOffline, ReasonOther,
}

// ReasonOther is the reason label of a failure whose reason is not one of FailureReasons.
const ReasonOther = "Other"

// FailureReasonLabel maps a cluster failure's reason onto FailureReasons.
func FailureReasonLabel(reason string) string {
	for _, r := range FailureReasons {
		if r == reason {
			return r
		}
	}
	return ReasonOther
}

// ClusterFailed counts a cluster a Rollout newly counts as failed.
func (h *Hub) ClusterFailed(reason string) {
	if h == nil {
		return
	}
	h.failures.WithLabelValues(FailureReasonLabel(reason)).Inc()
}
