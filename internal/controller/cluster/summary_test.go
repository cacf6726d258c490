package cluster

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// The kstatus trio of a Cluster: Ready when joined, heartbeating in the
// right mode and (with git delivery) delivered; Reconciling while it gets
// there by itself; Stalled, with the reason, when a person must act.
func TestClusterSummaryConditions(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	alive := &heartbeat{Heartbeat: liveness.Heartbeat{Seen: now.Add(-time.Second), Duration: time.Minute}}
	dead := &heartbeat{Heartbeat: liveness.Heartbeat{Seen: now.Add(-time.Hour), Duration: time.Minute}}
	delivered := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: fleetv1alpha1.ConditionDelivered, Status: status, Reason: reason, Message: "m",
			LastTransitionTime: metav1.NewTime(now)}}
	}
	agent := fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryAgent}
	git := fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: "https://git.example.com/f.git"}}
	for _, tt := range []struct {
		name       string
		delivery   fleetv1alpha1.Delivery
		conditions []metav1.Condition
		j          liveness.Judgement
		// want is the status that is True (Ready, Reconciling or Stalled) and its reason.
		want, reason string
	}{
		{"agent heartbeating", agent, nil, availability(alive, now, liveness.Grace{}), fleetv1alpha1.ConditionReady, fleetv1alpha1.ReasonHeartbeating},
		{"agent not heartbeated yet", agent, nil, availability(&heartbeat{}, now, liveness.Grace{}), fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ReasonNeverConnected},
		{"agent offline", agent, nil, availability(dead, now, liveness.Grace{}), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonHeartbeatMissed},
		{"agent in the wrong mode", agent, nil, withModeMismatch(availability(alive, now, liveness.Grace{}), "wrong mode"), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonAgentModeMismatch},
		{"git, not pushed yet", git, nil, availability(alive, now, liveness.Grace{}), fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ReasonProgressing},
		{"git, pushed", git, delivered(metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed), availability(alive, now, liveness.Grace{}), fleetv1alpha1.ConditionReady, fleetv1alpha1.ReasonHeartbeating},
		{"git without agent, pushed", git, delivered(metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed), liveness.WithoutHeartbeat(), fleetv1alpha1.ConditionReady, fleetv1alpha1.ReasonHeartbeatNotRequired},
		{"git, unreachable", git, delivered(metav1.ConditionFalse, fleetv1alpha1.ReasonGitUnreachable), availability(alive, now, liveness.Grace{}), fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ReasonGitUnreachable},
		{"git, credentials refused", git, delivered(metav1.ConditionFalse, fleetv1alpha1.ReasonGitAuthFailed), availability(alive, now, liveness.Grace{}), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonGitAuthFailed},
		{"git, secret missing", git, delivered(metav1.ConditionFalse, fleetv1alpha1.ReasonSecretNotFound), liveness.WithoutHeartbeat(), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonSecretNotFound},
		{"git, path overlaps another cluster's", git, delivered(metav1.ConditionFalse, fleetv1alpha1.ReasonGitPathConflict), liveness.WithoutHeartbeat(), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonGitPathConflict},
		{"git, path is the repository's root", git, delivered(metav1.ConditionFalse, fleetv1alpha1.ReasonGitPathInvalid), liveness.WithoutHeartbeat(), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonGitPathInvalid},
		{"git, pushed, agent offline", git, delivered(metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed), availability(dead, now, liveness.Grace{}), fleetv1alpha1.ConditionStalled, fleetv1alpha1.ReasonHeartbeatMissed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: fleetv1alpha1.ClusterSpec{Delivery: tt.delivery},
				Status: fleetv1alpha1.ClusterStatus{Conditions: tt.conditions}}
			st := newStatus(c, tt.j, nil, now, time.Hour)
			for _, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ConditionStalled} {
				cond := meta.FindStatusCondition(st.Conditions, typ)
				if cond == nil || cond.ObservedGeneration != 2 {
					t.Fatalf("%s: %+v", typ, cond)
				}
				if got := cond.Status == metav1.ConditionTrue; got != (typ == tt.want) {
					t.Errorf("%s is %s (%s), want True only for %s", typ, cond.Status, cond.Reason, tt.want)
				}
			}
			if c := meta.FindStatusCondition(st.Conditions, tt.want); c.Reason != tt.reason {
				t.Errorf("%s reason %s, want %s", tt.want, c.Reason, tt.reason)
			}
			if d := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionDelivered); len(tt.conditions) > 0 && (d == nil || *d != tt.conditions[0]) {
				t.Errorf("git delivery's Delivered changed: %+v", d)
			}
		})
	}
}
