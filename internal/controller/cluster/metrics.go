package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

var clustersDesc = prometheus.NewDesc("flotilla_clusters",
	"Member clusters by availability (Unknown, Available, Offline).", []string{"availability"}, nil)

// collector counts Clusters by availability from the manager's cache at
// scrape time, so the gauge needs no state of its own.
type collector struct{ reader client.Reader }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- clustersDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &fleetv1alpha1.ClusterList{}
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(clustersDesc, err)
		return
	}
	counts := map[fleetv1alpha1.ClusterAvailability]int{
		fleetv1alpha1.ClusterAvailabilityUnknown:   0,
		fleetv1alpha1.ClusterAvailabilityAvailable: 0,
		fleetv1alpha1.ClusterAvailabilityOffline:   0,
	}
	for i := range list.Items {
		a := list.Items[i].Status.Availability
		if a == "" {
			a = fleetv1alpha1.ClusterAvailabilityUnknown
		}
		counts[a]++
	}
	for a, n := range counts {
		ch <- prometheus.MustNewConstMetric(clustersDesc, prometheus.GaugeValue, float64(n), string(a))
	}
}

// metricsRunnable registers the collector while the manager runs and removes
// it when it stops, so several hubs in one process (tests, dev) take turns
// rather than fail on the shared registry.
func metricsRunnable(reader client.Reader) manager.Runnable {
	return manager.RunnableFunc(func(ctx context.Context) error {
		c := collector{reader: reader}
		if err := metrics.Registry.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
				return nil // another hub in this process reports the gauge
			}
			return err
		}
		<-ctx.Done()
		metrics.Registry.Unregister(c)
		return nil
	})
}
