package hub

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A standby reports none of a leader-only collector's metrics; the leader
// reports them all. (The e2e TestHubReplicas checks the same on two
// `flotilla hub` processes, over HTTP.)
func TestLeaderOnlyCollector(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "flotilla_test_gauge", Help: "a gauge"})
	gauge.Set(3)
	elected := make(chan struct{})
	registry := prometheus.NewRegistry()
	if err := registry.Register(leaderOnly{Collector: gauge, elected: elected}); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(registry); err != nil || n != 0 {
		t.Errorf("standby: %d metrics (%v), want none", n, err)
	}
	close(elected)
	if err := testutil.GatherAndCompare(registry, strings.NewReader(`
# HELP flotilla_test_gauge a gauge
# TYPE flotilla_test_gauge gauge
flotilla_test_gauge 3
`)); err != nil {
		t.Errorf("leader: %v", err)
	}
}

func TestLeaderElectionTimings(t *testing.T) {
	for _, tc := range []struct {
		name                string
		opts                Options
		lease, renew, retry time.Duration
		err                 string
	}{
		{name: "defaults", lease: DefaultLeaseDuration, renew: DefaultRenewDeadline, retry: DefaultRetryPeriod},
		{name: "short, for tests", opts: Options{LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond},
			lease: 4 * time.Second, renew: 3 * time.Second, retry: 500 * time.Millisecond},
		{name: "lease only", opts: Options{LeaseDuration: 30 * time.Second}, lease: 30 * time.Second, renew: DefaultRenewDeadline, retry: DefaultRetryPeriod},
		{name: "lease not above renew", opts: Options{LeaseDuration: 5 * time.Second}, err: "must be longer than the renew deadline"},
		{name: "renew too close to retry", opts: Options{RenewDeadline: 2 * time.Second}, err: "1.2 × the retry period"},
		{name: "negative", opts: Options{RetryPeriod: -time.Second}, err: "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lease, renew, retry, err := tc.opts.leaderElectionTimings()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || lease != tc.lease || renew != tc.renew || retry != tc.retry {
				t.Errorf("got %s/%s/%s (%v), want %s/%s/%s", lease, renew, retry, err, tc.lease, tc.renew, tc.retry)
			}
		})
	}
}
