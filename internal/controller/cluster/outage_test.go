package cluster_test

import (
	"context"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// hubOutage is long enough for client-go's reflector backoff (0.8 s doubling
// to 30 s, plus as much jitter) to reach tens of seconds.
const hubOutage = 30 * time.Second

// The hub's own API server is away for half a minute. When it returns, a
// cluster whose agent has not renewed yet goes Offline (the hub confirms
// that with a live read), and the agent's next heartbeat must bring it back
// within seconds. The hub learns of that heartbeat from its Lease watch
// only, so its caches must be back within seconds of the API server, not
// after the reflector's backoff (a cluster used to stay Offline for up to a
// minute after an outage, although its agent heartbeated).
//
// The Cluster cache comes back last (a starting API server answers requests
// for custom resources with 503, retry in 5 s), so the heartbeat may arrive
// while the cached Cluster is still the Available copy from before the
// outage, older than the hub's own Offline write: the controller must judge
// from the stored Cluster then (see controller.OwnWrites), or it finds
// nothing to write and the cluster stays Offline (it did in about half the
// runs, which looked like a silent Lease watch).
func TestAvailableSoonAfterTheHubsOutage(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	startHub(t, hub.Options{})
	const name = "outage-1"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	const grace = 3 * time.Second
	agent.renew(ctx, grace)
	waitFor(ctx, t, admin, name, "Available", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))

	hubCP.StopAPIServer()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = hubCP.StartAPIServer(context.Background())
		}
	})
	time.Sleep(hubOutage)
	if err := hubCP.StartAPIServer(ctx); err != nil {
		t.Fatalf("restarting the hub's API server: %v", err)
	}
	restarted = true
	back := time.Now()

	// No heartbeat since before the outage: Offline.
	waitFor(ctx, t, admin, name, "Offline after the outage", time.Minute, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	t.Logf("Offline %s after the hub's API server returned", time.Since(back).Round(time.Millisecond))

	// The agent heartbeats again.
	agent.renew(ctx, grace)
	took := waitFor(ctx, t, admin, name, "Available after a heartbeat", 10*time.Second,
		is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))
	t.Logf("Available %s after the first heartbeat since the outage (%s after the API server returned)",
		took.Round(time.Millisecond), time.Since(back).Round(time.Millisecond))
	if limit := 5 * time.Second; took > limit {
		t.Errorf("Available only %s after the heartbeat, want within %s", took, limit)
	}
}
