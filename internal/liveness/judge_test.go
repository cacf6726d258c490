package liveness

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		hb          *Heartbeat
		grace       Grace
		want        fleetv1alpha1.ClusterAvailability
		wantReason  string
		wantRequeue time.Duration
		wantMessage string
	}{
		{name: "no lease", hb: nil,
			want: fleetv1alpha1.ClusterAvailabilityUnknown, wantReason: fleetv1alpha1.ReasonNeverConnected, wantMessage: "does not exist"},
		{name: "lease never renewed", hb: &Heartbeat{Duration: time.Minute},
			want: fleetv1alpha1.ClusterAvailabilityUnknown, wantReason: fleetv1alpha1.ReasonNeverConnected, wantMessage: "not heartbeated"},
		{name: "fresh heartbeat", hb: &Heartbeat{Seen: now.Add(-10 * time.Second), Duration: 180 * time.Second},
			want: fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: 170 * time.Second},
		{name: "renewed just now", hb: &Heartbeat{Seen: now, Duration: 2 * time.Second},
			want: fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: 2 * time.Second},
		{name: "expires exactly now", hb: &Heartbeat{Seen: now.Add(-time.Minute), Duration: time.Minute},
			want: fleetv1alpha1.ClusterAvailabilityOffline, wantReason: fleetv1alpha1.ReasonHeartbeatMissed, wantMessage: "no heartbeat since 2026-11-21T11:59:00Z (grace 1m0s)"},
		{name: "missed", hb: &Heartbeat{Seen: now.Add(-200 * time.Second), Duration: 180 * time.Second},
			want: fleetv1alpha1.ClusterAvailabilityOffline, wantReason: fleetv1alpha1.ReasonHeartbeatMissed,
			wantMessage: "no heartbeat since 2026-11-21T11:56:40Z (grace 3m0s)"},
		{name: "override shorter than the lease", hb: &Heartbeat{Seen: now.Add(-40 * time.Second), Duration: 180 * time.Second}, grace: Grace{Override: 30 * time.Second},
			want: fleetv1alpha1.ClusterAvailabilityOffline, wantReason: fleetv1alpha1.ReasonHeartbeatMissed, wantMessage: "grace 30s"},
		{name: "override longer than the lease", hb: &Heartbeat{Seen: now.Add(-40 * time.Second), Duration: 20 * time.Second}, grace: Grace{Override: time.Minute, AgentMin: 2 * time.Minute},
			want: fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: 20 * time.Second},
		{name: "no lease duration: default grace", hb: &Heartbeat{Seen: now.Add(-170 * time.Second)},
			want: fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: 10 * time.Second},
		{name: "an agent cannot ask for more than the maximum grace", hb: &Heartbeat{Seen: now.Add(-MaxAgentGrace), Duration: 100 * 365 * 24 * time.Hour},
			want: fleetv1alpha1.ClusterAvailabilityOffline, wantReason: fleetv1alpha1.ReasonHeartbeatMissed, wantMessage: "grace 1h0m0s"},
		{name: "the hub's override is not bounded", hb: &Heartbeat{Seen: now.Add(-MaxAgentGrace), Duration: time.Minute}, grace: Grace{Override: 2 * MaxAgentGrace},
			want: fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: MaxAgentGrace},
		{name: "an agent asking for less than the hub's least gets the least", hb: &Heartbeat{Seen: now.Add(-5 * time.Second), Duration: time.Second},
			grace: Grace{AgentMin: 10 * time.Second},
			want:  fleetv1alpha1.ClusterAvailabilityAvailable, wantReason: fleetv1alpha1.ReasonHeartbeating, wantRequeue: 5 * time.Second,
			wantMessage: "grace 10s (it asks for 1s, under the hub's least for an agent)"},
		{name: "an agent asking for more than the least keeps its own", hb: &Heartbeat{Seen: now.Add(-25 * time.Second), Duration: 20 * time.Second},
			grace: Grace{AgentMin: 10 * time.Second},
			want:  fleetv1alpha1.ClusterAvailabilityOffline, wantReason: fleetv1alpha1.ReasonHeartbeatMissed, wantMessage: "grace 20s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := Judge(tt.hb, now, tt.grace)
			if j.Availability != tt.want || j.RequeueAfter != tt.wantRequeue {
				t.Errorf("Judge = %s, requeue %s; want %s, requeue %s", j.Availability, j.RequeueAfter, tt.want, tt.wantRequeue)
			}
			checkConditions(t, j, tt.wantReason)
			ready := meta.FindStatusCondition(j.Conditions, fleetv1alpha1.ConditionReady)
			if !strings.Contains(ready.Message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", ready.Message, tt.wantMessage)
			}
		})
	}
}

// checkConditions checks Ready and Available agree with availability, Offline
// is their opposite, and all carry reason.
func checkConditions(t *testing.T, j Judgement, reason string) {
	t.Helper()
	want := map[fleetv1alpha1.ClusterAvailability][3]metav1.ConditionStatus{
		fleetv1alpha1.ClusterAvailabilityUnknown:   {metav1.ConditionUnknown, metav1.ConditionUnknown, metav1.ConditionUnknown},
		fleetv1alpha1.ClusterAvailabilityAvailable: {metav1.ConditionTrue, metav1.ConditionTrue, metav1.ConditionFalse},
		fleetv1alpha1.ClusterAvailabilityOffline:   {metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue},
	}[j.Availability]
	for i, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionAvailable, fleetv1alpha1.ConditionOffline} {
		c := meta.FindStatusCondition(j.Conditions, typ)
		if c == nil {
			t.Fatalf("no %s condition in %+v", typ, j.Conditions)
		}
		if c.Status != want[i] || c.Reason != reason {
			t.Errorf("%s = %s/%s, want %s/%s", typ, c.Status, c.Reason, want[i], reason)
		}
	}
}

func TestWithoutHeartbeat(t *testing.T) {
	j := WithoutHeartbeat()
	if j.Availability != fleetv1alpha1.ClusterAvailabilityAvailable || j.RequeueAfter != 0 {
		t.Errorf("got %s, requeue %s", j.Availability, j.RequeueAfter)
	}
	checkConditions(t, j, fleetv1alpha1.ReasonHeartbeatNotRequired)
}
