package cluster

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

func TestFactsFromAnnotations(t *testing.T) {
	long := "v" + strings.Repeat("1", maxFactLength)
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        facts
	}{
		{name: "none", annotations: nil, want: facts{}},
		{name: "all", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "v1.36.3",
			fleetv1alpha1.AnnotationAgentVersion:      "v0.9.0",
			fleetv1alpha1.AnnotationNodeCount:         "3",
			fleetv1alpha1.AnnotationAgentMode:         fleetv1alpha1.AgentModeReportOnly,
		}, want: facts{KubernetesVersion: ptr.To("v1.36.3"), AgentVersion: ptr.To("v0.9.0"), NodeCount: ptr.To[int32](3),
			AgentMode: ptr.To(fleetv1alpha1.AgentModeReportOnly)}},
		{name: "versions with pre-release and build metadata", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "v1.30.2-eks-1a2b3c",
			fleetv1alpha1.AnnotationAgentVersion:      "dev+0123456789ab",
			fleetv1alpha1.AnnotationNodeCount:         "0",
		}, want: facts{KubernetesVersion: ptr.To("v1.30.2-eks-1a2b3c"), AgentVersion: ptr.To("dev+0123456789ab"), NodeCount: ptr.To[int32](0)}},
		{name: "a version without the v", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "1.31.1+k3s1",
		}, want: facts{KubernetesVersion: ptr.To("1.31.1+k3s1")}},
		{name: "empty values are invalid", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "",
			fleetv1alpha1.AnnotationAgentVersion:      "",
		}, want: facts{}},
		{name: "a newline is never copied", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "v1.36.3\nReady: True",
			fleetv1alpha1.AnnotationAgentVersion:      "v0.9.0\r",
		}, want: facts{}},
		{name: "not a semantic version", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "v1.36",
			fleetv1alpha1.AnnotationAgentVersion:      "v0.9.0 (patched)",
		}, want: facts{}},
		{name: "control characters beyond ASCII", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "v1.36.3\u0085",
			fleetv1alpha1.AnnotationAgentVersion:      "v0.9.0\u0000",
		}, want: facts{}},
		{name: "a node count beyond the bound", annotations: map[string]string{
			fleetv1alpha1.AnnotationNodeCount: strconv.Itoa(MaxNodeCount + 1),
		}, want: facts{}},
		{name: "the bound itself", annotations: map[string]string{
			fleetv1alpha1.AnnotationNodeCount: strconv.Itoa(MaxNodeCount),
		}, want: facts{NodeCount: ptr.To[int32](MaxNodeCount)}},
		{name: "invalid values are ignored", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: long,
			fleetv1alpha1.AnnotationAgentVersion:      long,
			fleetv1alpha1.AnnotationNodeCount:         "-1",
			fleetv1alpha1.AnnotationAgentMode:         "Sometimes",
		}, want: facts{}},
		{name: "a node count beyond int32 is ignored", annotations: map[string]string{
			fleetv1alpha1.AnnotationNodeCount: "4294967296",
		}, want: facts{}},
		{name: "a node count that is not a number is ignored", annotations: map[string]string{
			fleetv1alpha1.AnnotationNodeCount: "three",
		}, want: facts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := factsFromAnnotations(tc.annotations)
			if !equalPtr(got.KubernetesVersion, tc.want.KubernetesVersion) || !equalPtr(got.AgentVersion, tc.want.AgentVersion) ||
				!equalPtr(got.NodeCount, tc.want.NodeCount) || !equalPtr(got.AgentMode, tc.want.AgentMode) {
				t.Errorf("factsFromAnnotations(%v) = %s, want %s", tc.annotations, show(got), show(tc.want))
			}
			// Every reported value that was dropped is said, once, on one line.
			dropped := len(tc.annotations) - count(got.KubernetesVersion, got.AgentVersion, got.AgentMode) - count(got.NodeCount)
			if len(got.Invalid) != dropped {
				t.Errorf("%d facts dropped, %d said: %q", dropped, len(got.Invalid), got.Invalid)
			}
			for _, msg := range got.Invalid {
				if strings.ContainsAny(msg, "\r\n\x00\u0085") {
					t.Errorf("the message %q carries a control character", msg)
				}
			}
		})
	}
}

// The facts on the Lease replace the status fields; facts not on the Lease
// (an older agent, which writes them itself) leave them as they are.
func TestNewStatusCopiesFactsFromTheLease(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	cluster := &fleetv1alpha1.Cluster{Status: fleetv1alpha1.ClusterStatus{KubernetesVersion: "v1.35.0", AgentVersion: "old", NodeCount: 1}}

	hb := &heartbeat{Heartbeat: liveness.Heartbeat{Seen: now, Duration: time.Minute}}
	status := newStatus(cluster, availability(hb, now, liveness.Grace{}), hb, now, time.Minute)
	if status.KubernetesVersion != "v1.35.0" || status.AgentVersion != "old" || status.NodeCount != 1 {
		t.Errorf("without facts on the Lease the status changed: %+v", status)
	}

	hb.Facts = facts{KubernetesVersion: ptr.To("v1.36.3"), AgentVersion: ptr.To("v0.9.0"), NodeCount: ptr.To[int32](5)}
	status = newStatus(cluster, availability(hb, now, liveness.Grace{}), hb, now, time.Minute)
	if status.KubernetesVersion != "v1.36.3" || status.AgentVersion != "v0.9.0" || status.NodeCount != 5 {
		t.Errorf("facts on the Lease not copied: %+v", status)
	}
	if c := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionFactsValid); c == nil || c.Status != metav1.ConditionTrue ||
		c.Reason != fleetv1alpha1.ReasonFactsAccepted {
		t.Errorf("FactsValid = %+v", c)
	}

	// An invalid fact is dropped: the field keeps its value, FactsValid says why.
	hb.Facts = factsFromAnnotations(map[string]string{
		fleetv1alpha1.AnnotationKubernetesVersion: "v1.37.0\nAvailable",
		fleetv1alpha1.AnnotationNodeCount:         "7",
	})
	cluster.Status = status
	status = newStatus(cluster, availability(hb, now, liveness.Grace{}), hb, now, time.Minute)
	if status.KubernetesVersion != "v1.36.3" || status.NodeCount != 7 {
		t.Errorf("an invalid version reached the status, or a valid count did not: %+v", status)
	}
	c := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionFactsValid)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonInvalidFacts ||
		!strings.Contains(c.Message, `"v1.37.0\nAvailable"`) || strings.Contains(c.Message, "\n") {
		t.Errorf("FactsValid = %+v", c)
	}
}

func count[T any](ps ...*T) int {
	n := 0
	for _, p := range ps {
		if p != nil {
			n++
		}
	}
	return n
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func show(f facts) string {
	s := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	n := "<nil>"
	if f.NodeCount != nil {
		n = strconv.Itoa(int(*f.NodeCount))
	}
	return "{kubernetesVersion " + s(f.KubernetesVersion) + ", agentVersion " + s(f.AgentVersion) + ", nodeCount " + n +
		", agentMode " + s(f.AgentMode) + "}"
}
