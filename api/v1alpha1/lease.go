package v1alpha1

// Annotations the agent writes on its Lease, in the same request that renews
// it: the member's facts, which the hub's Cluster controller copies into the
// Cluster's status. The agent has rights only in its cluster's namespace, so
// it cannot write the cluster-scoped Cluster itself.
const (
	// AnnotationKubernetesVersion is the member's Kubernetes version (e.g. v1.36.2).
	AnnotationKubernetesVersion = Group + "/kubernetes-version"
	// AnnotationNodeCount is the number of Nodes on the member, in decimal.
	AnnotationNodeCount = Group + "/node-count"
	// AnnotationAgentVersion is the version of the agent running on the member.
	AnnotationAgentVersion = Group + "/agent-version"
	// AnnotationAgentMode is how the agent delivers: AgentModeApply or
	// AgentModeReportOnly. The hub checks it against the Cluster's delivery.
	AnnotationAgentMode = Group + "/agent-mode"
)

// Agent modes (AnnotationAgentMode).
const (
	// AgentModeApply: the agent applies Works (delivery Agent).
	AgentModeApply = "Apply"
	// AgentModeReportOnly: the agent only reports health and drift of what
	// a GitOps tool applied (delivery Git, healthSource Agent).
	AgentModeReportOnly = "ReportOnly"
)
