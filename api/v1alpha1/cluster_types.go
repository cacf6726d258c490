package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeliveryMode says how rendered manifests reach a member cluster.
// +kubebuilder:validation:Enum=Agent;Git
type DeliveryMode string

const (
	// DeliveryAgent: the Flotilla agent pulls Works from the hub and applies them.
	DeliveryAgent DeliveryMode = "Agent"
	// DeliveryGit: the hub commits rendered Works to a git repository that Argo CD
	// or Flux syncs to the member.
	DeliveryGit DeliveryMode = "Git"
)

// GitHealthSource says where a git-delivered cluster's health comes from.
// +kubebuilder:validation:Enum=Agent;None
type GitHealthSource string

const (
	// GitHealthAgent: an agent in report-only mode reports health and drift.
	GitHealthAgent GitHealthSource = "Agent"
	// GitHealthNone: no health source; a cluster counts as healthy once its commit is pushed.
	GitHealthNone GitHealthSource = "None"
)

// ClusterAvailability is the hub's summary of a cluster's connectivity.
// +kubebuilder:validation:Enum=Unknown;Available;Offline
type ClusterAvailability string

const (
	// ClusterAvailabilityUnknown: the cluster has never reported.
	ClusterAvailabilityUnknown ClusterAvailability = "Unknown"
	// ClusterAvailabilityAvailable: heartbeats arrive in time.
	ClusterAvailabilityAvailable ClusterAvailability = "Available"
	// ClusterAvailabilityOffline: heartbeats were missed past the grace period.
	ClusterAvailabilityOffline ClusterAvailability = "Offline"
)

// ClusterSpec is the desired state of a member cluster. Its labels (env,
// region, tier, team, …) live in metadata.labels and drive every selector.
type ClusterSpec struct {
	// delivery says how manifests reach the cluster.
	// +optional
	// +kubebuilder:default={mode: Agent}
	Delivery Delivery `json:"delivery,omitempty"`
}

// Delivery says how rendered manifests reach a member cluster.
// +kubebuilder:validation:XValidation:rule="self.mode == 'Git' ? has(self.git) : !has(self.git)",message="git is required when mode is Git and not allowed otherwise"
type Delivery struct {
	// mode is Agent (pull agent, the default) or Git (the hub commits the
	// cluster's Works to a repository, which a GitOps tool syncs to it).
	// +optional
	// +kubebuilder:default=Agent
	Mode DeliveryMode `json:"mode,omitempty"`

	// git is where the hub commits this cluster's manifests; required when mode is Git.
	// +optional
	Git *GitDelivery `json:"git,omitempty"`
}

// GitDelivery is a location in a git repository.
type GitDelivery struct {
	// url of the repository: https://, http://, ssh://, git:// or file://,
	// without credentials (an ssh:// user name is fine).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?|ssh|file|git)://`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*:[^/@]*@') && !self.matches('^(?i)https?://[^/]*@')",message="url must not hold credentials (user:password@, or a token as the http(s) user): teams may read Clusters; put them in the Secret of secretRef"
	URL string `json:"url"`

	// branch to commit to.
	// +optional
	// +kubebuilder:default=main
	// +kubebuilder:validation:MaxLength=255
	Branch string `json:"branch,omitempty"`

	// path inside the repository; defaults to clusters/<cluster name>.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.contains('..')",message="path must be relative and must not contain '..'"
	Path string `json:"path,omitempty"`

	// secretRef holds credentials: keys username with password or token
	// (HTTP(S)), or identity with known_hosts (SSH). Never copied to status,
	// Events or logs.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// healthSource says who reports health: Agent (an agent in report-only
	// mode, the default) or None (healthy once pushed).
	// +optional
	// +kubebuilder:default=Agent
	HealthSource GitHealthSource `json:"healthSource,omitempty"`
}

// ClusterStatus is what the hub and the cluster's agent observe.
type ClusterStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (joined, heartbeating in the right mode, and with
	// git delivery the last push succeeded), Reconciling (the agent has not
	// heartbeated yet, or a push is pending or retried), Stalled (a person
	// must act: HeartbeatMissed, AgentModeMismatch, GitAuthFailed,
	// SecretNotFound), Available, Offline, FactsValid, and Delivered (git
	// delivery writes it).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// availability summarises connectivity: Unknown, Available or Offline.
	// +optional
	Availability ClusterAvailability `json:"availability,omitempty"`

	// lastHeartbeatTime is the last renewal of the agent's Lease seen by the hub.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastHeartbeatTime *metav1.Time `json:"lastHeartbeatTime,omitempty"`

	// agentClockOffsetSeconds is how far the agent's clock ran behind the
	// hub's at the heartbeat lastHeartbeatTime records: when the hub saw
	// that renewal minus the renewTime the agent wrote, in whole seconds
	// (negative: the agent's clock runs ahead). A hub process that has seen
	// no renewal of the Lease yet (after a restart, or as a new leader)
	// dates the first one it sees by renewTime plus this, never later than
	// its own clock.
	// +optional
	AgentClockOffsetSeconds int64 `json:"agentClockOffsetSeconds,omitempty"`

	// kubernetesVersion of the member's API server, e.g. v1.36.3.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`

	// agentVersion of the Flotilla agent running on the member.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AgentVersion string `json:"agentVersion,omitempty"`

	// nodeCount is the number of Nodes on the member.
	// +optional
	// +kubebuilder:validation:Minimum=0
	NodeCount int32 `json:"nodeCount,omitempty"`

	// git reports the last push for git-delivered clusters.
	// +optional
	Git *GitDeliveryStatus `json:"git,omitempty"`
}

// GitDeliveryStatus reports the last push to a git-delivered cluster's repository.
type GitDeliveryStatus struct {
	// lastCommit is the SHA of the last commit pushed.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastCommit string `json:"lastCommit,omitempty"`

	// lastPushTime is when that commit was pushed.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`
}

// Cluster is a member cluster of the fleet. The platform team creates it with
// `flotilla join`; its agent (or the git delivery) reports status. The hub
// keeps the cluster's Works in the namespace flotilla-cluster-<name>, so names
// are DNS labels of at most 46 characters.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=fcl,categories=flotilla
// +kubebuilder:printcolumn:name="Delivery",type=string,JSONPath=`.spec.delivery.mode`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.availability`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.kubernetesVersion`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodeCount`,priority=1
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.agentVersion`,priority=1
// +kubebuilder:printcolumn:name="Heartbeat",type=date,JSONPath=`.status.lastHeartbeatTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 46 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 46 characters (it names the namespace flotilla-cluster-<name>)"
type Cluster struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata; labels drive fleet selection.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the cluster.
	// +optional
	// +kubebuilder:default={}
	Spec ClusterSpec `json:"spec,omitempty"`

	// status is observed by the hub and the agent.
	// +optional
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterList is a list of Clusters.
// +kubebuilder:object:root=true
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Clusters.
	Items []Cluster `json:"items"`
}
