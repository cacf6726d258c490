package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrunePolicy says what happens to member objects that leave a Work, or when
// the Work is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type PrunePolicy string

const (
	// PruneDelete deletes objects the agent created once they leave the Work.
	PruneDelete PrunePolicy = "Delete"
	// PruneOrphan leaves them on the member, unmanaged.
	PruneOrphan PrunePolicy = "Orphan"
)

// ApplyResult is the outcome of the agent's last action on one resource.
// +kubebuilder:validation:Enum=Applied;Failed;Pruned;Skipped;NotSynced;Conflict;Refused
type ApplyResult string

const (
	// ApplyResultApplied: server-side apply succeeded.
	ApplyResultApplied ApplyResult = "Applied"
	// ApplyResultFailed: apply (or prune) failed; see message.
	ApplyResultFailed ApplyResult = "Failed"
	// ApplyResultPruned: the object left the Work and was deleted.
	ApplyResultPruned ApplyResult = "Pruned"
	// ApplyResultSkipped: the agent left the object alone: it carries
	// fleet.flotilla.dev/reconcile: disabled, or (pruning) it is not the
	// Work's to delete.
	ApplyResultSkipped ApplyResult = "Skipped"
	// ApplyResultConflict: the object exists on the member and this Work did
	// not create it (it existed before, or another Work owns it); the agent
	// left it untouched. The message names the owner.
	ApplyResultConflict ApplyResult = "Conflict"
	// ApplyResultRefused: the object is outside the Work's scope (kind or
	// namespace); the agent did not apply it.
	ApplyResultRefused ApplyResult = "Refused"
	// ApplyResultNotSynced (report-only agent, git delivery): the live object
	// is not yet the one the hub wrote to git (missing, or rendered from
	// another revision): the GitOps tool has yet to sync it.
	ApplyResultNotSynced ApplyResult = "NotSynced"
)

// HealthStatus is the kstatus judgement of one resource.
// +kubebuilder:validation:Enum=Current;InProgress;Failed;Unknown
type HealthStatus string

const (
	// HealthCurrent: the resource reached its desired state.
	HealthCurrent HealthStatus = "Current"
	// HealthInProgress: still converging.
	HealthInProgress HealthStatus = "InProgress"
	// HealthFailed: it will not converge without a change.
	HealthFailed HealthStatus = "Failed"
	// HealthUnknown: not judged (yet).
	HealthUnknown HealthStatus = "Unknown"
)

// DriftState says whether observed drift is excused.
// +kubebuilder:validation:Enum=Unexplained;Accepted
type DriftState string

const (
	// DriftUnexplained: no DriftException matches; the drift policy applies.
	DriftUnexplained DriftState = "Unexplained"
	// DriftAccepted: a DriftException matches; the drift is left alone.
	DriftAccepted DriftState = "Accepted"
)

// WorkSubject says what a Work renders: an instance, or a Promise's fleet resources.
type WorkSubject struct {
	// promise is the Promise rendered.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Promise string `json:"promise"`

	// instance rendered; unset for the Promise's fleet resources.
	// +optional
	Instance *InstanceReference `json:"instance,omitempty"`
}

// WorkScope is where an instance's manifests may land on the member. The hub
// derives it from the Promise's output and the instance; the agent applies
// nothing outside it (and cannot change it: it cannot write a Work's spec).
type WorkScope struct {
	// namespaces the objects may be in; a Namespace object may be one of them.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=17
	// +kubebuilder:validation:items:MaxLength=63
	Namespaces []string `json:"namespaces"`

	// kinds the objects may be of. Empty allows no object at all (an
	// instance of a Promise without templates renders none).
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Kinds []OutputKind `json:"kinds"`
}

// WorkSpec is the rendered desired state of one subject on one cluster at one
// revision: the agent's only input.
// +kubebuilder:validation:XValidation:rule="!has(self.subject.instance) || has(self.scope)",message="an instance's Work needs a scope"
type WorkSpec struct {
	// cluster is the member this Work targets; it matches the namespace flotilla-cluster-<cluster>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=46
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="cluster is immutable"
	Cluster string `json:"cluster"`

	// subject is the instance or fleet resources rendered.
	// +required
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="subject is immutable"
	Subject WorkSubject `json:"subject"`

	// revision is the PromiseRevision rendered: the one admitted to this
	// cluster, not simply the latest.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Revision string `json:"revision"`

	// instanceRevision is the instance revision rendered (the name of the
	// ControllerRevision snapshotting the instance spec); empty for fleet resources.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	InstanceRevision string `json:"instanceRevision,omitempty"`

	// manifests are the objects to apply, in any order (the agent orders CRDs
	// and Namespaces first); at most MaxWorkManifests, MaxWorkManifestBytes of
	// JSON in all.
	// +optional
	// +kubebuilder:validation:MaxItems=500
	Manifests []Manifest `json:"manifests,omitempty"`

	// overrides lists the Overrides that shaped these manifests, as namespace/name, in order applied.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=317
	Overrides []string `json:"overrides,omitempty"`

	// driftPolicy for these resources: Correct (default) or Report.
	// +optional
	// +kubebuilder:default=Correct
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// scope confines the manifests of an instance's Work (set by the hub on
	// every one); the agent refuses, per resource, anything outside it.
	// Unset on fleet-resource Works, which only the platform team shapes.
	// +optional
	Scope *WorkScope `json:"scope,omitempty"`

	// adoption is the Promise's: whether the agent may take over an existing
	// object this Work did not create. Never (default) or IfUnowned.
	// +optional
	// +kubebuilder:default=Never
	Adoption AdoptionPolicy `json:"adoption,omitempty"`

	// prunePolicy for resources leaving this Work: Delete (default) or Orphan.
	// +optional
	// +kubebuilder:default=Delete
	PrunePolicy PrunePolicy `json:"prunePolicy,omitempty"`

	// rollout that admitted this revision to the cluster, for commit messages and audit.
	// +optional
	Rollout *RolloutReference `json:"rollout,omitempty"`

	// driftExceptions are the DriftExceptions in force for this Work's
	// resources on this cluster, copied by the hub (the agent cannot read them):
	// drift they cover is reported Accepted and never corrected until expiresAt.
	// Sorted by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	DriftExceptions []WorkDriftException `json:"driftExceptions,omitempty"`

	// checks are the agent-placed verification checks of the Rollouts that
	// admitted this Work's revisions (the Promise's and the instance's own),
	// for this cluster's wave, copied by the hub (the agent cannot read
	// strategies or Rollouts). Keyed by rollout and name: two Rollouts'
	// checks of one name are measured apart. The agent measures each once
	// the Work is healthy (a Job check) or from admission (per the check's
	// when) and reports in status.checks.
	// +optional
	// +listType=map
	// +listMapKey=rollout
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=48
	Checks []WorkCheck `json:"checks,omitempty"`
}

// WorkDriftException is a DriftException as the agent needs it.
type WorkDriftException struct {
	// name of the DriftException as namespace/name.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=317
	Name string `json:"name"`

	// resources it matches on the member.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Resources []ResourceSelector `json:"resources"`

	// paths that may differ (a path covers everything below it); empty means any field.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=512
	Paths []string `json:"paths,omitempty"`

	// expiresAt ends it; the agent checks it itself, so an offline agent
	// expires it on time.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// RolloutReference names a Rollout and the wave that admitted a cluster.
type RolloutReference struct {
	// namespace of the Rollout.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the Rollout.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// wave that admitted the cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Wave string `json:"wave,omitempty"`
}

// WorkStatus is written by the agent (or the git publisher).
type WorkStatus struct {
	// observedGeneration is the Work generation last applied.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Applied, Healthy, Drifted.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(c, c.lastTransitionTime >= timestamp('0001-01-01T00:00:00Z'))",message="lastTransitionTime must be an RFC 3339 time such as 2031-01-02T03:04:05Z"
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// appliedRevision is the revision whose manifests were last applied in full.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AppliedRevision string `json:"appliedRevision,omitempty"`

	// appliedInstanceRevision is the instance revision last applied in full.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AppliedInstanceRevision string `json:"appliedInstanceRevision,omitempty"`

	// lastAppliedTime is when the agent last finished applying.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastAppliedTime *metav1.Time `json:"lastAppliedTime,omitempty"`

	// resources reports each resource of the last apply, and those pruned by it.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	Resources []ResourceStatus `json:"resources,omitempty"`

	// drift summarises drift across the resources.
	// +optional
	Drift *DriftSummary `json:"drift,omitempty"`

	// checks reports each of spec.checks (by rollout and name): its state
	// for the run named.
	// +optional
	// +listType=map
	// +listMapKey=rollout
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=48
	Checks []WorkCheckStatus `json:"checks,omitempty"`
}

// ResourceStatus is the agent's report on one resource.
type ResourceStatus struct {
	// group of the resource; empty for the core group.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`

	// version of the resource.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Version string `json:"version"`

	// kind of the resource.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// namespace of the resource; empty if cluster-scoped.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// name of the resource.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// result of the last action: Applied, Failed, Pruned, Skipped,
	// NotSynced, Conflict (exists, not this Work's) or Refused (outside the scope).
	// +required
	Result ApplyResult `json:"result"`

	// health of the live object: Current, InProgress, Failed or Unknown.
	// +optional
	Health HealthStatus `json:"health,omitempty"`

	// message explains a failure or the health judgement.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// drift on this resource, if any.
	// +optional
	Drift *ResourceDrift `json:"drift,omitempty"`

	// cause is the most specific reason the agent sees on the member for a
	// resource that is not healthy: the waiting or terminated reason of a
	// failing container (ImagePullBackOff, CrashLoopBackOff, OOMKilled…),
	// an unschedulable Pod, a failed Job, read from the object itself or from
	// the Pods it owns. Absent while the resource is healthy.
	// +optional
	Cause *ResourceCause `json:"cause,omitempty"`
}

// ResourceCause is why a resource is not healthy, as seen on the member.
type ResourceCause struct {
	// reason is the Kubernetes reason, e.g. ImagePullBackOff, ErrImagePull,
	// CrashLoopBackOff, OOMKilled, CreateContainerConfigError, Unschedulable,
	// BackoffLimitExceeded, ContainerCreating.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Reason string `json:"reason"`

	// message is the member's own words (the kubelet's, the scheduler's, the
	// Job controller's), cut to 512 bytes.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Message string `json:"message,omitempty"`

	// object names the object the cause was seen on when it is not the
	// resource itself, e.g. "Pod web-7d9f-x2x4z".
	// +optional
	// +kubebuilder:validation:MaxLength=317
	Object string `json:"object,omitempty"`

	// container names the failing container, if the cause is a container's.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Container string `json:"container,omitempty"`

	// severity is Failing for a cause that does not go away by waiting
	// (ImagePullBackOff, CrashLoopBackOff, Unschedulable, a failed Job…):
	// the resource's health is Failed as soon as it is seen; Waiting for a
	// resource still on its way (ContainerCreating, a Pod not yet scheduled).
	// +required
	Severity CauseSeverity `json:"severity"`
}

// CauseSeverity says whether a cause fails a resource now or only explains
// what it waits for.
// +kubebuilder:validation:Enum=Failing;Waiting
type CauseSeverity string

const (
	// CauseFailing: the resource is Failed as soon as the cause is seen.
	CauseFailing CauseSeverity = "Failing"
	// CauseWaiting: the resource is still progressing; the cause says what it waits for.
	CauseWaiting CauseSeverity = "Waiting"
)

// ResourceDrift describes fields of a live object that differ from what was applied.
type ResourceDrift struct {
	// state: Unexplained (the drift policy applies) or Accepted (a DriftException matches).
	// +required
	State DriftState `json:"state"`

	// fields that differ, as dotted paths such as spec.replicas.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=512
	Fields []string `json:"fields,omitempty"`

	// since is when the drift was first seen.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	Since *metav1.Time `json:"since,omitempty"`

	// by is the field manager that made the change, when managedFields tell.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by,omitempty"`

	// exception is the namespace/name of the DriftException accepting it
	// (state Accepted), or accepting acceptedFields (state Unexplained).
	// +optional
	// +kubebuilder:validation:MaxLength=317
	Exception string `json:"exception,omitempty"`

	// acceptedFields are the fields a DriftException accepts on a resource
	// that also has unexplained drift (state Unexplained). The drift policy
	// applies to the fields above; these are left as they are. Empty when the
	// state is Accepted: fields lists them then.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=512
	AcceptedFields []string `json:"acceptedFields,omitempty"`
}

// DriftSummary counts drift across a Work.
type DriftSummary struct {
	// unexplained is the number of resources with unexplained drift.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Unexplained int32 `json:"unexplained,omitempty"`

	// accepted is the number of resources whose drift DriftExceptions accept
	// in full; a resource with unexplained drift too counts as unexplained.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Accepted int32 `json:"accepted,omitempty"`

	// corrections is the total number of drift corrections made.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Corrections int64 `json:"corrections,omitempty"`

	// lastCorrectionTime is when drift was last corrected.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastCorrectionTime *metav1.Time `json:"lastCorrectionTime,omitempty"`

	// lastCheckTime is when drift was last checked.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=date-time
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
}

// Work is the rendered manifests for one instance (or a Promise's fleet
// resources) on one cluster at one revision. The hub writes it into the
// cluster's namespace flotilla-cluster-<name>; the cluster's agent applies it
// and reports status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=wk,categories=flotilla
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.cluster`
// +kubebuilder:printcolumn:name="Promise",type=string,JSONPath=`.spec.subject.promise`
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.subject.instance.name`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.appliedRevision`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Drifted",type=string,JSONPath=`.status.conditions[?(@.type=="Drifted")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Work struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the rendered desired state.
	// +required
	Spec WorkSpec `json:"spec"`

	// status is reported by the agent.
	// +optional
	Status WorkStatus `json:"status,omitempty"`
}

// WorkList is a list of Works.
// +kubebuilder:object:root=true
type WorkList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Works.
	Items []Work `json:"items"`
}

// What one Work holds. The hub refuses a render past either bound for its
// cluster (a failed render the instance reports), rather than write a Work
// the API server refuses: MaxWorkManifests is the manifests' MaxItems, and
// MaxWorkManifestBytes leaves room, under the 1.5 MiB etcd stores in one
// object by default, for the Work's metadata and the status its agent
// writes.
const (
	MaxWorkManifests     = 500
	MaxWorkManifestBytes = 1 << 20
)
