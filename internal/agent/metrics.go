package agent

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// metrics are one agent's Prometheus metrics, in a registry of its own so
// that several agents can run in one process. Labels are bounded: results
// and nothing per Work, object or revision.
type metrics struct {
	registry     *prometheus.Registry
	applies      *prometheus.CounterVec
	prunes       *prometheus.CounterVec
	lastSync     prometheus.Gauge
	worksManaged prometheus.Gauge
	hubConnected prometheus.Gauge
	heartbeats   *prometheus.CounterVec
	statusWrites *prometheus.CounterVec
	// driftCorrections counts re-applies of an unchanged spec that changed
	// the live object: someone else had changed it.
	driftCorrections prometheus.Counter
	// podLists counts the Pod lists made to explain unhealthy workloads.
	podLists prometheus.Counter
	// checkMeasurements counts verification check measurements by kind
	// (metric, http, job) and outcome (passed, failed, inconclusive).
	checkMeasurements *prometheus.CounterVec
	// codePageReleases counts the releases of the binary's pages from
	// resident memory (coderelease.go) by result.
	codePageReleases *prometheus.CounterVec
}

// newMetrics registers requests (newAPIRequests; nil: none) with the rest.
func newMetrics(requests *prometheus.CounterVec) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_applies_total",
			Help: "Objects applied to the member, by result (applied, failed, skipped; conflict, refused: not applied).",
		}, []string{"result"}),
		prunes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_prunes_total",
			Help: "Objects that left a Work, by result (pruned, failed, skipped: left in place).",
		}, []string{"result"}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_agent_last_successful_sync_timestamp_seconds",
			Help: "When a Work was last applied or checked and its status reported without error (Unix time).",
		}),
		worksManaged: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_agent_works_managed",
			Help: "Works whose objects the agent manages on the member (from the hub or its local state).",
		}),
		hubConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_agent_hub_connected",
			Help: "1 when the last request to the hub succeeded, 0 otherwise.",
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_heartbeats_total",
			Help: "Lease renewals on the hub, by result (success, error).",
		}, []string{"result"}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_status_writes_total",
			Help: "Work status writes to the hub, by result (success, error).",
		}, []string{"result"}),
		driftCorrections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_agent_drift_corrections_total",
			Help: "Objects a re-apply of an unchanged Work spec changed back: someone had changed them on the member.",
		}),
		podLists: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_agent_pod_lists_total",
			Help: "Pod lists on the member (at most 20 Pods each) to find why a workload that is not healthy is not: the cost of reporting causes.",
		}),
		checkMeasurements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_check_measurements_total",
			Help: "Measurements of verification checks, by kind (metric, http, job) and outcome (passed, failed, inconclusive).",
		}, []string{"kind", "outcome"}),
		codePageReleases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_agent_code_page_releases_total",
			Help: "Releases of the agent binary's pages from its resident memory (--release-code-pages-every), by result (released, failed, unsupported).",
		}, []string{"result"}),
	}
	m.registry.MustRegister(m.applies, m.prunes, m.lastSync, m.worksManaged, m.hubConnected, m.heartbeats, m.statusWrites, m.driftCorrections, m.podLists,
		m.checkMeasurements, m.codePageReleases,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if requests != nil {
		m.registry.MustRegister(requests)
	}
	for _, r := range []fleetv1alpha1.ApplyResult{fleetv1alpha1.ApplyResultApplied, fleetv1alpha1.ApplyResultFailed, fleetv1alpha1.ApplyResultSkipped,
		fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused} {
		m.applies.WithLabelValues(resultLabel(r))
	}
	for _, r := range []fleetv1alpha1.ApplyResult{fleetv1alpha1.ApplyResultPruned, fleetv1alpha1.ApplyResultFailed, fleetv1alpha1.ApplyResultSkipped} {
		m.prunes.WithLabelValues(resultLabel(r))
	}
	for _, r := range []string{"success", "error"} {
		m.heartbeats.WithLabelValues(r)
		m.statusWrites.WithLabelValues(r)
	}
	return m
}

func resultLabel(r fleetv1alpha1.ApplyResult) string { return strings.ToLower(string(r)) }

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "success"
}
