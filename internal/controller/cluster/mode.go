package cluster

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// agentModeMismatch says what is wrong when the agent's mode does not fit
// the cluster's delivery: "" when it fits, or when the agent did not say
// (an older agent). A git-delivered cluster's agent may only report, else it
// and the GitOps tool would both write the same objects; an Agent-delivered
// cluster's agent must apply, else nothing reaches the member.
func agentModeMismatch(delivery fleetv1alpha1.Delivery, mode *string) string {
	if mode == nil {
		return ""
	}
	want := fleetv1alpha1.AgentModeApply
	if delivery.Mode == fleetv1alpha1.DeliveryGit {
		want = fleetv1alpha1.AgentModeReportOnly
	}
	switch {
	case *mode == want:
		return ""
	case want == fleetv1alpha1.AgentModeReportOnly:
		return "the agent applies Works itself, but this cluster is delivered through git, where the GitOps tool applies them: " +
			"install the agent again from `flotilla join` (report-only for git clusters)"
	default:
		return fmt.Sprintf("the agent only reports (mode %s), but this cluster's delivery is Agent, so nothing is applied: "+
			"install the agent again from `flotilla join`", *mode)
	}
}

// withModeMismatch turns an Available judgement's Ready condition False
// with the mismatch. Availability stays: the agent heartbeats, and the
// cluster's Works say themselves what is (not) applied.
func withModeMismatch(j liveness.Judgement, msg string) liveness.Judgement {
	out := j
	out.Conditions = nil
	for _, c := range j.Conditions {
		if c.Type == fleetv1alpha1.ConditionReady {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, fleetv1alpha1.ReasonAgentModeMismatch, msg
		}
		out.Conditions = append(out.Conditions, c)
	}
	return out
}
