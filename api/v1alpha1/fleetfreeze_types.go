package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FreezeAction says what a freeze does to rollouts in flight.
// +kubebuilder:validation:Enum=Halt;Rollback
type FreezeAction string

const (
	// FreezeHalt: no rollout admits any cluster; admitted clusters stay put.
	FreezeHalt FreezeAction = "Halt"
	// FreezeRollback: additionally, every running rollout rolls back.
	FreezeRollback FreezeAction = "Rollback"
)

// FleetFreezeSpec is a kill switch for every rollout in the fleet.
type FleetFreezeSpec struct {
	// reason for the freeze, shown on every held Rollout.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// action is Halt (default) or Rollback (roll back every rollout in flight).
	// +optional
	// +kubebuilder:default=Halt
	Action FreezeAction `json:"action,omitempty"`

	// until ends the freeze automatically; unset freezes until the object is deleted.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Until *metav1.Time `json:"until,omitempty"`

	// frozenBy records who froze the fleet (filled by the CLI).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	FrozenBy string `json:"frozenBy,omitempty"`
}

// FleetFreezeStatus reports the freeze's effect.
type FleetFreezeStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (True once observed: a freeze needs nothing to
	// settle), Reconciling and Stalled (both False), and Active (False with
	// reason Expired after until).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// heldRollouts is the number of Rollouts the freeze holds now: those
	// whose status.freeze.heldBy names it (a Rollout it rolled back is held
	// while it rolls back). Always written, 0 included.
	// +optional
	// +kubebuilder:validation:Minimum=0
	HeldRollouts int32 `json:"heldRollouts"`

	// rolledBackRollouts is the number of Rollouts it rolled back: those
	// whose status.freeze.rolledBackBy names it. Always written, 0 included.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RolledBackRollouts int32 `json:"rolledBackRollouts"`
}

// RolloutFreezeStatus names, on a Rollout, the FleetFreezes that acted on it.
type RolloutFreezeStatus struct {
	// heldBy names the FleetFreeze that holds the Rollout now (the one its
	// Frozen condition reports); empty when none does.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	HeldBy string `json:"heldBy,omitempty"`

	// rolledBackBy names the FleetFreeze (action Rollback) that started
	// the Rollout's rollback; kept once set.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RolledBackBy string `json:"rolledBackBy,omitempty"`
}

// FleetFreeze is the kill switch: while one is active, no Rollout admits any
// cluster; with action Rollback every running Rollout rolls back. Delete it
// (`flotilla unfreeze`) to resume.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=freeze,categories=flotilla
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Until",type=string,JSONPath=`.spec.until`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.heldRollouts`
// +kubebuilder:printcolumn:name="Rolled-Back",type=integer,JSONPath=`.status.rolledBackRollouts`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FleetFreeze struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the freeze.
	// +required
	Spec FleetFreezeSpec `json:"spec"`

	// status reports its effect.
	// +optional
	Status FleetFreezeStatus `json:"status,omitempty"`
}

// FleetFreezeList is a list of FleetFreezes.
// +kubebuilder:object:root=true
type FleetFreezeList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the FleetFreezes.
	Items []FleetFreeze `json:"items"`
}
