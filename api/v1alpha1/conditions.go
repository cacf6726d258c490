package v1alpha1

// Condition types. Every kind with a status carries Ready, Reconciling and
// Stalled (the kstatus trio: `kubectl wait --for=condition=Ready` and Argo CD
// health work on them) plus the domain conditions listed per kind.
const (
	// ConditionReady is True when the object has reached its desired state.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the hub is working towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a human: bad input or a
	// failure the hub will not retry on its own.
	ConditionStalled = "Stalled"

	// ConditionAvailable (Cluster) is True while the agent heartbeats in time.
	ConditionAvailable = "Available"
	// ConditionOffline (Cluster) is True once heartbeats are missed past the grace period.
	ConditionOffline = "Offline"
	// ConditionFactsValid (Cluster) is True when every fact the agent reported
	// on its Lease (versions, node count, mode) is valid; False with reason
	// InvalidFacts when one was dropped instead of copied into the status.
	ConditionFactsValid = "FactsValid"
	// ConditionDelivered (Cluster, Git delivery) is True when the last push succeeded.
	ConditionDelivered = "Delivered"

	// ConditionRendered (Promise, PromiseRevision) is True when the templates
	// render every declared example.
	ConditionRendered = "Rendered"
	// ConditionAPIEstablished (Promise) is True when the generated instance CRD is established.
	ConditionAPIEstablished = "APIEstablished"

	// ConditionPlaced (instance) is True when the instance's placement is valid
	// and matches at least one cluster; False with a reason (TenancyViolation,
	// NoMatchingClusters, InvalidSpec) otherwise.
	ConditionPlaced = "Placed"
	// ConditionSpecApplied (instance) is True when every placed cluster
	// applied the instance revision of the current spec; False while a change
	// rolls out (Progressing, RollingBack) and after its Rollout was rolled
	// back (RolledBack) or stopped (RolloutHalted), when the fleet runs an
	// earlier spec than the one the instance shows.
	ConditionSpecApplied = "SpecApplied"

	// ConditionApplied (Work) is True when every manifest was applied to the member.
	ConditionApplied = "Applied"
	// ConditionHealthy (Work) is True when every applied resource is Current.
	ConditionHealthy = "Healthy"
	// ConditionDrifted (Work) is True when a managed field differs from what was
	// applied and no DriftException accepts it.
	ConditionDrifted = "Drifted"

	// ConditionApproved (Rollout) is True when the current wave's approval was given.
	ConditionApproved = "Approved"
	// ConditionSuperseded (Rollout) is True when a newer Rollout took over its subject.
	ConditionSuperseded = "Superseded"
	// ConditionFrozen (Rollout) is True while a FleetFreeze holds it.
	ConditionFrozen = "Frozen"
	// ConditionDegraded (Rollout) is True on a Rollout that Succeeded while
	// some of its clusters were not healthy on the target (failed within
	// their wave's budget, skipped offline, or unhealthy since their wave
	// completed); reason SucceededWithFailures.
	ConditionDegraded = "Degraded"

	// ConditionActive (DriftException, FleetFreeze) is True until it expires.
	// Both kinds are Ready once observed, active or expired: they need
	// nothing to settle.
	ConditionActive = "Active"
)

// Condition reasons: CamelCase, stable, safe to match on in tools.
const (
	ReasonSucceeded   = "Succeeded"
	ReasonProgressing = "Progressing"
	ReasonInvalidSpec = "InvalidSpec"
	ReasonNotFound    = "NotFound"

	// Cluster
	ReasonHeartbeating    = "Heartbeating"
	ReasonHeartbeatMissed = "HeartbeatMissed"
	ReasonNeverConnected  = "NeverConnected"
	// ReasonHeartbeatNotRequired: a git-delivered cluster with healthSource None
	// has no agent, so it counts as available without a heartbeat.
	ReasonHeartbeatNotRequired = "HeartbeatNotRequired"
	// ReasonAgentModeMismatch (Cluster Ready False): the agent heartbeats, but
	// its mode does not fit the cluster's delivery (see AnnotationAgentMode).
	ReasonAgentModeMismatch = "AgentModeMismatch"
	ReasonGitPushed         = "GitPushed"
	ReasonGitPushFailed     = "GitPushFailed"
	ReasonGitAuthFailed     = "GitAuthFailed"
	ReasonGitUnreachable    = "GitUnreachable"
	ReasonSecretNotFound    = "SecretNotFound"
	// ReasonGitPathConflict (Cluster Delivered False): another git cluster on
	// the same repository and branch has the same path, or one holding this
	// cluster's or inside it; neither is published until a person separates them.
	ReasonGitPathConflict = "GitPathConflict"
	// ReasonGitPathInvalid (Cluster Delivered False): the path is the
	// repository's root or inside .git.
	ReasonGitPathInvalid   = "GitPathInvalid"
	ReasonInstancesPresent = "InstancesPresent"

	// ReasonFactsAccepted (Cluster FactsValid True): the Lease's facts are valid.
	ReasonFactsAccepted = "FactsAccepted"
	// ReasonInvalidFacts (Cluster FactsValid False): a fact on the Lease is not
	// valid (not a version, out of bounds, control characters) and was dropped.
	ReasonInvalidFacts = "InvalidFacts"

	// Promise and PromiseRevision
	ReasonRenderFailed    = "RenderFailed"
	ReasonExamplesInvalid = "ExamplesInvalid"
	ReasonAPIConflict     = "APIConflict"
	ReasonChartNotFound   = "ChartNotFound"
	ReasonRevisionCreated = "RevisionCreated"
	ReasonForceDeleting   = "ForceDeleting"
	// ReasonChartCredentialsRefused (Promise Stalled): the Helm repository's
	// secretRef names a Secret not marked for chart repositories, or one whose
	// hosts do not include the repository's, or the repository is plain http.
	ReasonChartCredentialsRefused = "ChartCredentialsRefused"

	// Instances
	ReasonPlaced             = "Placed"
	ReasonTenancyViolation   = "TenancyViolation"
	ReasonNoMatchingClusters = "NoMatchingClusters"
	ReasonPromiseNotReady    = "PromiseNotReady"
	ReasonWorksFailing       = "WorksFailing"
	// ReasonClustersOffline (instance Ready False): every cluster that
	// reports is ready, but some are Offline: what runs there is not known
	// now, whatever their agents last reported.
	ReasonClustersOffline = "ClustersOffline"
	// ReasonRolloutHalted (instance SpecApplied False, Ready False): the
	// Rollout of the current spec was halted, aborted or failed; clusters stay
	// where they were.
	ReasonRolloutHalted = "RolloutHalted"
	// ReasonOutputNotAllowed (instance Ready False): the render produced an
	// object outside the Promise's output (kind or namespace); nothing was written.
	ReasonOutputNotAllowed = "OutputNotAllowed"
	// ReasonValueCreatesStructure (instance Ready False): a value printed by a
	// template made YAML structure (keys, objects, documents); nothing was written.
	ReasonValueCreatesStructure = "ValueCreatesStructure"
	// ReasonRenderBudgetExceeded (instance Ready False): the render ran past
	// its bound on steps or memory and was stopped.
	ReasonRenderBudgetExceeded = "RenderBudgetExceeded"
	// ReasonWorkNameTaken (instance Ready False, Stalled True): the Work's
	// name on a cluster is held by a Work the hub did not write for this
	// instance (a hand-made one, or another subject's); it is left as it is
	// and nothing is written for that cluster.
	ReasonWorkNameTaken = "WorkNameTaken"

	// Override
	ReasonOutOfScope = "OutOfScope"
	// ReasonPatchNotAllowed (Override Ready False): a team's patch changes an
	// object's identity (apiVersion, kind, name, namespace), uses a $
	// directive, or its values break the Promise's schema.
	ReasonPatchNotAllowed = "PatchNotAllowed"

	// Work
	ReasonApplied        = "Applied"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonPruneFailed    = "PruneFailed"
	ReasonHealthy        = "Healthy"
	ReasonUnhealthy      = "Unhealthy"
	ReasonInProgress     = "InProgress"
	ReasonDriftDetected  = "DriftDetected"
	ReasonDriftCorrected = "DriftCorrected"
	ReasonDriftAccepted  = "DriftAccepted"
	ReasonNoDrift        = "NoDrift"

	// Rollout
	ReasonWaitingForApproval       = "WaitingForApproval"
	ReasonBaking                   = "Baking"
	ReasonPaused                   = "Paused"
	ReasonAborted                  = "Aborted"
	ReasonFailureBudgetExceeded    = "FailureBudgetExceeded"
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonClusterOffline           = "ClusterOffline"
	ReasonRollingBack              = "RollingBack"
	ReasonRolledBack               = "RolledBack"
	ReasonSupersededByRollout      = "SupersededByRollout"
	ReasonFleetFrozen              = "FleetFrozen"
	ReasonDeadlineReached          = "DeadlineReached"
	ReasonStrategyNotFound         = "StrategyNotFound"
	ReasonRevisionNotFound         = "RevisionNotFound"
	// ReasonSucceededWithFailures (Rollout Ready True, Degraded True): every
	// wave completed, but not every cluster is healthy on the target.
	ReasonSucceededWithFailures = "SucceededWithFailures"
	// ReasonAnalysisFailed (a Rollout's failed cluster): a verification
	// check of its wave failed on the cluster; the message names the check,
	// the measured value, the condition and when.
	ReasonAnalysisFailed = "AnalysisFailed"
	// ReasonFlapping (a Rollout's failed cluster): the cluster left
	// Healthy on the target (or went offline) more than MaxRelapses times
	// in its wave; the message says how often and what its agent reports
	// now, or that the cluster is offline.
	ReasonFlapping = "Flapping"
	// ReasonCheckInconclusive (Rollout Stalled True): a verification check
	// of the active wave is inconclusive (its endpoint unreachable, no
	// data); the wave holds until a person re-runs or skips it.
	ReasonCheckInconclusive = "CheckInconclusive"
	// ReasonInvalidCheck (Rollout Stalled True): a check the Rollout would
	// run cannot be compiled (its CEL condition or its query template).
	ReasonInvalidCheck = "InvalidCheck"

	// DriftException and FleetFreeze
	ReasonExpired = "Expired"

	// Event reasons on a FleetFreeze, besides ReasonExpired (its until
	// passed). The FleetFreeze controller records it becoming active; the
	// Rollout controller records the Rollouts it holds or rolls back (with
	// the Rollout as the related object).

	// ReasonActivated: the freeze is in force.
	ReasonActivated = "Activated"
	// ReasonRolloutHeld: a Rollout stopped admitting clusters because of the freeze.
	ReasonRolloutHeld = "RolloutHeld"
	// ReasonRolloutRolledBack: the freeze (action Rollback) started rolling a Rollout back.
	ReasonRolloutRolledBack = "RolloutRolledBack"
	// ReasonInForce (DriftException): Active, until expiresAt.
	ReasonInForce = "InForce"
)
