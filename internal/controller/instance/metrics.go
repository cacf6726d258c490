package instance

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Labels are bounded: operations are three words, and Promise names are what
// the platform team publishes. Never a cluster, instance or revision name.
var (
	worksWritten = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_works_written_total",
		Help: "Works the hub wrote, by operation (create, update, delete). Unchanged Works are not written.",
	}, []string{"operation"})
	renderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flotilla_render_errors_total",
		Help: "Renders (one subject on one cluster) that failed, by Promise.",
	}, []string{"promise"})
	renderDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "flotilla_render_duration_seconds",
		Help:    "Time to render one instance for one cluster.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
	})
)

func init() {
	metrics.Registry.MustRegister(worksWritten, renderErrors, renderDuration)
}
