package cluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// maxFactLength is the longest version string the Cluster status accepts
// (its CRD's maxLength); a longer one would make the whole status write fail.
const maxFactLength = 64

// MaxNodeCount bounds a reported node count: far above what one Kubernetes
// cluster supports (5,000 nodes), so only a lie exceeds it.
const MaxNodeCount = 100_000

// agentVersionPattern is what an agent version may contain: a version with
// build metadata (v0.9.0, dev+0123456789ab, v1.2.3-rc.1).
var agentVersionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)

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
	// Invalid says, one entry per annotation, which reported facts were
	// dropped and why; empty when all were valid.
	Invalid []string
}

// factsFromAnnotations reads the facts the agent put on its Lease (see
// fleetv1alpha1.AnnotationKubernetesVersion). The agent is not trusted to
// send valid values: an invalid one is dropped, never copied, and said in
// Invalid.
func factsFromAnnotations(annotations map[string]string) facts {
	var f facts
	invalid := func(key, value, why string) {
		f.Invalid = append(f.Invalid, fmt.Sprintf("%s %s: %s", key, quote(value), why))
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationKubernetesVersion]; ok {
		if why := checkKubernetesVersion(v); why != "" {
			invalid(fleetv1alpha1.AnnotationKubernetesVersion, v, why)
		} else {
			f.KubernetesVersion = &v
		}
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationAgentVersion]; ok {
		if why := checkAgentVersion(v); why != "" {
			invalid(fleetv1alpha1.AnnotationAgentVersion, v, why)
		} else {
			f.AgentVersion = &v
		}
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationAgentMode]; ok {
		if v == fleetv1alpha1.AgentModeApply || v == fleetv1alpha1.AgentModeReportOnly {
			f.AgentMode = &v
		} else {
			invalid(fleetv1alpha1.AnnotationAgentMode, v, "must be "+fleetv1alpha1.AgentModeApply+" or "+fleetv1alpha1.AgentModeReportOnly)
		}
	}
	if v, ok := annotations[fleetv1alpha1.AnnotationNodeCount]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err != nil || n < 0 || n > MaxNodeCount {
			invalid(fleetv1alpha1.AnnotationNodeCount, v, fmt.Sprintf("must be a decimal number from 0 to %d", MaxNodeCount))
		} else {
			n32 := int32(n)
			f.NodeCount = &n32
		}
	}
	return f
}

// checkKubernetesVersion returns why v is not a Kubernetes version (a
// semantic version, with or without a leading v: v1.36.3, v1.30.2-eks-1a2b,
// v1.31.1+k3s1); "" when it is one.
func checkKubernetesVersion(v string) string {
	if why := checkText(v); why != "" {
		return why
	}
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v")); err != nil {
		return "not a semantic version (like v1.36.3)"
	}
	return ""
}

// checkAgentVersion returns why v is not an agent version; "" when it is one.
func checkAgentVersion(v string) string {
	if why := checkText(v); why != "" {
		return why
	}
	if !agentVersionPattern.MatchString(v) {
		return "may only hold letters, digits and . _ + -"
	}
	return ""
}

// checkText returns why v cannot be a one-line status field.
func checkText(v string) string {
	switch {
	case v == "":
		return "empty"
	case len(v) > maxFactLength:
		return fmt.Sprintf("longer than %d characters", maxFactLength)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }):
		return "contains control characters"
	}
	return ""
}

// quote shows a value the agent sent, bounded and with control characters
// escaped, so it cannot forge lines in a message or a log.
func quote(v string) string {
	const show = maxFactLength
	if len(v) > show {
		return strconv.QuoteToASCII(v[:show]) + "…"
	}
	return strconv.QuoteToASCII(v)
}

// applyFacts copies the reported, valid facts into status.
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
