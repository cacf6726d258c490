package testenv

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricExporter is a small HTTP server standing for an application whose
// error ratio per cluster a test sets, for a real Prometheus
// (StartPrometheus) to scrape. It serves the ratio twice:
//
//   - app_error_ratio{cluster}: a gauge of the ratio;
//   - app_requests_total{cluster,code}: counters that each scrape moves on by
//     10 requests a cluster, the ratio of them code "500", the rest "200", so
//     that rate(...code="500") / rate(...) is the ratio.
type MetricExporter struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123; Prometheus
	// scrapes URL/metrics.
	URL string

	ratio    *prometheus.GaugeVec
	requests *prometheus.CounterVec
	scrapes  atomic.Int64

	mu     sync.Mutex
	ratios map[string]float64
}

// StartMetricExporter starts an exporter on loopback with no cluster yet, and
// stops it when the test ends.
func StartMetricExporter(t TB) *MetricExporter {
	t.Helper()
	e := &MetricExporter{
		ratio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_error_ratio", Help: "Errors per request."},
			[]string{"cluster"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests served, by code."},
			[]string{"cluster", "code"}),
		ratios: map[string]float64{},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.ratio, e.requests)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("metric exporter: %v", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.scrapes.Add(1)
		e.countRequests()
		metrics.ServeHTTP(w, r)
	})}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("metric exporter: %v", err)
		}
	}()
	t.Cleanup(func() { _ = srv.Close() })
	e.URL = "http://" + l.Addr().String()
	return e
}

// Target is the exporter's address as StartPrometheus takes it (host:port).
func (e *MetricExporter) Target() string { return strings.TrimPrefix(e.URL, "http://") }

// Set sets a cluster's error ratio (0 to 1). WaitScraped waits until
// Prometheus has it.
func (e *MetricExporter) Set(cluster string, ratio float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ratios[cluster] = ratio
	e.ratio.WithLabelValues(cluster).Set(ratio)
}

// countRequests moves every cluster's request counters on by 10 requests.
func (e *MetricExporter) countRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for cluster, ratio := range e.ratios {
		e.requests.WithLabelValues(cluster, "500").Add(10 * ratio)
		e.requests.WithLabelValues(cluster, "200").Add(10 * (1 - ratio))
	}
}

// WaitScraped returns once Prometheus has stored what was set before the
// call: a scrape that started after the call has been followed by another
// (Prometheus stores a target's scrape before it starts the next). It fails
// the test after a minute.
func (e *MetricExporter) WaitScraped(t TB) {
	t.Helper()
	after := e.scrapes.Load() + 2
	for deadline := time.Now().Add(time.Minute); e.scrapes.Load() < after; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("metric exporter: not scraped twice within a minute")
		}
	}
}

// Remove stops exporting a cluster's series, as an application (or its
// scrape) that stopped reporting: Prometheus marks them stale at its next
// scrape, and a query no longer returns them.
func (e *MetricExporter) Remove(cluster string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.ratios, cluster)
	e.ratio.DeleteLabelValues(cluster)
	e.requests.DeleteLabelValues(cluster, "500")
	e.requests.DeleteLabelValues(cluster, "200")
}
