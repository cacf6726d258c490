package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RolloutDesiredState is what people ask a Rollout to do.
// +kubebuilder:validation:Enum=Running;Paused;Aborted
type RolloutDesiredState string

const (
	// RolloutRunning: progress normally (the default; set it to resume).
	RolloutRunning RolloutDesiredState = "Running"
	// RolloutPaused: admit no more clusters; admitted ones stay as they are.
	RolloutPaused RolloutDesiredState = "Paused"
	// RolloutAborted: stop for good; admitted clusters stay on the target
	// revision until a rollback or a newer Rollout moves them. Terminal.
	RolloutAborted RolloutDesiredState = "Aborted"
)

// RolloutPhase is where a Rollout is in its life.
// +kubebuilder:validation:Enum=Pending;Progressing;Paused;WaitingForApproval;Baking;Halted;RollingBack;RolledBack;Succeeded;Failed;Aborted;Superseded
type RolloutPhase string

const (
	// RolloutPhasePending: waiting to freeze its target set or for a strategy or revision to exist.
	RolloutPhasePending RolloutPhase = "Pending"
	// RolloutPhaseProgressing: admitting clusters of the current wave.
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	// RolloutPhasePaused: desiredState is Paused (or a FleetFreeze holds it).
	RolloutPhasePaused RolloutPhase = "Paused"
	// RolloutPhaseWaitingForApproval: the next wave needs an approval.
	RolloutPhaseWaitingForApproval RolloutPhase = "WaitingForApproval"
	// RolloutPhaseBaking: every admitted cluster of the wave is healthy; waiting out bakeTime.
	RolloutPhaseBaking RolloutPhase = "Baking"
	// RolloutPhaseHalted: a failure budget was exceeded (onFailure Halt) or a freeze halted it.
	RolloutPhaseHalted RolloutPhase = "Halted"
	// RolloutPhaseRollingBack: moving admitted clusters back to the rollback revision.
	RolloutPhaseRollingBack RolloutPhase = "RollingBack"
	// RolloutPhaseRolledBack: every admitted cluster is back on the rollback revision. Terminal.
	RolloutPhaseRolledBack RolloutPhase = "RolledBack"
	// RolloutPhaseSucceeded: every target is healthy on the target revision. Terminal.
	RolloutPhaseSucceeded RolloutPhase = "Succeeded"
	// RolloutPhaseFailed: cannot proceed and cannot roll back, e.g. the target revision is gone. Terminal.
	RolloutPhaseFailed RolloutPhase = "Failed"
	// RolloutPhaseAborted: desiredState is Aborted. Terminal.
	RolloutPhaseAborted RolloutPhase = "Aborted"
	// RolloutPhaseSuperseded: a newer Rollout for the same subject took over. Terminal.
	RolloutPhaseSuperseded RolloutPhase = "Superseded"
)

// IsTerminal reports whether a Rollout in phase p will never act again.
func (p RolloutPhase) IsTerminal() bool {
	switch p {
	case RolloutPhaseRolledBack, RolloutPhaseSucceeded, RolloutPhaseFailed,
		RolloutPhaseAborted, RolloutPhaseSuperseded:
		return true
	}
	return false
}

// IsPlatformRollout reports whether r moves a Promise (its fleet resources
// and every instance), which only the platform changes, rather than one
// team's instance.
func (r *Rollout) IsPlatformRollout() bool {
	return r.Namespace == PlatformNamespace && r.Spec.Subject.Instance == nil
}

// The characters of WaveStatus.Admitted.
const (
	// AdmittedNone: the cluster is not admitted.
	AdmittedNone = '.'
	// AdmittedTarget: admitted to spec.targetRevision.
	AdmittedTarget = 'T'
	// AdmittedRollback: admitted to status.rollbackRevision.
	AdmittedRollback = 'R'
)

// MaxRelapses is how many times a cluster may leave Healthy on the target in
// one wave, after it had turned healthy there, before it fails (Flapping):
// each relapse restarts its progress deadline and the wave's bake, so
// without a bound a workload whose readiness flaps holds the wave for ever.
// Going offline counts as leaving Healthy (an agent that goes away just
// past its grace once per bake would hold it the same way).
// Three lets a cluster ride out a few transient blips (a node drained, a
// dependency restarted) within one wave.
const MaxRelapses = 3

// WavePhase is where one wave is.
// +kubebuilder:validation:Enum=Pending;WaitingForApproval;Progressing;Baking;Succeeded;SucceededWithFailures;Failed;Stopped;RolledBack;Skipped
type WavePhase string

const (
	// WavePhasePending: not started.
	WavePhasePending WavePhase = "Pending"
	// WavePhaseWaitingForApproval: waiting for its approval.
	WavePhaseWaitingForApproval WavePhase = "WaitingForApproval"
	// WavePhaseProgressing: admitting clusters.
	WavePhaseProgressing WavePhase = "Progressing"
	// WavePhaseBaking: all admitted clusters healthy; waiting out bakeTime.
	WavePhaseBaking WavePhase = "Baking"
	// WavePhaseSucceeded: baked, and every cluster of the wave is healthy on the target.
	WavePhaseSucceeded WavePhase = "Succeeded"
	// WavePhaseSucceededWithFailures: completed (the next wave may start),
	// but some of its clusters are not healthy on the target: failed within
	// the budget, skipped offline, or unhealthy since the wave completed.
	WavePhaseSucceededWithFailures WavePhase = "SucceededWithFailures"
	// WavePhaseFailed: its failure budget was exceeded.
	WavePhaseFailed WavePhase = "Failed"
	// WavePhaseStopped: it had started, but the Rollout ended (aborted,
	// superseded, failed) before the wave completed.
	WavePhaseStopped WavePhase = "Stopped"
	// WavePhaseRolledBack: it had started (or completed), and the Rollout's
	// rollback moves its clusters back to the rollback revision.
	WavePhaseRolledBack WavePhase = "RolledBack"
	// WavePhaseSkipped: never run (the Rollout ended first, or the wave has
	// no clusters; see WaveStatus.unmatchedSelector).
	WavePhaseSkipped WavePhase = "Skipped"
)

// RolloutSubject is what moves: every instance of a Promise (a PromiseRevision
// change, Rollout in flotilla-system) or one instance (an instance change,
// Rollout in the instance's namespace, so team RBAC governs it).
type RolloutSubject struct {
	// promise whose revision moves.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Promise string `json:"promise"`

	// instance, in the Rollout's namespace, when the subject is one instance's change.
	// +optional
	Instance *LocalObjectReference `json:"instance,omitempty"`
}

// RolloutSpec is one change moving across its target set.
// Revisions are PromiseRevision names for a Promise subject, and instance
// revision (ControllerRevision) names for an instance subject.
// +kubebuilder:validation:XValidation:rule="!(has(self.strategyRef) && has(self.strategy))",message="set at most one of strategyRef and strategy"
// +kubebuilder:validation:XValidation:rule="!has(self.fromRevision) || self.fromRevision != self.targetRevision",message="fromRevision and targetRevision must differ"
// +kubebuilder:validation:XValidation:rule="!has(self.rollback) || !has(self.rollback.toRevision) || self.rollback.toRevision != self.targetRevision",message="rollback.toRevision must differ from targetRevision"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.rollback) || has(self.rollback)",message="a requested rollback cannot be withdrawn"
// +kubebuilder:validation:XValidation:rule="has(self.fromRevision) == has(oldSelf.fromRevision)",message="fromRevision is immutable: it cannot be removed or added after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.rollback) || !has(self.rollback.toRevision) || (has(self.subject.instance) ? self.rollback.toRevision.contains('-' + self.subject.instance.name + '-') : self.rollback.toRevision.startsWith(self.subject.promise + '-'))",message="rollback.toRevision must be a revision of the subject: PromiseRevisions are named <promise>-<hash>, instance revisions <kind>-<instance>-<hash> (flotilla rollout rollback lists the valid ones)"
type RolloutSpec struct {
	// subject is what moves.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="subject is immutable"
	Subject RolloutSubject `json:"subject"`

	// fromRevision is the stable revision clusters run before this Rollout;
	// empty for a first rollout. Rollback returns to it. It is set on create
	// only: it can be neither changed nor removed and set again (the rule on
	// the spec), since a rollback without toRevision returns to it.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="fromRevision is immutable"
	FromRevision string `json:"fromRevision,omitempty"`

	// targetRevision is the revision to move to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="targetRevision is immutable"
	TargetRevision string `json:"targetRevision"`

	// strategyRef names a RolloutStrategy; with neither strategyRef nor
	// strategy, the Promise's strategy applies.
	// +optional
	StrategyRef *LocalObjectReference `json:"strategyRef,omitempty"`

	// strategy is an inline strategy, for ad hoc rollouts.
	// +optional
	Strategy *RolloutStrategySpec `json:"strategy,omitempty"`

	// updatePolicy is Progressive, Immediate (reason required) or Deadline (deadline required).
	// +optional
	// +kubebuilder:default={mode: Progressive}
	UpdatePolicy UpdatePolicy `json:"updatePolicy,omitempty"`

	// policyChange records who last changed strategyRef, strategy or
	// updatePolicy (a switch to Immediate, a forced Deadline), when and why.
	// Changing any of them on an existing Rollout requires a new policyChange
	// by the requesting user, and the right to update rolloutstrategies
	// (admission policy flotilla-rollout-actors).
	// +optional
	PolicyChange *ChangeRecord `json:"policyChange,omitempty"`

	// desiredState pauses (Paused), resumes (Running, the default) or aborts
	// (Aborted, terminal) the Rollout.
	// +optional
	// +kubebuilder:default=Running
	// +kubebuilder:validation:XValidation:rule="oldSelf != 'Aborted' || self == 'Aborted'",message="an aborted rollout cannot be resumed or paused"
	DesiredState RolloutDesiredState `json:"desiredState,omitempty"`

	// stateChange records who last set desiredState, when and why.
	// +optional
	StateChange *ChangeRecord `json:"stateChange,omitempty"`

	// approvals given, at most one per wave. A wave with approval Required
	// starts only once it appears here.
	// +optional
	// +listType=map
	// +listMapKey=wave
	// +kubebuilder:validation:MaxItems=21
	Approvals []Approval `json:"approvals,omitempty"`

	// rollback, once set, moves every admitted cluster back to toRevision. It
	// cannot be withdrawn.
	// +optional
	Rollback *RollbackRequest `json:"rollback,omitempty"`

	// checkActions re-run a verification check of a wave, or skip it for
	// that wave with a reason, each recorded with who asked (the requesting
	// user), when and why. A Rerun with a new `at` re-runs again.
	// +optional
	// +listType=map
	// +listMapKey=wave
	// +listMapKey=check
	// +listMapKey=action
	// +kubebuilder:validation:MaxItems=64
	CheckActions []CheckAction `json:"checkActions,omitempty"`
}

// Approval lets one wave start.
type Approval struct {
	// wave approved, by name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave"`

	// ChangeRecord says who approved, when and why.
	ChangeRecord `json:",inline"`
}

// RollbackRequest asks for a manual rollback.
type RollbackRequest struct {
	// toRevision is the revision to return to; defaults to fromRevision.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ToRevision string `json:"toRevision,omitempty"`

	// ChangeRecord says who asked for the rollback, when and why.
	ChangeRecord `json:",inline"`
}

// RolloutCounts counts target clusters by state. Every target is in exactly one
// of healthy, failed, pending, offline; admitted counts those given the target
// revision (healthy and failed ones included).
type RolloutCounts struct {
	// total target clusters.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total,omitempty"`

	// admitted to the target revision.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Admitted int32 `json:"admitted,omitempty"`

	// healthy on the target revision.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Healthy int32 `json:"healthy,omitempty"`

	// failed: unhealthy past the progress deadline, or failed to apply.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Failed int32 `json:"failed,omitempty"`

	// pending: not admitted yet, or admitted and still converging.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Pending int32 `json:"pending,omitempty"`

	// offline target clusters.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Offline int32 `json:"offline,omitempty"`
}

// WaveStatus is the roll-up of one wave. Its clusters are frozen when the
// Rollout starts.
// +kubebuilder:validation:XValidation:rule="!has(self.admitted) || size(self.admitted) == (has(self.clusters) ? size(self.clusters) : 0)",message="admitted has one character per cluster of clusters"
// +kubebuilder:validation:XValidation:rule="!has(self.relapses) || size(self.relapses) == (has(self.clusters) ? size(self.clusters) : 0)",message="relapses has one character per cluster of clusters"
type WaveStatus struct {
	// name of the wave; "remaining" for the implicit last wave.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// phase of the wave.
	// +optional
	Phase WavePhase `json:"phase,omitempty"`

	// clusters in the wave, sorted; frozen at start.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10000
	// +kubebuilder:validation:items:MaxLength=46
	Clusters []string `json:"clusters,omitempty"`

	// admitted is the Rollout's decision for each cluster of clusters, one
	// character per cluster in the same order: "T" admitted to
	// spec.targetRevision, "R" admitted to status.rollbackRevision, "." not
	// admitted (its Works stay on the revision they render; a new Work gets
	// the stable revision). Empty when no cluster of the wave is admitted.
	// It lists the clusters admitted by the plan that wrote it and those
	// already rendering the target, and is written with that plan, in one
	// status write: the instance controller renders every Work from it, so
	// a hub restarted at any point renders the same.
	//
	// One character per cluster, not a list of names: clusters already
	// names them, sorted, and a wave holds up to 10,000; this costs 10 kB
	// there (names could cost 460 kB, doubling the status), so the status
	// of a 10,000-cluster Rollout stays far below etcd's 1.5 MiB object
	// limit. Two letters, not revision names: a Rollout only ever admits a
	// cluster to its target, or back to its rollback revision.
	// +optional
	// +kubebuilder:validation:MaxLength=10000
	// +kubebuilder:validation:Pattern=`^[.TR]*$`
	Admitted string `json:"admitted,omitempty"`

	// relapses counts each cluster's relapses in this wave, one character
	// per cluster of clusters in the same order: how often it left Healthy
	// on the target, or went offline, after it had turned healthy there
	// (each relapse
	// restarts its progress deadline and the wave's bake). "." not healthy
	// on the target in this wave yet; a digit n ("0"-"9"): healthy at the
	// last look, after n relapses; a letter ("a"-"j", "a" + n): not healthy
	// at the last look, after n relapses. A cluster that relapses more than
	// MaxRelapses times fails (Flapping), so a workload whose health flaps
	// cannot hold the wave for ever. Kept in the status so that the count
	// survives a restart of the hub; empty until the wave is at work.
	// +optional
	// +kubebuilder:validation:MaxLength=10000
	// +kubebuilder:validation:Pattern=`^[.0-9a-j]*$`
	Relapses string `json:"relapses,omitempty"`

	// lastRelapseAt is when the hub last saw a cluster of this wave leave
	// Healthy on the target (its own clock). A cluster not healthy on the
	// target since a relapse counts its progress deadline from no later
	// than this, whatever time its agent gives the change: an agent that
	// dated it afresh every few minutes put its deadline out of reach.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastRelapseAt *metav1.Time `json:"lastRelapseAt,omitempty"`

	// counts of the wave's clusters by state.
	// +optional
	Counts RolloutCounts `json:"counts,omitempty"`

	// startedAt is when the wave admitted its first cluster.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// lastAdmittedAt is when the wave last admitted a cluster to the
	// target. A cluster it admitted whose Works do not render the target
	// (an instance the hub holds, or whose render fails) counts its
	// progress deadline from then, not from a later look, so it fails by
	// the deadline instead of staying in flight for ever.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastAdmittedAt *metav1.Time `json:"lastAdmittedAt,omitempty"`

	// bakeStartedAt is when every admitted cluster was last seen healthy together.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	BakeStartedAt *metav1.Time `json:"bakeStartedAt,omitempty"`

	// completedAt is when the wave succeeded or failed.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// approval, as recorded when the wave started.
	// +optional
	Approval *ChangeRecord `json:"approval,omitempty"`

	// unmatchedSelector is set, at start, on an empty wave whose selector
	// matched no Cluster of the hub at all (a typo, most likely, rather
	// than a wave with none of this Rollout's targets): its selector, as
	// written then. The next wave with clusters waits for an approval
	// (WaitingForApproval) instead of going on without this wave's gate.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	UnmatchedSelector string `json:"unmatchedSelector,omitempty"`

	// checks are the wave's verification checks and their results, once
	// the wave has started.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Checks []WaveCheckStatus `json:"checks,omitempty"`
}

// ClusterFailure is one failed cluster and why.
type ClusterFailure struct {
	// cluster that failed.
	// +required
	// +kubebuilder:validation:MaxLength=46
	Cluster string `json:"cluster"`

	// wave the cluster belongs to.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave,omitempty"`

	// reason is CamelCase, e.g. ProgressDeadlineExceeded, ApplyFailed, ClusterOffline.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// message gives detail, e.g. the failing resource and its status.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// time the failure was recorded.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Time metav1.Time `json:"time"`

	// revision that failed: the Rollout's target for the failures that
	// count against it; another revision for unattributed ones (e.g. a new
	// instance still rendered at fromRevision, or the instance revision of
	// a team's change admitted on the cluster after the Promise's Rollout).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision,omitempty"`
}

// HistoryEntry records one phase transition and who caused it.
type HistoryEntry struct {
	// time of the transition.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Time metav1.Time `json:"time"`

	// from is the phase left.
	// +optional
	From RolloutPhase `json:"from,omitempty"`

	// to is the phase entered.
	// +required
	To RolloutPhase `json:"to"`

	// wave current at the transition.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave,omitempty"`

	// actor who caused it: a user identity, "hub" for automatic steps, or "unknown".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Actor string `json:"actor,omitempty"`

	// message explains the transition.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// ---- FleetFreeze (issue 18): the cause as a field, not in the message ----

	// freeze names the FleetFreeze that caused the transition (it started
	// or stopped holding the Rollout, or started its rollback); empty when
	// no freeze did.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Freeze string `json:"freeze,omitempty"`
}

// AdoptionStatus reports a Deadline-mode rollout's voluntary adoption.
type AdoptionStatus struct {
	// instances of the subject with a Work on the Rollout's target clusters
	// (those it moves; an instance placed elsewhere is not counted).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Instances int32 `json:"instances,omitempty"`

	// adopted instances: their owners moved them to the target before the deadline.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Adopted int32 `json:"adopted,omitempty"`

	// forcedAt is when the deadline passed and the rest were forced through the strategy.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	ForcedAt *metav1.Time `json:"forcedAt,omitempty"`
}

// RolloutStatus is the roll-up of the change across the fleet.
type RolloutStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Approved, Superseded, Frozen.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase of the Rollout.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`

	// currentWave is the name of the wave in progress.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	CurrentWave string `json:"currentWave,omitempty"`

	// counts over the whole target set.
	// +optional
	Counts RolloutCounts `json:"counts,omitempty"`

	// percentOnTarget is the percentage of target clusters healthy on targetRevision.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	PercentOnTarget int32 `json:"percentOnTarget,omitempty"`

	// waves in order, each with its frozen clusters; together they are the
	// target set frozen at start.
	// +optional
	// +kubebuilder:validation:MaxItems=21
	Waves []WaveStatus `json:"waves,omitempty"`

	// failures lists failed clusters, most recent first; at most 50 are kept
	// (see failureCount for the total).
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Failures []ClusterFailure `json:"failures,omitempty"`

	// failureCount is the total number of failed clusters. While rolling
	// back and after, failures and failureCount keep the failures that led
	// to the rollback (counts.failed stays live, relative to the target).
	// +optional
	// +kubebuilder:validation:Minimum=0
	FailureCount int32 `json:"failureCount,omitempty"`

	// unattributedFailures lists target clusters with a failure that is not
	// this Rollout's: a Work of the subject failing on another revision than
	// the one the Rollout admitted there (a cluster not admitted yet, a new
	// instance rendered at the old revision), or a Work the Rollout did not
	// move (an instance created after the Rollout started). They never count
	// against a failure budget nor trigger onFailure. Most recent first, at
	// most 50.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	UnattributedFailures []ClusterFailure `json:"unattributedFailures,omitempty"`

	// unattributedFailureCount is the total number of clusters with an
	// unattributed failure.
	// +optional
	// +kubebuilder:validation:Minimum=0
	UnattributedFailureCount int32 `json:"unattributedFailureCount,omitempty"`

	// history of phase transitions, oldest first; the most recent 50 are kept.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	History []HistoryEntry `json:"history,omitempty"`

	// rollbackRevision is the revision a rollback returns clusters to.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RollbackRevision string `json:"rollbackRevision,omitempty"`

	// supersededBy names the newer Rollout that took over the subject.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	SupersededBy string `json:"supersededBy,omitempty"`

	// adoption reports Deadline-mode adoption; time left is spec.updatePolicy.deadline minus now.
	// +optional
	Adoption *AdoptionStatus `json:"adoption,omitempty"`

	// observedPolicyChange is the last spec.policyChange recorded in the
	// history, so each change of strategy or update policy is recorded once.
	// +optional
	ObservedPolicyChange *ChangeRecord `json:"observedPolicyChange,omitempty"`

	// startedAt is when the target set was frozen.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the Rollout reached a terminal phase.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// ---- FleetFreeze (issue 18): which freeze holds and which rolled back ----

	// freeze names the FleetFreezes that hold the Rollout now or rolled it
	// back; unset when none did. The FleetFreeze controller counts its
	// heldRollouts and rolledBackRollouts from these fields.
	// +optional
	Freeze *RolloutFreezeStatus `json:"freeze,omitempty"`
}

// Rollout moves one subject from its current revision to a target revision
// across a target set frozen at start, wave by wave. The hub creates one per
// change (people may create ad hoc ones); people pause, resume, abort,
// approve and roll back by changing its spec. It never applies anything
// itself: it admits clusters to a revision, and its status is the roll-up.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=fro,categories=flotilla
// The emergency lane merges the waves into one, and a wave's status holds
// at most 10,000 clusters (status.waves[].clusters): a switch to Immediate
// of a larger target set would leave a status the API server refuses, so
// that no later plan, a FleetFreeze's rollback included, could be written.
// +kubebuilder:validation:XValidation:rule="!has(self.spec.updatePolicy) || !has(self.spec.updatePolicy.mode) || self.spec.updatePolicy.mode != 'Immediate' || !has(self.status) || !has(self.status.waves) || self.status.waves.map(w, has(w.clusters) ? size(w.clusters) : 0).sum() <= 10000",message="updatePolicy.mode Immediate moves every remaining target in one wave, which holds at most 10,000 clusters, and this Rollout's target set has more: it keeps its waves (Progressive or Deadline)"
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.spec.subject.promise`
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.subject.instance.name`,priority=1
// +kubebuilder:printcolumn:name="From",type=string,JSONPath=`.spec.fromRevision`,priority=1
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRevision`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.updatePolicy.mode`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Wave",type=string,JSONPath=`.status.currentWave`
// +kubebuilder:printcolumn:name="Progress",type=integer,JSONPath=`.status.percentOnTarget`,description="percent of targets healthy on the target revision"
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`,description="target clusters failed on the target revision now"
// +kubebuilder:printcolumn:name="Degraded",type=string,JSONPath=`.status.conditions[?(@.type=="Degraded")].reason`,description="SucceededWithFailures when it succeeded with clusters not healthy on the target"
// +kubebuilder:printcolumn:name="Unattributed",type=integer,JSONPath=`.status.unattributedFailureCount`,priority=1,description="clusters failing on something that is not this rollout's change"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Rollout struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the change and the operations asked of it.
	// +required
	Spec RolloutSpec `json:"spec"`

	// status is the roll-up.
	// +optional
	Status RolloutStatus `json:"status,omitempty"`
}

// RolloutList is a list of Rollouts.
// +kubebuilder:object:root=true
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Rollouts.
	Items []Rollout `json:"items"`
}
