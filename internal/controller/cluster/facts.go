package cluster

import (
	"strconv"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// maxFactLength is the longest version string the Cluster status accepts
// (its CRD's maxLength); a longer one would make the whole status write fail.
const maxFactLength = 64

// facts are the member's facts as the agent reported them on its Lease. A
// nil field was not reported (an older agent, which writes the Cluster status
// itself) or not valid, and leaves the status field as it is.
type facts struct {
	KubernetesVersion *string
	AgentVersion      *string
	NodeCount         *int32
	// AgentMode is the agent's mode (fleetv1alpha1.AgentModeApply or
	// AgentModeReportOnly); not written to the status but checked against
	// the cluster's delivery.
	AgentMode *string
}

// factsFromAnnotations reads the facts the agent put on its Lease (see
// fleetv1alpha1.AnnotationKubernetesVersion). The agent is not trusted to
// send valid values: an invalid one is ignored rather than written.
func factsFromAnnotations(annotations map[string]string) facts {
	var f facts
	if v, ok := annotations[fleetv1alpha1.AnnotationKubernetesVersion]; ok && len(v) <= maxFactLength {
		f.KubernetesVersion = &v
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationAgentVersion]; ok && len(v) <= maxFactLength {
		f.AgentVersion = &v
	}
	if v := annotations[fleetv1alpha1.AnnotationAgentMode]; v == fleetv1alpha1.AgentModeApply || v == fleetv1alpha1.AgentModeReportOnly {
		f.AgentMode = &v
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationNodeCount]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			n32 := int32(n)
			f.NodeCount = &n32
		}
	}
	return f
}

// applyFacts copies the reported facts into status.
func applyFacts(status *fleetv1alpha1.ClusterStatus, f facts) {
	if f.KubernetesVersion != nil {
		status.KubernetesVersion = *f.KubernetesVersion
	}
	if f.AgentVersion != nil {
		status.AgentVersion = *f.AgentVersion
	}
	if f.NodeCount != nil {
		status.NodeCount = *f.NodeCount
	}
}
