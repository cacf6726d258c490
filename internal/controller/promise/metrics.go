package promise

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Promise names are bounded by what the platform team publishes, so they
// are fine as labels; revision names and hashes never are.
var (
	revisionsDesc = prometheus.NewDesc("flotilla_promise_revisions",
		"PromiseRevisions kept, per Promise.", []string{"promise"}, nil)
	instancesDesc = prometheus.NewDesc("flotilla_instances",
		"Instances of each Promise.", []string{"promise"}, nil)
	readyDesc = prometheus.NewDesc("flotilla_promise_ready",
		"1 when the Promise is Ready (API established, latest content renders), else 0.", []string{"promise"}, nil)
)

// NewCollector reports Promise gauges from reader (the hub manager's cache)
// at scrape time. The hub registers it in its own registry, so several hubs
// in one process each report their own Promises.
func NewCollector(reader client.Reader) prometheus.Collector { return collector{reader: reader} }

type collector struct{ reader client.Reader }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- revisionsDesc
	ch <- instancesDesc
	ch <- readyDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	promises := &fleetv1alpha1.PromiseList{}
	revisions := &fleetv1alpha1.PromiseRevisionList{}
	if err := c.reader.List(ctx, promises, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(instancesDesc, err)
		return
	}
	if err := c.reader.List(ctx, revisions, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(revisionsDesc, err)
		return
	}
	perPromise := map[string]int{}
	for i := range revisions.Items {
		perPromise[revisions.Items[i].Spec.Promise]++
	}
	for i := range promises.Items {
		p := &promises.Items[i]
		ready := 0.0
		if meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionReady) {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(revisionsDesc, prometheus.GaugeValue, float64(perPromise[p.Name]), p.Name)
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(p.Status.Instances), p.Name)
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready, p.Name)
	}
}
