package rollout

import (
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ImmediateWaveName names the single pseudo-wave of an Immediate-mode
// rollout: every target, under the strategy's immediate limits. It is
// capitalised so that it can never be the name of a strategy wave (those are
// lower-case DNS labels).
const ImmediateWaveName = "Immediate"

// Actors recorded in history when no person caused a transition.
const (
	// ActorHub is the actor of automatic steps (a wave baked, a budget was exceeded).
	ActorHub = "hub"
	// ActorUnknown stands for a person whose identity was not recorded, e.g.
	// an approval added with kubectl edit and no "by".
	ActorUnknown = "unknown"
)

// Input is everything Plan looks at. The controller fills it from the
// Rollout, its resolved strategy, the FleetFreeze and the target clusters'
// Works; Plan reads nothing else.
type Input struct {
	// Now is the time of this reconcile; Plan never reads the clock.
	Now time.Time
	// LeadingSince is when this hub began to run its controllers (zero:
	// not known). A cluster the status admits whose Works do not render
	// the target yet waits from no earlier: the instance controller of a
	// hub that was down, or did not lead, could not write them.
	LeadingSince time.Time
	// Generation is the Rollout's metadata.generation: the status and each
	// condition Plan writes say they observed it (kstatus reads both).
	Generation int64
	// Strategy is the resolved strategy (spec.strategy, spec.strategyRef or the Promise's).
	Strategy fleetv1alpha1.RolloutStrategySpec
	// Spec is the Rollout's spec: revisions, update policy, desired state,
	// approvals and rollback request.
	Spec fleetv1alpha1.RolloutSpec
	// Status is the Rollout's status as last written: phase, the frozen
	// waves, history. Empty for a Rollout that has not started.
	Status fleetv1alpha1.RolloutStatus
	// Clusters observes every cluster of the frozen target set. Before the
	// start (no waves in Status) it lists every candidate, and the set is
	// frozen from it. Clusters outside the frozen set are ignored.
	Clusters []ClusterObservation
	// UnmatchedWaves names the strategy waves whose selector matches no
	// Cluster of the hub (WavesMatchingNoCluster), read before the start
	// only: an empty wave so named is recorded as such when the target set
	// is frozen (WaveStatus.unmatchedSelector), and the next wave with
	// clusters waits for an approval.
	UnmatchedWaves []string
	// Freeze is the active FleetFreeze, if any; an expired one is nil.
	Freeze *FreezeObservation
	// SupersededBy names the newer Rollout that took over the subject;
	// non-empty ends this one as Superseded.
	SupersededBy string
	// StartedBy is who created the Rollout ("hub" for Rollouts the hub
	// creates), recorded in the first history entry; Immediate mode asks for it.
	StartedBy string
	// Change says what the Rollout changes (an instance Rollout: "the
	// spec", "the team's Overrides (bigger added)"), recorded in the first
	// history entry; empty when not known.
	Change string
	// RollbackBlocked says why the revision spec.rollback asks for
	// (toRevision, or else fromRevision) cannot be used: it does not exist,
	// or is not a revision of the subject. Nil when it can, or none is asked.
	RollbackBlocked *Blocked
	// PartialFrom says fromRevision is a revision only some of the target
	// set ran: a revert starts from the in-flight target it undoes, which
	// the clusters it never reached never took (see RanInFull). A rollback
	// to it would move those clusters to it, so a Rollback freeze holds the
	// Rollout and onFailure Rollback halts it instead.
	PartialFrom bool
	// Unsettled are the targets of the subject's earlier Rollouts that
	// ended without settling the clusters they reached (Unsettled): a
	// cluster that still renders or runs one is this change's to move
	// back, as its end settles it (RevisionFor).
	Unsettled []string
	// PromiseChecks and SkipChecks are the Promise's checks (replacing
	// the strategy's by name, or added to every wave) and the strategy
	// checks it does not run (ResolveChecks).
	PromiseChecks []fleetv1alpha1.Check
	SkipChecks    []string
	// Measurements are what the controller measured of the hub-placed
	// checks Plan listed as due (Decision.Measure), for Plan to record.
	Measurements []Measurement
}

// Health is a cluster's health for the subject, judged from its Work.
type Health string

const (
	// HealthHealthy: every applied resource is Current.
	HealthHealthy Health = "Healthy"
	// HealthProgressing: applied (or applying) and still converging.
	HealthProgressing Health = "Progressing"
	// HealthFailed: the apply failed or a resource failed; Reason says which.
	HealthFailed Health = "Failed"
	// HealthUnknown: nothing reported yet.
	HealthUnknown Health = "Unknown"
)

// ClusterObservation is what the controller sees of one target cluster.
type ClusterObservation struct {
	// Name of the Cluster.
	Name string
	// Labels of the Cluster, matched against wave selectors when the target set is frozen.
	Labels map[string]string
	// Online is true while the agent heartbeats within its grace period
	// (Git-delivered clusters without a health source are always online).
	Online bool
	// LastSeen is when the hub last heard from the cluster's agent (its
	// last heartbeat, dated by the hub); zero if unknown. An offline
	// cluster's health is only last known from then on.
	LastSeen time.Time
	// OnlineSince is when the hub last saw the cluster come online (its
	// Available condition's lastTransitionTime, dated by the hub); zero if
	// unknown. A cluster is healthy, as far as the hub knows, from no
	// earlier: the bake counts no time it was offline.
	OnlineSince time.Time
	// Revision is the revision the cluster's Work renders: the one admitted.
	Revision string
	// AdmittedAt is when Revision was admitted (set on the Work with it);
	// the progress deadline counts from here. Zero if unknown.
	AdmittedAt time.Time
	// AppliedRevision is the revision the agent last applied in full.
	AppliedRevision string
	// Health of the Work as it now is: Progressing (or Unknown) until the
	// agent has acted on the current spec (the Work status's
	// observedGeneration), then the agent's judgement, Failed also when the
	// apply failed. A cluster counts as healthy on the target only when
	// AppliedRevision is the target too.
	Health Health
	// HealthSince is when Health took its current value (the Work's Healthy
	// condition's lastTransitionTime, or the last apply if later). Bake time
	// and progress deadlines count from the later of this and AdmittedAt.
	HealthSince time.Time
	// Reason and Message explain a Failed or Progressing health, e.g.
	// ApplyFailed and the failing resource.
	Reason  string
	Message string
	// Adopted is true when the instance owner adopted the target revision
	// ahead of a Deadline-mode rollout.
	Adopted bool
	// Unattributed, if set, is a failure on the cluster that is not this
	// Rollout's (see Unattributed). Health, AppliedRevision and Reason
	// never include it: they describe only the Works the Rollout moves.
	Unattributed *Unattributed
	// Checks are the agent's reports of the cluster's agent-placed checks,
	// measured on the target revision.
	Checks []AgentCheck
}

// Unattributed is a failure on a target cluster that does not count against
// the Rollout: a Work of the subject failing on another revision than the
// one the Rollout admitted there (the cluster is not admitted yet, or a new
// instance renders the old revision), failing on a Work the Rollout did
// not move (an instance created after the Rollout started), or failing
// after the Work's other revision moved last (an instance change admitted
// on a cluster after the Promise's Rollout admitted it, or the reverse).
// It is reported in status.unattributedFailures and never counts against a
// failure budget.
type Unattributed struct {
	// Revision that failed: the one the failing Work renders, of the
	// Rollout's kind, or the other revision whose move the failure follows.
	Revision string
	// Reason and Message explain the failure, naming the failing instance.
	Reason  string
	Message string
	// Since is when the failure began; zero if unknown.
	Since time.Time
}

// FreezeObservation is an active FleetFreeze.
type FreezeObservation struct {
	// Name of the FleetFreeze.
	Name string
	// Action is Halt (hold every rollout) or Rollback (roll back every rollout in flight).
	Action fleetv1alpha1.FreezeAction
	// Reason shown on every held Rollout.
	Reason string
	// By is who froze the fleet.
	By string
}

// Decision is what Plan wants done.
type Decision struct {
	// Status is the Rollout's next status, observing Input.Generation. The
	// controller writes it; its waves' admitted fields hold the admissions
	// (Admit among them), so that write executes them.
	Status fleetv1alpha1.RolloutStatus
	// Admit lists clusters whose Work must render another revision now,
	// for Events, metrics and traces: the status holds them too. A
	// cluster already rendering the revision is never listed.
	Admit []Admission
	// RequeueAfter is when something can next change by time alone (a bake
	// ends, a progress deadline or the update deadline passes); zero when
	// only a change in the observations can move the Rollout.
	RequeueAfter time.Duration
	// Events to record on the Rollout, in order.
	Events []Event
	// Measure lists the hub-placed checks due now: the controller measures
	// them and plans again with Input.Measurements (which never lists them
	// again, so one more plan is enough).
	Measure []CheckTask
}

// Admission sets which revision one cluster's Work renders.
type Admission struct {
	// Cluster to change.
	Cluster string
	// Revision its Work must render: the target, or the rollback revision.
	Revision string
	// Wave that admitted it, for the Work's spec.rollout.wave.
	Wave string
}

// EventType is the type of a Kubernetes Event.
type EventType string

const (
	// EventNormal is a transition that needs no attention.
	EventNormal EventType = "Normal"
	// EventWarning is a transition someone should look at.
	EventWarning EventType = "Warning"
)

// Event is one Kubernetes Event to record on the Rollout.
type Event struct {
	Type    EventType
	Reason  string
	Message string
}

// Event reasons that are not condition reasons.
const (
	ReasonStarted          = "Started"
	ReasonWaveStarted      = "WaveStarted"
	ReasonWaveSucceeded    = "WaveSucceeded"
	ReasonWaveApproved     = "WaveApproved"
	ReasonBakeReset        = "BakeReset"
	ReasonResumed          = "Resumed"
	ReasonImmediateRollout = "ImmediateRollout"
	ReasonCannotRollBack   = "CannotRollBack"
	ReasonModeChanged      = "ModeChanged"
	ReasonPolicyChanged    = "PolicyChanged"
)
