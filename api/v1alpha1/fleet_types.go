package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetSpec is a named set of Clusters and the tenants allowed to place onto it.
type FleetSpec struct {
	// selector matches the labels of member Clusters. An empty selector
	// matches every Cluster.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0))",message="matchExpressions: each operator is In or NotIn, with values, or Exists or DoesNotExist, without"
	Selector metav1.LabelSelector `json:"selector"`

	// tenants are the namespaces whose instances may be placed onto this
	// Fleet. The platform namespace flotilla-system always may. Unset admits no
	// other namespace.
	// +optional
	Tenants *Tenants `json:"tenants,omitempty"`
}

// Tenants admits namespaces by name and/or by label; a namespace matching
// either is admitted.
// +kubebuilder:validation:XValidation:rule="has(self.namespaces) || has(self.namespaceSelector)",message="set namespaces, namespaceSelector or both"
type Tenants struct {
	// namespaces lists admitted namespaces by name.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces,omitempty"`

	// namespaceSelector admits namespaces by their labels.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0))",message="matchExpressions: each operator is In or NotIn, with values, or Exists or DoesNotExist, without"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// FleetStatus counts the Fleet's current members.
type FleetStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// clusters is the number of Clusters the selector matches.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Clusters int32 `json:"clusters,omitempty"`

	// availableClusters is how many of them are Available.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AvailableClusters int32 `json:"availableClusters,omitempty"`
}

// Fleet is a named label selector over Clusters, defined by the platform team
// before any rollout, with the tenant namespaces that may place onto it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=flt,categories=flotilla
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.clusters`
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableClusters`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Fleet struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec selects the Fleet's Clusters and tenants.
	// +required
	Spec FleetSpec `json:"spec"`

	// status counts the Fleet's members.
	// +optional
	Status FleetStatus `json:"status,omitempty"`
}

// FleetList is a list of Fleets.
// +kubebuilder:object:root=true
type FleetList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Fleets.
	Items []Fleet `json:"items"`
}
