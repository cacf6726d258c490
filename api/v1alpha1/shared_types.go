package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// LocalObjectReference names an object of a known kind in a known scope.
type LocalObjectReference struct {
	// name of the referent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SecretReference names a Secret on the hub.
type SecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the Secret; defaults to the platform namespace flotilla-system.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// ClusterSelector picks member clusters. Every term that is set must match
// (they are ANDed); an empty selector matches every cluster in scope.
type ClusterSelector struct {
	// names lists clusters by name.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	Names []string `json:"names,omitempty"`

	// fleets lists Fleets; a cluster must be a member of at least one.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	Fleets []string `json:"fleets,omitempty"`

	// selector matches Cluster labels.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0))",message="matchExpressions: each operator is In or NotIn, with values, or Exists or DoesNotExist, without"
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ResourceSelector matches rendered or live Kubernetes objects. Empty fields match anything.
type ResourceSelector struct {
	// group of the object; "" is the core group, "*" any group.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`

	// kind of the object, e.g. Deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// namespace of the object; empty matches any namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the object; empty matches any name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
}

// InstanceReference names an instance of a Promise (the generated kind).
type InstanceReference struct {
	// namespace of the instance (a team namespace).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the instance.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Manifest is one complete Kubernetes object (apiVersion, kind, metadata, …).
// The API server checks apiVersion, kind and metadata; the rest is kept as written.
// +kubebuilder:validation:XEmbeddedResource
// +kubebuilder:pruning:PreserveUnknownFields
type Manifest struct {
	// RawExtension holds the object's JSON; its methods make Manifest (un)marshal as the bare object.
	runtime.RawExtension `json:",inline"`
}

// DriftPolicy says what the agent does when a managed field drifts.
// +kubebuilder:validation:Enum=Correct;Report
type DriftPolicy string

const (
	// DriftPolicyCorrect re-applies the desired state, counting each correction.
	DriftPolicyCorrect DriftPolicy = "Correct"
	// DriftPolicyReport only reports drift and never touches the object.
	DriftPolicyReport DriftPolicy = "Report"
)

// UpdateMode says how a change moves across the fleet.
// +kubebuilder:validation:Enum=Progressive;Immediate;Deadline
type UpdateMode string

const (
	// UpdateModeProgressive moves through the strategy's waves.
	UpdateModeProgressive UpdateMode = "Progressive"
	// UpdateModeImmediate is the emergency lane: every target at once under the
	// strategy's immediate concurrency limit and failure budget, with a reason.
	UpdateModeImmediate UpdateMode = "Immediate"
	// UpdateModeDeadline lets instance owners adopt until the deadline, then
	// forces the rest through the strategy.
	UpdateModeDeadline UpdateMode = "Deadline"
)

// UpdatePolicy chooses the update mode of a change.
// +kubebuilder:validation:XValidation:rule="self.mode == 'Deadline' ? has(self.deadline) : !has(self.deadline)",message="deadline is required when mode is Deadline and not allowed otherwise"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Immediate' || (has(self.reason) && size(self.reason.trim()) > 0)",message="reason is required when mode is Immediate, and must say why, not only spaces"
type UpdatePolicy struct {
	// mode is Progressive (waves, the default), Immediate (emergency lane) or
	// Deadline (owners adopt until deadline, then forced).
	// +optional
	// +kubebuilder:default=Progressive
	Mode UpdateMode `json:"mode,omitempty"`

	// deadline after which a Deadline-mode change is forced through the strategy.
	// Required when mode is Deadline.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// reason is recorded in status and Events; required when mode is Immediate
	// (not only spaces: the emergency lane is audited under it).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason,omitempty"`
}

// ChangeRecord says who asked for a manual change, when and why. The CLI fills
// it from the caller's identity (SelfSubjectReview). The admission policy
// flotilla-rollout-actors refuses a new or changed record whose by is not the
// requesting user, so by is always who made the change.
type ChangeRecord struct {
	// by is the identity of whoever made the change.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by,omitempty"`

	// at is when the change was made.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	At *metav1.Time `json:"at,omitempty"`

	// message is free text shown in history and Events.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}
