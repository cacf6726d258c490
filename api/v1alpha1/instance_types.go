package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InstanceStatus is the status the hub writes on instances of a Promise (the
// generated kinds, e.g. Postgres). It is not a kind of its own: the generated
// CRD's status schema is derived from it, so every Promise's instances report
// the same shape.
type InstanceStatus struct {
	// observedGeneration is the instance generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled (e.g. placement violates tenancy),
	// Placed and SpecApplied.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// revision is the PromiseRevision most of the instance's clusters are admitted to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision,omitempty"`

	// instanceRevision is the instance revision (ControllerRevision name) of the current spec
	// and of the team's Overrides that select the instance.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	InstanceRevision string `json:"instanceRevision,omitempty"`

	// appliedInstanceRevision is the instance revision most of the instance's
	// clusters last applied: what the fleet runs. It differs from
	// instanceRevision while a change of the spec rolls out, and after that
	// change was rolled back or halted (condition SpecApplied says which),
	// until the spec is brought back in line or rolled forward.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AppliedInstanceRevision string `json:"appliedInstanceRevision,omitempty"`

	// clusters counts the instance's clusters by state.
	// +optional
	Clusters InstanceClusterCounts `json:"clusters,omitempty"`
}

// InstanceClusterCounts rolls up an instance's Works.
type InstanceClusterCounts struct {
	// placed is the number of clusters the instance is placed on (one Work each).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Placed int32 `json:"placed,omitempty"`

	// ready is the number whose Work is Ready, of clusters that are not
	// Offline (an Offline cluster's last report is not current).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Ready int32 `json:"ready,omitempty"`

	// failing is the number whose Work failed to apply or is unhealthy.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Failing int32 `json:"failing,omitempty"`

	// offline is the number that are Offline: their agents stopped
	// heartbeating, so what runs there now is not known. They are not
	// counted ready whatever their last report said.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Offline int32 `json:"offline,omitempty"`
}
