package cluster_test

import (
	"testing"
	"time"

	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/cluster"
	"github.com/flotilla-dev/flotilla/internal/liveness"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// A member whose clock runs two minutes behind the hub's (no NTP on an edge
// cluster), renewing its Lease every few seconds with a grace of one minute:
// the hub that runs sees each renewal as it comes and keeps the cluster
// Available. A new hub process (a restart, a new leader) dated the first
// renewal it saw by the renewTime the agent wrote, two minutes old by its
// clock, and wrote the cluster Offline until the next renewal: its Rollout
// counted the cluster offline (failed at once under CountAsFailure, a relapse
// and a bake reset otherwise) on a handover alone. The hub records how far
// the agent's clock runs behind its own, and the next hub process dates that
// first renewal by it.
func TestAMemberClockBehindDoesNotGoOfflineAtAHubRestart(t *testing.T) {
	ctx := testContext(t)
	admin := adminClient(t)
	const name = "restart-clock-1"
	agent := joinCluster(ctx, t, membership.JoinOptions{Name: name})
	const grace, behind = time.Minute, 2 * time.Minute
	clock := clocktesting.NewFakePassiveClock(time.Now())
	newHub := func() *cluster.Reconciler {
		return &cluster.Reconciler{Client: admin, LiveReader: admin, Recorder: events.NewFakeRecorder(100), Clock: clock,
			HeartbeatStatusResolution: liveness.DefaultHeartbeatStatusResolution}
	}
	req := ctrl.Request{NamespacedName: client.ObjectKey{Name: name}}
	look := func(r *cluster.Reconciler, what string) fleetv1alpha1.ClusterAvailability {
		t.Helper()
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		c := &fleetv1alpha1.Cluster{}
		if err := admin.Get(ctx, req.NamespacedName, c); err != nil {
			t.Fatal(err)
		}
		return c.Status.Availability
	}
	// The agent renews "now" by its own clock.
	renew := func() { agent.renewAt(ctx, clock.Now().Add(-behind), grace) }

	first := newHub()
	renew()
	look(first, "the first renewal")
	for i := range 3 {
		clock.SetTime(clock.Now().Add(10 * time.Second))
		renew()
		if got := look(first, "a renewal"); got != fleetv1alpha1.ClusterAvailabilityAvailable {
			t.Fatalf("renewal %d seen by the running hub: %s, want Available", i+1, got)
		}
	}

	c := &fleetv1alpha1.Cluster{}
	if err := admin.Get(ctx, req.NamespacedName, c); err != nil {
		t.Fatal(err)
	}
	if got := c.Status.AgentClockOffsetSeconds; got != int64(behind/time.Second) {
		t.Errorf("agentClockOffsetSeconds = %d, want %d", got, int64(behind/time.Second))
	}

	// The hub restarts a few seconds after the agent's last renewal.
	clock.SetTime(clock.Now().Add(3 * time.Second))
	if got := look(newHub(), "the restarted hub's first look"); got != fleetv1alpha1.ClusterAvailabilityAvailable {
		t.Errorf("a renewal 3s ago, by a member clock %s behind, seen first by a restarted hub: %s, want Available", behind, got)
	}

	// An agent that stopped while the hub was down still reads Offline at
	// the restart.
	clock.SetTime(clock.Now().Add(2 * grace))
	if got := look(newHub(), "a hub restarted after the agent stopped"); got != fleetv1alpha1.ClusterAvailabilityOffline {
		t.Errorf("no renewal for %s, seen first by a restarted hub: %s, want Offline", 2*grace, got)
	}
}
