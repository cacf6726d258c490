package cluster

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// A steady, available cluster whose agent renews its Lease every few seconds
// must cost no status write until the heartbeat resolution has passed.
func TestNewStatusWritesHeartbeatsCoarsely(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	resolution := time.Minute
	cluster := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "edge-1", Generation: 3}}
	cluster.Status.KubernetesVersion = "v1.36.3" // the agent's, kept as is

	writes := 0
	for i := 0; i <= 60; i++ { // one renewal every 5 s for 5 minutes
		now := start.Add(time.Duration(i) * 5 * time.Second).Add(300 * time.Millisecond)
		hb := &heartbeat{Heartbeat: liveness.Heartbeat{Seen: now.Add(-200 * time.Millisecond), Duration: 30 * time.Second}}
		status := newStatus(cluster, availability(hb, now, liveness.Grace{}), hb, now, resolution)
		if !equality.Semantic.DeepEqual(status, cluster.Status) {
			writes++
			cluster.Status = status
		}
	}
	// The first reconcile, then once a minute for 5 minutes.
	if writes != 6 {
		t.Errorf("%d status writes over 5 minutes of heartbeats, want 6", writes)
	}
	if cluster.Status.Availability != fleetv1alpha1.ClusterAvailabilityAvailable || cluster.Status.ObservedGeneration != 3 ||
		cluster.Status.KubernetesVersion != "v1.36.3" {
		t.Errorf("status = %+v", cluster.Status)
	}
	if got, want := cluster.Status.LastHeartbeatTime.Time, start.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("lastHeartbeatTime = %s, want %s", got, want)
	}
	ready := meta.FindStatusCondition(cluster.Status.Conditions, fleetv1alpha1.ConditionReady)
	if !ready.LastTransitionTime.Time.Equal(start) || ready.ObservedGeneration != 3 {
		t.Errorf("Ready = %+v, want it to have turned True at the first reconcile", ready)
	}
}

func TestNewStatusRecordsTheLastHeartbeatWhenGoingOffline(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	renew := now.Add(-10 * time.Second)
	cluster := &fleetv1alpha1.Cluster{}
	hb := &heartbeat{Heartbeat: liveness.Heartbeat{Seen: renew, Duration: 30 * time.Second}}
	cluster.Status = newStatus(cluster, availability(hb, now, liveness.Grace{}), hb, now, time.Hour)

	// Offline 50 s later: lastHeartbeatTime moves to the exact last renewal even
	// though the resolution (an hour) has not passed.
	later := now.Add(50 * time.Second)
	renew2 := now.Add(5 * time.Second)
	hb = &heartbeat{Heartbeat: liveness.Heartbeat{Seen: renew2, Duration: 30 * time.Second}}
	status := newStatus(cluster, availability(hb, later, liveness.Grace{}), hb, later, time.Hour)
	if status.Availability != fleetv1alpha1.ClusterAvailabilityOffline || !status.LastHeartbeatTime.Time.Equal(renew2) {
		t.Fatalf("status = %s, lastHeartbeatTime %s; want Offline, %s", status.Availability, status.LastHeartbeatTime, renew2)
	}
	offline := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionOffline)
	if offline.Status != metav1.ConditionTrue || !offline.LastTransitionTime.Time.Equal(later) {
		t.Errorf("Offline = %+v", offline)
	}

	// Still offline a minute later: nothing changes, not even the message's age.
	cluster.Status = status
	evenLater := later.Add(time.Minute)
	if again := newStatus(cluster, availability(hb, evenLater, liveness.Grace{}), hb, evenLater, time.Hour); !equality.Semantic.DeepEqual(again, status) {
		t.Errorf("a second reconcile while offline changed the status:\n%+v\n%+v", again, status)
	}
}

func TestNewStatusWithoutLeaseKeepsTheLastHeartbeat(t *testing.T) {
	last := metav1.NewTime(time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC))
	cluster := &fleetv1alpha1.Cluster{Status: fleetv1alpha1.ClusterStatus{LastHeartbeatTime: &last}}
	status := newStatus(cluster, availability(nil, last.Add(time.Hour), liveness.Grace{}), nil, last.Add(time.Hour), time.Minute)
	if status.Availability != fleetv1alpha1.ClusterAvailabilityUnknown || !status.LastHeartbeatTime.Equal(&last) {
		t.Errorf("status = %+v", status)
	}
}
