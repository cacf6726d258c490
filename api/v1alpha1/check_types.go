package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ---- Verification checks (issue 17) ----
//
// A check is policy: the platform team declares it in a RolloutStrategy (for
// every wave, or for one) and may override it per Promise. A wave cannot
// finish baking until its checks have passed for the bake time; a failed
// per-cluster check fails that cluster (reason AnalysisFailed) and counts
// against the wave's failure budget; an inconclusive check holds the wave for
// a person. internal/verify judges results; internal/measure takes them.

// CheckPlacement is where a check is measured.
// +kubebuilder:validation:Enum=Hub;Agent
type CheckPlacement string

const (
	// CheckOnHub: the hub measures, against an endpoint it reaches (a
	// central Prometheus-compatible store). Metric checks only.
	CheckOnHub CheckPlacement = "Hub"
	// CheckOnAgent: each cluster's agent measures inside its member and
	// reports the result in its Work's status; the hub never reaches a member.
	CheckOnAgent CheckPlacement = "Agent"
)

// CheckScope is what one measurement judges.
// +kubebuilder:validation:Enum=Cluster;Wave
type CheckScope string

const (
	// CheckEachCluster: one verdict per admitted cluster; a failure fails
	// that cluster and counts against the failure budget.
	CheckEachCluster CheckScope = "Cluster"
	// CheckWholeWave: one verdict for the wave (a hub metric query over all
	// its admitted clusters); a failure fails the wave.
	CheckWholeWave CheckScope = "Wave"
)

// CheckWhen is when a check measures.
// +kubebuilder:validation:Enum=Bake;Progress;Always
type CheckWhen string

const (
	// CheckDuringBake: from the moment the wave's admitted clusters are all
	// healthy, through the bake time (the default).
	CheckDuringBake CheckWhen = "Bake"
	// CheckDuringProgress: while clusters progress (from a cluster's
	// admission for a per-cluster check, from the wave's start for a
	// whole-wave one) until the bake starts; it never holds the bake.
	CheckDuringProgress CheckWhen = "Progress"
	// CheckAlways: both: while clusters progress and through the bake time.
	CheckAlways CheckWhen = "Always"
)

// Check is one verification a wave must pass.
// +kubebuilder:validation:XValidation:rule="(has(self.metric) ? 1 : 0) + (has(self.http) ? 1 : 0) + (has(self.job) ? 1 : 0) == 1",message="a check is exactly one of metric, http or job"
// +kubebuilder:validation:XValidation:rule="has(self.job) || has(self.condition)",message="metric and http checks need a condition"
// +kubebuilder:validation:XValidation:rule="!has(self.scope) || self.scope == 'Cluster' || (has(self.metric) && (!has(self.metric.placement) || self.metric.placement == 'Hub'))",message="only a hub metric check can judge the whole wave"
// +kubebuilder:validation:XValidation:rule="!has(self.metric) || !has(self.metric.clusterLabel) || !has(self.metric.placement) || self.metric.placement == 'Hub'",message="clusterLabel names the cluster of a hub query's samples: it needs placement Hub"
type Check struct {
	// name of the check, unique within a wave's checks; shown in the
	// Rollout's status, Events and failure reasons.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// metric is a PromQL instant query.
	// +optional
	Metric *MetricCheck `json:"metric,omitempty"`

	// http is a request the agent makes inside its member.
	// +optional
	HTTP *HTTPCheck `json:"http,omitempty"`

	// job is a test Job the agent runs on its member once the cluster's
	// change is healthy.
	// +optional
	Job *JobCheck `json:"job,omitempty"`

	// condition is a CEL expression over the result, true when the check
	// passes. Metric: `result` is the list of the vector's values
	// (list(double)), `samples` the list of {labels, value}, and
	// `clusters` the names of the clusters judged (the one measured, or a
	// whole-wave check's clusters in its window healthy on the target);
	// e.g. `result.size() > 0 && result[0] < 0.05`. HTTP: `result` is
	// {code, body, latencySeconds, json}; e.g. `result.code == 200`. Job: `result`
	// is {succeeded, logTail}; unset, the Job's success. A result with no
	// data, or a condition that cannot be evaluated, is Inconclusive, never
	// passed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Condition string `json:"condition,omitempty"`

	// scope is Cluster (default: one verdict per admitted cluster) or Wave
	// (one verdict for the wave; hub metric checks only).
	// +optional
	// +kubebuilder:default=Cluster
	Scope CheckScope `json:"scope,omitempty"`

	// when is Bake (default), Progress or Always.
	// +optional
	// +kubebuilder:default=Bake
	When CheckWhen `json:"when,omitempty"`

	// interval between measurements.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) > duration('0s')",message="must be more than 0s"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// failureLimit is how many failed measurements are tolerated; one more
	// fails the check. 0 (default) fails it on the first.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailureLimit int32 `json:"failureLimit,omitempty"`

	// inconclusiveLimit is how many inconclusive measurements in a row are
	// tolerated (the endpoint unreachable, no data); one more holds the wave
	// for a person (Stalled), who re-runs or skips the check.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	InconclusiveLimit int32 `json:"inconclusiveLimit,omitempty"`
}

// MetricCheck is a PromQL instant query.
type MetricCheck struct {
	// placement is Hub (default: the hub queries address, a central
	// Prometheus-compatible endpoint such as Thanos, Mimir or
	// VictoriaMetrics) or Agent (each agent queries address inside its
	// member, e.g. http://prometheus.monitoring.svc:9090).
	// +optional
	// +kubebuilder:default=Hub
	Placement CheckPlacement `json:"placement,omitempty"`

	// address is the Prometheus HTTP API's base URL (http or https).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	Address string `json:"address"`

	// query is a PromQL template (Go text/template, missing keys are
	// errors). Variables: .Cluster and .Labels (the cluster measured; ""
	// and empty for a whole-wave query), .Clusters (the wave's admitted
	// clusters), .Wave, .Revision (the target), .FromRevision. Functions:
	// {{ quote .Labels.region }} is a PromQL string literal; {{ regex
	// .Clusters }} an anchored alternation for =~.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`

	// clusterLabel is the label naming each sample's cluster. Scope
	// Cluster: one query returns every cluster's samples, and each
	// cluster's are judged as its result (a per-cluster verdict from one
	// query); unset, the query is run per cluster. Scope Wave: the vector is
	// judged once, and a measurement passes only if every cluster judged
	// (in its window, healthy on the target) has a sample: one missing
	// from the vector (its series stopped) is Inconclusive. Unset for scope
	// Wave, the label `cluster`, when any sample carries it.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	ClusterLabel string `json:"clusterLabel,omitempty"`

	// credentialsRef names a Secret with `token` (a bearer token) or
	// `username` and `password` (basic auth). Hub placement: a Secret on
	// the hub (namespace defaults to flotilla-system). Agent placement: a
	// Secret in the member's flotilla-system namespace. Never printed.
	// +optional
	CredentialsRef *SecretReference `json:"credentialsRef,omitempty"`
}

// HTTPCheck is a request the agent makes inside its member.
type HTTPCheck struct {
	// url to request (http or https), reachable from the agent.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	URL string `json:"url"`

	// method is GET (default) or HEAD.
	// +optional
	// +kubebuilder:default=GET
	// +kubebuilder:validation:Enum=GET;HEAD
	Method string `json:"method,omitempty"`

	// timeout of one request; a request that times out is Inconclusive.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// credentialsRef names a Secret in the member's flotilla-system
	// namespace with `token` or `username` and `password`. Never printed.
	// +optional
	CredentialsRef *SecretReference `json:"credentialsRef,omitempty"`
}

// JobCheck is a test Job the agent creates on its member.
type JobCheck struct {
	// namespace on the member the Job runs in; defaults to flotilla-system.
	// For an instance's Work it must lie within the Work's scope (the
	// instance's tenant slice), like every other object the agent creates.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// template is a batch/v1 Job spec (the `spec` of a Job). The agent
	// names the Job, labels it, sets no service account the spec does not
	// name, and deletes it when the check ends.
	// +required
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Template runtime.RawExtension `json:"template"`

	// timeout is how long the Job may run; one that has not finished by
	// then is a failed measurement.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$')",message="must be a duration under 1000000h of hours, minutes, seconds and milliseconds in that order, each at most once, such as 1h30m, 90s or 500ms"
	// +kubebuilder:validation:XValidation:rule="self.size() < 2 || !self.matches('^([0-9]{1,6}([.][0-9]+)?h)?([0-9]{1,7}([.][0-9]+)?m)?([0-9]{1,9}([.][0-9]+)?s)?([0-9]{1,12}([.][0-9]+)?ms)?$') || duration(self) == duration('0s') || (duration(self) >= duration('1ms') && duration(self) < duration('1000000h'))",message="must be 0s or from 1ms to less than 1000000h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// CheckVerdict is what a check says about its window.
// +kubebuilder:validation:Enum=Pending;Passing;Passed;Failed;Inconclusive;Skipped
type CheckVerdict string

const (
	// CheckPending: not measured since its window started.
	CheckPending CheckVerdict = "Pending"
	// CheckPassing: measured, nothing over a limit, the window not measured through.
	CheckPassing CheckVerdict = "Passing"
	// CheckPassed: measured through its window.
	CheckPassed CheckVerdict = "Passed"
	// CheckFailed: more failed measurements than its failure limit.
	CheckFailed CheckVerdict = "Failed"
	// CheckInconclusive: more inconclusive measurements in a row than its
	// limit; the wave holds for a person.
	CheckInconclusive CheckVerdict = "Inconclusive"
	// CheckSkipped: a person skipped it for this wave, with a recorded reason.
	CheckSkipped CheckVerdict = "Skipped"
)

// CheckMeasurement is one judged result of a check.
type CheckMeasurement struct {
	// time the measurement was taken.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Time metav1.Time `json:"time"`

	// outcome is Passed, Failed or Inconclusive.
	// +required
	// +kubebuilder:validation:Enum=Passed;Failed;Inconclusive
	Outcome string `json:"outcome"`

	// value is the result, printable (e.g. "[0.31]", "HTTP 503 in 12ms").
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value,omitempty"`

	// message says why an Inconclusive measurement is (never a credential).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`
}

// CheckState is what one check's measurements add up to, for one cluster or
// for a wave: counts, not a history (internal/verify.State).
type CheckState struct {
	// since is when the check started measuring (its window's start).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Since metav1.Time `json:"since"`

	// measurements, failures and inconclusives count what was recorded;
	// inconclusiveRun counts the inconclusive ones since the last judged one.
	// +optional
	Measurements int32 `json:"measurements,omitempty"`
	// +optional
	Failures int32 `json:"failures,omitempty"`
	// +optional
	Inconclusives int32 `json:"inconclusives,omitempty"`
	// +optional
	InconclusiveRun int32 `json:"inconclusiveRun,omitempty"`

	// last is the latest measurement.
	// +optional
	Last *CheckMeasurement `json:"last,omitempty"`

	// decisive is the measurement that failed the check or held it: the
	// verdict's evidence.
	// +optional
	Decisive *CheckMeasurement `json:"decisive,omitempty"`
}

// WorkCheck is an agent-placed check as the agent needs it, copied by the hub
// onto the Work of an admitted cluster (the agent cannot read strategies or
// Rollouts): the check and its run, which a person's re-run changes.
type WorkCheck struct {
	// Check is the check, its metric query rendered for this cluster.
	Check `json:",inline"`

	// rollout and wave the check belongs to.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Rollout string `json:"rollout"`
	// +required
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave"`

	// run counts a person's re-runs: a new run starts a fresh state.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Run int32 `json:"run,omitempty"`
}

// WorkCheckStatus is the agent's report on one WorkCheck.
type WorkCheckStatus struct {
	// rollout the check belongs to (spec.checks[].rollout). Empty in a
	// report of an agent older than the field, which no Rollout reads.
	// +optional
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=253
	Rollout string `json:"rollout"`

	// name of the check.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// run the state belongs to (spec.checks[].run when measured).
	// +optional
	Run int32 `json:"run,omitempty"`

	// revision the measurements were taken on (status.appliedRevision then).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision,omitempty"`

	// CheckState is the check's state, inlined.
	CheckState `json:",inline"`
}

// ---- A Rollout's checks: operations (spec) and results (status) ----

// CheckActionType is what a person does to one check in one wave.
// +kubebuilder:validation:Enum=Rerun;Skip
type CheckActionType string

const (
	// CheckRerun measures the check afresh: its states for the wave start
	// over (a new run). A new `at` asks for another re-run.
	CheckRerun CheckActionType = "Rerun"
	// CheckSkip skips the check for the wave, with a recorded reason: it
	// counts neither for nor against the wave.
	CheckSkip CheckActionType = "Skip"
)

// CheckAction is a person's re-run or skip of one check in one wave,
// recorded like an approval: by whom (the requesting user, checked by the
// admission policy flotilla-rollout-actors), when and why.
// +kubebuilder:validation:XValidation:rule="self.action != 'Skip' || (has(self.message) && size(self.message) > 0)",message="skipping a check needs a reason: set message"
type CheckAction struct {
	// wave the action applies to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave"`

	// check, by name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Check string `json:"check"`

	// action is Rerun or Skip.
	// +required
	Action CheckActionType `json:"action"`

	// ChangeRecord says who asked, when and why (a Skip needs a message).
	ChangeRecord `json:",inline"`
}

// The characters of WaveCheckStatus.Marks, one per cluster of the wave.
const (
	// CheckMarkNone: not measured in this run.
	CheckMarkNone = '.'
	// CheckMarkPassing: the last measurement, at lastMeasuredAt, passed and
	// nothing is counted against the cluster. For an agent-placed check,
	// which each agent measures on its own schedule: its agent's last
	// measurement passed.
	CheckMarkPassing = '+'
	// CheckMarkPassingEarlier (hub-placed checks): the last measurement
	// passed, but it was taken before lastMeasuredAt (the cluster was not
	// measured at the last tick); it is measured again before the check can
	// pass.
	CheckMarkPassingEarlier = 'o'
	// CheckMarkCounted: failed or inconclusive measurements are counted,
	// within the limits; the cluster's state is in clusters.
	CheckMarkCounted = '!'
	// CheckMarkFailed: the check failed on the cluster (sticky).
	CheckMarkFailed = 'F'
	// CheckMarkInconclusive: the check is inconclusive on the cluster (sticky).
	CheckMarkInconclusive = 'I'
)

// CheckCounts counts a per-cluster check's clusters by verdict.
type CheckCounts struct {
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// +optional
	Passing int32 `json:"passing,omitempty"`
	// +optional
	Passed int32 `json:"passed,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
}

// ClusterCheckState is one cluster's state of a per-cluster check.
type ClusterCheckState struct {
	// cluster measured.
	// +required
	// +kubebuilder:validation:MaxLength=46
	Cluster string `json:"cluster"`

	// CheckState is its state, inlined.
	CheckState `json:",inline"`
}

// MaxCheckDetails bounds WaveCheckStatus.Clusters: the clusters of a check
// kept in full (failed, inconclusive, or with counted measurements).
const MaxCheckDetails = 10

// WaveCheckStatus is one check's results in one wave.
//
// Its size does not grow with the wave: a whole-wave check keeps one state;
// a per-cluster check keeps one character per cluster (marks, aligned with
// the wave's clusters like admitted) and in full only the clusters whose
// check failed, is inconclusive or has counted failures, at most
// MaxCheckDetails of them. A cluster beyond that bound keeps only its mark,
// read back conservatively (one more bad measurement settles it).
// +kubebuilder:validation:XValidation:rule="!has(self.marks) || size(self.marks) <= 10000",message="marks has at most one character per cluster"
type WaveCheckStatus struct {
	// name of the check.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// scope, placement and when, as resolved for the wave.
	// +optional
	Scope CheckScope `json:"scope,omitempty"`
	// +optional
	Placement CheckPlacement `json:"placement,omitempty"`
	// +optional
	When CheckWhen `json:"when,omitempty"`

	// verdict of the check for the wave: Pending, Passing, Passed (measured
	// through the bake), Failed (a whole-wave check, or every measured
	// cluster), Inconclusive (the wave holds), or Skipped by a person.
	// +optional
	Verdict CheckVerdict `json:"verdict,omitempty"`

	// message says for people what the verdict rests on: the check, the
	// measured value, the condition and when.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// run counts the re-runs acted on; a new run starts every state afresh
	// (agents measure the run named on their Work).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Run int32 `json:"run,omitempty"`

	// rerun is the last re-run acted on (spec.checkActions).
	// +optional
	Rerun *ChangeRecord `json:"rerun,omitempty"`

	// skipped records who skipped the check for this wave, when and why.
	// +optional
	Skipped *ChangeRecord `json:"skipped,omitempty"`

	// since is when the check's window opened in this run.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Since *metav1.Time `json:"since,omitempty"`

	// lastMeasuredAt is when the hub last measured it (every cluster in the
	// window is measured together).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastMeasuredAt *metav1.Time `json:"lastMeasuredAt,omitempty"`

	// wave is the state of a whole-wave check.
	// +optional
	Wave *CheckState `json:"wave,omitempty"`

	// marks has one character per cluster of the wave's clusters, in the
	// same order: "." not measured, "+" passing at lastMeasuredAt, "o"
	// passing earlier, "!" counted failures (state in clusters), "F"
	// failed, "I" inconclusive. Empty for a whole-wave check.
	// +optional
	// +kubebuilder:validation:Pattern=`^[.+o!FI]*$`
	Marks string `json:"marks,omitempty"`

	// counts of the clusters by verdict, for a per-cluster check.
	// +optional
	Counts CheckCounts `json:"counts,omitempty"`

	// clusters keeps in full the clusters whose check failed, is
	// inconclusive or has counted failures (at most 10, failed and
	// inconclusive first).
	// +optional
	// +listType=map
	// +listMapKey=cluster
	// +kubebuilder:validation:MaxItems=10
	Clusters []ClusterCheckState `json:"clusters,omitempty"`
}
