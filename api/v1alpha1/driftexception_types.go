package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DriftExceptionSpec says which drift is accepted, by whom, why and until when.
type DriftExceptionSpec struct {
	// owner is accountable for the exception: a person, team or ticket queue.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.trim() != ''",message="owner must name someone, not only spaces"
	Owner string `json:"owner"`

	// declaredBy is the user who created the exception or last changed its
	// spec: the hub's admission policy (flotilla-driftexception-actors)
	// refuses any other name, so it says who accepted the drift even where
	// owner names a team or a queue. Unset on exceptions declared before the
	// policy, and not checked for members of system:masters.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DeclaredBy string `json:"declaredBy,omitempty"`

	// reason the drift is accepted.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.trim() != ''",message="reason must say why, not only spaces"
	Reason string `json:"reason"`

	// expiresAt ends the exception: matching drift becomes unexplained again and
	// the drift policy applies.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	ExpiresAt metav1.Time `json:"expiresAt"`

	// clusterSelector picks the clusters; empty means every cluster.
	// +optional
	ClusterSelector ClusterSelector `json:"clusterSelector,omitempty"`

	// resources matched on the member clusters. They must belong to instances
	// in this exception's namespace (any instance for flotilla-system).
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Resources []ResourceSelector `json:"resources"`

	// paths that may differ, as dotted field paths such as spec.replicas or
	// metadata.annotations; a path covers everything below it. Empty means any field.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_$-]+(\[[^\]]+\])?(\.[A-Za-z0-9_$/-]+(\[[^\]]+\])?)*$`
	Paths []string `json:"paths,omitempty"`
}

// DriftExceptionStatus reports whether the exception is in force and what it covers.
type DriftExceptionStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (True once observed: an exception needs nothing to
	// settle), Reconciling and Stalled (both False), and Active (False with
	// reason Expired once expired).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// matchedResources is the number of drifted resources whose drift (all of
	// it, or some fields beside unexplained drift) this exception accepts now.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MatchedResources int32 `json:"matchedResources,omitempty"`

	// works is the number of Works the hub gave this exception to (their
	// agents apply it): none while it selects no object the hub delivers,
	// or where a Work already carries 16 exceptions (the platform's first),
	// and none once it expired.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Works int32 `json:"works,omitempty"`
}

// DriftException is governed, accepted drift: a team declares that some
// fields of some resources may differ from what Flotilla applied, with an
// owner, a reason and an expiry. It is namespaced so a team can only excuse
// drift on its own instances.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=dex,categories=flotilla
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.spec.owner`
// +kubebuilder:printcolumn:name="Declared By",type=string,JSONPath=`.spec.declaredBy`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedResources`
// +kubebuilder:printcolumn:name="Works",type=integer,JSONPath=`.status.works`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DriftException struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the accepted drift.
	// +required
	Spec DriftExceptionSpec `json:"spec"`

	// status reports whether it is in force.
	// +optional
	Status DriftExceptionStatus `json:"status,omitempty"`
}

// DriftExceptionList is a list of DriftExceptions.
// +kubebuilder:object:root=true
type DriftExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the DriftExceptions.
	Items []DriftException `json:"items"`
}
