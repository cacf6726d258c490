package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ApprovalPolicy says whether a wave waits for a person.
// +kubebuilder:validation:Enum=None;Required
type ApprovalPolicy string

const (
	// ApprovalNone: the wave starts when the previous one has baked.
	ApprovalNone ApprovalPolicy = "None"
	// ApprovalRequired: the wave also waits for an approval in the Rollout's spec.approvals.
	ApprovalRequired ApprovalPolicy = "Required"
)

// ImplicitWaveName names the wave that takes clusters no wave selects.
const ImplicitWaveName = "remaining"

// FailureAction says what a rollout does when a failure budget is exceeded.
// +kubebuilder:validation:Enum=Halt;Rollback
type FailureAction string

const (
	// FailureHalt stops admitting clusters and leaves admitted ones as they are.
	FailureHalt FailureAction = "Halt"
	// FailureRollback moves every admitted cluster back to the previous revision.
	FailureRollback FailureAction = "Rollback"
)

// OfflinePolicy says how a rollout treats target clusters that are Offline.
// +kubebuilder:validation:Enum=Wait;Skip;CountAsFailure
type OfflinePolicy string

const (
	// OfflineWait: the wave waits for the cluster to come back (up to progressDeadline it is pending, not failed).
	OfflineWait OfflinePolicy = "Wait"
	// OfflineSkip: the cluster leaves this rollout and is reconciled when it returns.
	OfflineSkip OfflinePolicy = "Skip"
	// OfflineCountAsFailure: the cluster counts against the wave's failure budget.
	OfflineCountAsFailure OfflinePolicy = "CountAsFailure"
)

// RolloutStrategySpec is reusable rollout policy. Clusters that match no wave
// go to an implicit last wave named "remaining" (ImplicitWaveName) with the
// settings of the last wave, so none is ever silently skipped.
type RolloutStrategySpec struct {
	// waves in order; a wave starts only after the previous one baked (and was approved).
	// A cluster belongs to the first wave whose selector matches it.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	Waves []Wave `json:"waves"`

	// onFailure is Halt (default) or Rollback when a wave's failure budget is exceeded.
	// +optional
	// +kubebuilder:default=Halt
	OnFailure FailureAction `json:"onFailure,omitempty"`

	// offlinePolicy is Wait (default), Skip or CountAsFailure for Offline targets.
	// +optional
	// +kubebuilder:default=Wait
	OfflinePolicy OfflinePolicy `json:"offlinePolicy,omitempty"`

	// immediate limits the Immediate (emergency) mode, which ignores waves.
	// +optional
	Immediate *ImmediatePolicy `json:"immediate,omitempty"`

	// checks every wave must pass (a wave's own checks replace those of the
	// same name). A wave cannot finish baking until they have passed for
	// its bake time.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Checks []Check `json:"checks,omitempty"`
}

// Wave is one step of a rollout.
type Wave struct {
	// name of the wave, e.g. canary.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'remaining'",message="remaining is reserved for the implicit last wave"
	Name string `json:"name"`

	// selector matches Cluster labels; unset matches every cluster not taken by an earlier wave.
	// +optional
	Selector *WaveSelector `json:"selector,omitempty"`

	// maxConcurrency is how many of the wave's clusters may be admitted but not
	// yet healthy at once: a count (≥ 1) or a percentage of the wave ("1%"–"100%",
	// rounded up, at least 1).
	// +optional
	// +kubebuilder:default="100%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 && self <= 2147483647 : self.matches('^(100|[1-9][0-9]?)%$')",message="must be a count of at least 1 (and at most 2147483647) or a percentage from 1% to 100%"
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`

	// maxFailures is how many of the wave's clusters may fail before onFailure
	// applies: a count (≥ 0) or a percentage of the wave ("0%"–"100%", rounded down).
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 && self <= 2147483647 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a count of at least 0 (and at most 2147483647) or a percentage from 0% to 100%"
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`

	// bakeTime is how long every admitted cluster of the wave must stay healthy
	// before the next wave may start.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	BakeTime *metav1.Duration `json:"bakeTime,omitempty"`

	// approval is None (default) or Required: the wave waits for an approval.
	// +optional
	// +kubebuilder:default=None
	Approval ApprovalPolicy `json:"approval,omitempty"`

	// progressDeadline is how long an admitted cluster may take to become
	// healthy before it counts as failed.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// checks this wave must pass besides the strategy's; one named like a
	// strategy check replaces it for this wave.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Checks []Check `json:"checks,omitempty"`
}

// ImmediatePolicy limits the emergency lane: every target at once, but still
// under a concurrency limit and a failure budget.
type ImmediatePolicy struct {
	// maxConcurrency across the whole target set: a count (≥ 1) or "1%"–"100%".
	// +optional
	// +kubebuilder:default="100%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 && self <= 2147483647 : self.matches('^(100|[1-9][0-9]?)%$')",message="must be a count of at least 1 (and at most 2147483647) or a percentage from 1% to 100%"
	MaxConcurrency *intstr.IntOrString `json:"maxConcurrency,omitempty"`

	// maxFailures across the whole target set: a count (≥ 0) or "0%"–"100%".
	// +optional
	// +kubebuilder:default="10%"
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:MaxLength=4
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 && self <= 2147483647 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be a count of at least 0 (and at most 2147483647) or a percentage from 0% to 100%"
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`

	// progressDeadline per cluster, as for a wave.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`
}

// RolloutStrategyStatus reports the strategy's validity.
type RolloutStrategyStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Stalled (e.g. a selector that does not parse). Reserved:
	// no controller writes a RolloutStrategy's status in this release; a
	// strategy a Rollout cannot use shows on that Rollout instead.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RolloutStrategy is rollout policy as code, written by the platform team and
// referenced from Promises or Rollouts: ordered waves with concurrency,
// failure budget, bake time, approval and progress deadline; what to do on
// failure; how to treat offline clusters. kubectl's printer columns show only
// the first item of a list, so the waves are not a column here:
// `flotilla get rolloutstrategies` lists every wave in order.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rost,categories=flotilla
// +kubebuilder:printcolumn:name="On-Failure",type=string,JSONPath=`.spec.onFailure`
// +kubebuilder:printcolumn:name="Offline",type=string,JSONPath=`.spec.offlinePolicy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RolloutStrategy struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	// +required
	Spec RolloutStrategySpec `json:"spec"`

	// status reports validity.
	// +optional
	Status RolloutStrategyStatus `json:"status,omitempty"`
}

// RolloutStrategyList is a list of RolloutStrategies.
// +kubebuilder:object:root=true
type RolloutStrategyList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the RolloutStrategies.
	Items []RolloutStrategy `json:"items"`
}

// WaveSelector matches Cluster labels: a metav1.LabelSelector (the same
// fields, written the same way) with at most 16 matchExpressions. The bound
// lets the API server check the operators when the strategy is written: the
// rule over an unbounded list, in each of up to 21 waves, is over its CEL
// cost budget, and a selector labels cannot parse stalled every Rollout of
// the strategy at its start instead.
// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? has(e.values) && size(e.values) > 0 : e.operator in ['Exists', 'DoesNotExist'] && (!has(e.values) || size(e.values) == 0))",message="matchExpressions: each operator is In or NotIn, with values, or Exists or DoesNotExist, without"
type WaveSelector struct {
	// matchLabels: every label must have this value.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`

	// matchExpressions: every requirement must hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []metav1.LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelector is s as a metav1.LabelSelector; nil for nil.
func (s *WaveSelector) LabelSelector() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	return &metav1.LabelSelector{MatchLabels: s.MatchLabels, MatchExpressions: s.MatchExpressions}
}
