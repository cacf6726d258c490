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
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Hub is one hub manager's metrics.
type Hub struct {
	registry    *prometheus.Registry
	transitions *prometheus.CounterVec
	rollbacks   *prometheus.CounterVec
	// The instance controller's: Works written, render failures and time.
	worksWritten   *prometheus.CounterVec
	renderErrors   *prometheus.CounterVec
	renderDuration prometheus.Histogram
	failures       *prometheus.CounterVec
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
			Help: "Rollout phase changes, by the phase entered and whose Rollout it is (platform: a Promise's; team: an instance's).",
		}, []string{"phase", "owner"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_rollout_rollbacks_total",
			Help: "Rollbacks started, by cause (failure, manual, freeze) and whose Rollout it is (platform, team).",
		}, []string{"cause", "owner"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_rollout_cluster_failures_total",
			Help: "Clusters a Rollout counted as failed, by reason: the cause seen on the member (ImagePullBackOff, CrashLoopBackOff, Unschedulable…) or the hub's (ProgressDeadlineExceeded, ClusterOffline, ApplyFailed…); reasons outside a fixed set count as Other; and by whose Rollout it is (platform, team).",
		}, []string{"reason", "owner"}),
	}
	// Labels are bounded: operations are three words, and Promise names are
	// what the platform team publishes. Never a cluster, instance or revision.
	h.worksWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_works_written_total",
		Help: "Works the hub wrote, by operation (create, update, delete). Unchanged Works are not written.",
	}, []string{"operation"})
	h.renderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_render_errors_total",
		Help: "Renders (one subject on one cluster) that failed, by Promise.",
	}, []string{"promise"})
	h.renderDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "flotilla_render_duration_seconds",
		Help:    "Time to render one instance for one cluster.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
	})
	for _, o := range Owners {
		for _, p := range Phases {
			h.transitions.WithLabelValues(string(p), string(o))
		}
		for _, c := range []RollbackCause{RollbackFailure, RollbackManual, RollbackFreeze} {
			h.rollbacks.WithLabelValues(string(c), string(o))
		}
		for _, r := range FailureReasons {
			h.failures.WithLabelValues(r, string(o))
		}
	}
	c := &collector{reader: reader, clock: clk, elected: elected}
	for _, m := range []prometheus.Collector{h.transitions, h.rollbacks, h.failures, h.worksWritten, h.renderErrors, h.renderDuration, c} {
		if err := registry.Register(m); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Owner says whose Rollout a counter counts (the owner label): teams run
// their instances' Rollouts as they like, and what they do must not read as
// the platform's release failing or rolling back.
type Owner string

// Owners of Rollouts.
const (
	// OwnerPlatform: a Promise's Rollout, in flotilla-system.
	OwnerPlatform Owner = "platform"
	// OwnerTeam: the Rollout of a team's instance.
	OwnerTeam Owner = "team"
)

// Owners are every owner label value, so each series exists from the start.
var Owners = []Owner{OwnerPlatform, OwnerTeam}

// OwnerOf is whose Rollout ro is.
func OwnerOf(ro *fleetv1alpha1.Rollout) Owner {
	if ro.IsPlatformRollout() {
		return OwnerPlatform
	}
	return OwnerTeam
}

// RolloutTransition counts a Rollout of owner entering phase. A nil Hub
// counts nothing (controllers built without metrics, in tests).
func (h *Hub) RolloutTransition(phase fleetv1alpha1.RolloutPhase, owner Owner) {
	if h == nil || phase == "" {
		return
	}
	h.transitions.WithLabelValues(string(phase), string(owner)).Inc()
}

// WorkWritten counts a Work the hub created, updated or deleted (op).
func (h *Hub) WorkWritten(op string) {
	if h == nil {
		return
	}
	h.worksWritten.WithLabelValues(op).Inc()
}

// RenderFailed counts a failed render of one of promise's subjects on one cluster.
func (h *Hub) RenderFailed(promise string) {
	if h == nil {
		return
	}
	h.renderErrors.WithLabelValues(promise).Inc()
}

// Rendered observes the time one render took.
func (h *Hub) Rendered(d time.Duration) {
	if h == nil {
		return
	}
	h.renderDuration.Observe(d.Seconds())
}

// RolloutRollback counts a rollback of a Rollout of owner that started.
func (h *Hub) RolloutRollback(cause RollbackCause, owner Owner) {
	if h == nil {
		return
	}
	h.rollbacks.WithLabelValues(string(cause), string(owner)).Inc()
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
	fleetv1alpha1.ReasonProgressDeadlineExceeded, fleetv1alpha1.ReasonClusterOffline,
	fleetv1alpha1.ReasonAnalysisFailed, fleetv1alpha1.ReasonFlapping, ReasonOther,
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

// ClusterFailed counts a cluster a Rollout of owner newly counts as failed.
func (h *Hub) ClusterFailed(reason string, owner Owner) {
	if h == nil {
		return
	}
	h.failures.WithLabelValues(FailureReasonLabel(reason), string(owner)).Inc()
}
