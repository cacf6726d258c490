package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PromiseRevisionSpec is an immutable snapshot of what a Promise renders.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type PromiseRevisionSpec struct {
	// promise is the name of the Promise this is a revision of.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=52
	Promise string `json:"promise"`

	// revision is the sequence number within the Promise, starting at 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Revision int64 `json:"revision"`

	// contentHash is the hex SHA-256 of the canonical JSON of content; the
	// revision's name ends with a prefix of it.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	ContentHash string `json:"contentHash"`

	// content is the Promise's render inputs at this revision.
	// +required
	Content PromiseContent `json:"content"`
}

// PromiseRevisionStatus reports where this revision runs.
type PromiseRevisionStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Rendered (examples render), Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// instances rendered at this revision on at least one cluster.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Instances int32 `json:"instances,omitempty"`

	// clusters with at least one Work applied at this revision. A revision
	// with clusters > 0 is never garbage-collected.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Clusters int32 `json:"clusters,omitempty"`
}

// PromiseRevision is an immutable, content-addressed snapshot of a Promise's
// render inputs, created by the hub whenever they change. It is the unit a
// Rollout moves across the fleet. Named <promise>-<first 10 hex of contentHash>.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=prmrev,categories=flotilla
// +kubebuilder:printcolumn:name="Promise",type=string,JSONPath=`.spec.promise`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.clusters`
// +kubebuilder:printcolumn:name="Instances",type=integer,JSONPath=`.status.instances`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PromiseRevision struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the snapshot; immutable.
	// +required
	Spec PromiseRevisionSpec `json:"spec"`

	// status reports usage.
	// +optional
	Status PromiseRevisionStatus `json:"status,omitempty"`
}

// PromiseRevisionList is a list of PromiseRevisions.
// +kubebuilder:object:root=true
type PromiseRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the PromiseRevisions.
	Items []PromiseRevision `json:"items"`
}
