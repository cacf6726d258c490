package hub

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// What runs where when several hub replicas elect a leader (Options.LeaderElect):
//
//   - every replica: its cache (warm for a quick takeover), /healthz and
//     /readyz (a standby is ready: readiness is not leadership), /metrics
//     (metrics.Server), controller-runtime's own metrics, including
//     leader_election_master_status; the removal of its own temporary
//     directory of git clones when it stops (gitdelivery's);
//   - the leader only: every controller (they write), the gauges computed
//     from the cache (the fleet's and the Promises', through leaderOnly, so
//     that sums over replicas stay right), the counters the controllers
//     increment, and the leadership log below.
//
// TestHubReplicas in test/e2e checks it on two `flotilla hub` processes.

// leaderOnly reports its collector's metrics only once this replica leads
// (elected is the manager's Elected()); a standby reports none of them.
type leaderOnly struct {
	prometheus.Collector
	elected <-chan struct{}
}

// Collect implements prometheus.Collector.
func (c leaderOnly) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
		c.Collector.Collect(ch)
	default:
	}
}

// leading logs when this replica starts leading and how long it waited for
// it; it runs on the leader only (it needs leader election, like every
// Runnable that does not say otherwise).
type leading struct {
	log     logr.Logger
	started time.Time
}

// Start implements manager.Runnable.
func (l leading) Start(ctx context.Context) error {
	l.log.Info("leading: this replica runs the controllers", "lease", LeaderElectionID, "waited", time.Since(l.started).Round(time.Millisecond).String())
	<-ctx.Done()
	return nil
}
