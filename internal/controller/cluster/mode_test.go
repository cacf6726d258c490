package cluster

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// An agent must apply on an Agent-delivered cluster and only report on a
// git-delivered one; an agent that does not say is not judged.
func TestAgentModeMismatch(t *testing.T) {
	agent := fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryAgent}
	git := fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{HealthSource: fleetv1alpha1.GitHealthAgent}}
	for _, tc := range []struct {
		name     string
		delivery fleetv1alpha1.Delivery
		mode     *string
		want     string // in the message; "" for a fit
	}{
		{"apply on an Agent cluster", agent, ptr.To(fleetv1alpha1.AgentModeApply), ""},
		{"the default delivery is Agent", fleetv1alpha1.Delivery{}, ptr.To(fleetv1alpha1.AgentModeApply), ""},
		{"report-only on a git cluster", git, ptr.To(fleetv1alpha1.AgentModeReportOnly), ""},
		{"an older agent says nothing", git, nil, ""},
		{"report-only on an Agent cluster", agent, ptr.To(fleetv1alpha1.AgentModeReportOnly), "nothing is applied"},
		{"apply on a git cluster", git, ptr.To(fleetv1alpha1.AgentModeApply), "delivered through git"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := agentModeMismatch(tc.delivery, tc.mode)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("agentModeMismatch = %q, want one saying %q", got, tc.want)
			}
		})
	}
}

// A mismatch turns Ready False and leaves the cluster Available.
func TestWithModeMismatch(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	j := availability(&heartbeat{Heartbeat: liveness.Heartbeat{Seen: now, Duration: time.Minute}}, now, liveness.Grace{})
	got := withModeMismatch(j, "wrong mode")
	if got.Availability != fleetv1alpha1.ClusterAvailabilityAvailable || got.RequeueAfter != j.RequeueAfter {
		t.Errorf("judgement %+v, want Available as before", got)
	}
	ready := meta.FindStatusCondition(got.Conditions, fleetv1alpha1.ConditionReady)
	available := meta.FindStatusCondition(got.Conditions, fleetv1alpha1.ConditionAvailable)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != fleetv1alpha1.ReasonAgentModeMismatch || ready.Message != "wrong mode" {
		t.Errorf("Ready = %+v, want False/AgentModeMismatch", ready)
	}
	if available == nil || available.Status != metav1.ConditionTrue || available.Reason != fleetv1alpha1.ReasonHeartbeating {
		t.Errorf("Available = %+v, want True/Heartbeating", available)
	}
	if r := meta.FindStatusCondition(j.Conditions, fleetv1alpha1.ConditionReady); r.Status != metav1.ConditionTrue {
		t.Errorf("the judgement given was changed: Ready %+v", r)
	}
}
