package cluster_test

import (
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// The attack: a hostile agent writes leaseDurationSeconds: 1 on its Lease
// and renews every 1.5 s, so its cluster flips Available and Offline
// about once a second; each flip re-plans every Rollout on the hub, counts
// the Fleets and reconciles the cluster's instances again. The hub gives an
// agent's own lease duration a floor (--min-agent-grace).
func TestAnAgentAskingForASecondOfGraceCannotFlipItsCluster(t *testing.T) {
	ctx := testContext(t)
	startHub(t, hub.Options{ClusterMinAgentGrace: 5 * time.Second})
	const name = "edge-flip"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	admin := adminClient(t)
	waitFor(ctx, t, admin, name, "Unknown/NeverConnected", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityUnknown, fleetv1alpha1.ReasonNeverConnected))
	agent.renew(ctx, time.Second)
	waitFor(ctx, t, admin, name, "Available", 5*time.Second, is(fleetv1alpha1.ClusterAvailabilityAvailable, fleetv1alpha1.ReasonHeartbeating))

	offline := 0
	last := fleetv1alpha1.ClusterAvailabilityAvailable
	nextRenewal := time.Now().Add(1500 * time.Millisecond)
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(nextRenewal) {
			agent.renew(ctx, time.Second)
			nextRenewal = time.Now().Add(1500 * time.Millisecond)
		}
		c := &fleetv1alpha1.Cluster{}
		if err := admin.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
			t.Fatal(err)
		}
		if c.Status.Availability != last && c.Status.Availability == fleetv1alpha1.ClusterAvailabilityOffline {
			offline++
		}
		last = c.Status.Availability
	}
	if offline > 0 {
		t.Errorf("the cluster went Offline %d times in 8 s of renewals every 1.5 s with a 1 s lease", offline)
	}
	// An agent that stops is still Offline after the floor.
	took := waitFor(ctx, t, admin, name, "Offline", 10*time.Second, is(fleetv1alpha1.ClusterAvailabilityOffline, fleetv1alpha1.ReasonHeartbeatMissed))
	t.Logf("Offline %s after the last renewal's poll, with a 5 s floor", took.Round(time.Millisecond))
}
