package cluster

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
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
		{name: "empty values are reported values", annotations: map[string]string{
			fleetv1alpha1.AnnotationKubernetesVersion: "",
			fleetv1alpha1.AnnotationNodeCount:         "0",
		}, want: facts{KubernetesVersion: ptr.To(""), NodeCount: ptr.To[int32](0)}},
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
		})
	}
}

// The facts on the Lease replace the status fields; facts not on the Lease
// (an older agent, which writes them itself) leave them as they are.
func TestNewStatusCopiesFactsFromTheLease(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	cluster := &fleetv1alpha1.Cluster{Status: fleetv1alpha1.ClusterStatus{KubernetesVersion: "v1.35.0", AgentVersion: "old", NodeCount: 1}}

	hb := &heartbeat{RenewTime: now, Duration: time.Minute}
	status := newStatus(cluster, availability(hb, now, 0), hb, now, time.Minute)
	if status.KubernetesVersion != "v1.35.0" || status.AgentVersion != "old" || status.NodeCount != 1 {
		t.Errorf("without facts on the Lease the status changed: %+v", status)
	}

	hb.Facts = facts{KubernetesVersion: ptr.To("v1.36.3"), AgentVersion: ptr.To("v0.9.0"), NodeCount: ptr.To[int32](5)}
	status = newStatus(cluster, availability(hb, now, 0), hb, now, time.Minute)
	if status.KubernetesVersion != "v1.36.3" || status.AgentVersion != "v0.9.0" || status.NodeCount != 5 {
		t.Errorf("facts on the Lease not copied: %+v", status)
	}
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
