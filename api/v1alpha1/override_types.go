package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PatchType says how an Override's patch is applied.
// +kubebuilder:validation:Enum=JSONMerge;StrategicMerge;Values
type PatchType string

const (
	// PatchJSONMerge applies an RFC 7386 JSON merge patch to each selected resource.
	PatchJSONMerge PatchType = "JSONMerge"
	// PatchStrategicMerge applies a Kubernetes strategic merge patch to each selected resource.
	PatchStrategicMerge PatchType = "StrategicMerge"
	// PatchValues merges the patch into the render input (the instance spec, or
	// the Helm values) before rendering.
	PatchValues PatchType = "Values"
)

// OverrideSpec is a declared, visible divergence for some clusters, applied at render time.
// +kubebuilder:validation:XValidation:rule="self.type != 'Values' || !has(self.resources)",message="resources cannot be set for type Values, which patches the render input"
// +kubebuilder:validation:XValidation:rule="!has(self.instanceSelector) || has(self.promise)",message="instanceSelector requires promise"
type OverrideSpec struct {
	// clusterSelector picks the clusters whose rendering is patched; empty means every cluster.
	// +optional
	ClusterSelector ClusterSelector `json:"clusterSelector,omitempty"`

	// promise limits the Override to this Promise's Works.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Promise string `json:"promise,omitempty"`

	// instanceSelector limits it to instances with matching labels. Unset
	// matches every instance in scope, and the Promise's fleet resources too
	// when the Override is in flotilla-system.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0))",message="matchExpressions: each operator is In or NotIn, with values, or Exists or DoesNotExist, without"
	InstanceSelector *metav1.LabelSelector `json:"instanceSelector,omitempty"`

	// resources limits JSONMerge and StrategicMerge patches to matching rendered resources.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Resources []ResourceSelector `json:"resources,omitempty"`

	// type is JSONMerge, StrategicMerge or Values.
	// +required
	Type PatchType `json:"type"`

	// patch is the patch document, written as YAML/JSON.
	// +required
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Patch runtime.RawExtension `json:"patch"`

	// priority orders Overrides that hit the same Work: lower first, then by
	// namespace/name, so the highest priority wins a conflict. A team's
	// Overrides all apply before the platform's (flotilla-system), whatever
	// their priority: the platform's win a conflict with a team's.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=-1000
	// +kubebuilder:validation:Maximum=1000
	Priority int32 `json:"priority,omitempty"`
}

// OverrideStatus reports what the Override affects.
type OverrideStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Stalled (e.g. a patch that fails to apply).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// affectedClusters is the number of clusters with at least one Work this Override shaped.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AffectedClusters int32 `json:"affectedClusters,omitempty"`

	// affectedWorks is the number of Works this Override shaped.
	// +optional
	// +kubebuilder:validation:Minimum=0
	AffectedWorks int32 `json:"affectedWorks,omitempty"`

	// pendingWorks is how many of those Works render an earlier spec of this
	// Override (a team's): their instance revisions snapshotted it before its
	// last change, and their instances' Rollouts have not moved them on yet.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PendingWorks int32 `json:"pendingWorks,omitempty"`
}

// Override is a declared per-cluster divergence (a patch or values) applied
// at render time, listed in every Work it shapes. It is namespaced: one in
// flotilla-system (the platform team's) may target any instance and fleet
// resources; one in a team namespace only affects that namespace's instances.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ovr,categories=flotilla
// +kubebuilder:printcolumn:name="Promise",type=string,JSONPath=`.spec.promise`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.affectedClusters`
// +kubebuilder:printcolumn:name="Works",type=integer,JSONPath=`.status.affectedWorks`,priority=1
// +kubebuilder:printcolumn:name="Pending",type=integer,JSONPath=`.status.pendingWorks`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Override struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what to patch where.
	// +required
	Spec OverrideSpec `json:"spec"`

	// status reports what it affects.
	// +optional
	Status OverrideStatus `json:"status,omitempty"`
}

// OverrideList is a list of Overrides.
// +kubebuilder:object:root=true
type OverrideList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Overrides.
	Items []Override `json:"items"`
}
