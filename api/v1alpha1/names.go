package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Well-known namespaces and name prefixes.
const (
	// PlatformNamespace holds the platform team's namespaced objects: Rollouts of
	// PromiseRevisions, fleet-wide Overrides, and the hub itself.
	PlatformNamespace = "flotilla-system"

	// ClusterNamespacePrefix prefixes the hub namespace of each member cluster,
	// which holds its Works and its agent's Lease.
	ClusterNamespacePrefix = "flotilla-cluster-"

	// MaxClusterNameLength keeps flotilla-cluster-<name> within a DNS label (63).
	MaxClusterNameLength = 63 - len(ClusterNamespacePrefix)

	// MaxPromiseNameLength keeps PromiseRevision names (<promise>-<10 hex>)
	// within a label value (63), since Works are labelled with them.
	MaxPromiseNameLength = 63 - 1 - revisionHashLength

	revisionHashLength = 10

	// FieldManager is the server-side apply field manager used on member clusters.
	FieldManager = "flotilla"

	// Finalizer is set by the hub on objects whose deletion needs cleanup.
	Finalizer = Group + "/finalizer"

	// FinalizerRecordUnjoin is set by join on a Cluster: however the
	// Cluster is deleted (kubectl included), the hub records its name as
	// unjoined before it goes, so that the name is not joined again unasked
	// (an old agent's watch of its namespace outlives its token).
	FinalizerRecordUnjoin = Group + "/record-unjoin"
)

// Labels set by the hub so objects can be selected without reading them.
const (
	// LabelCluster names the member cluster a Work (or Lease) belongs to.
	LabelCluster = Group + "/cluster"
	// LabelPromise names the Promise a PromiseRevision, Work or Rollout belongs to.
	LabelPromise = Group + "/promise"
	// LabelRevision names the PromiseRevision a Work renders.
	LabelRevision = Group + "/revision"
	// LabelInstance names the instance a Work renders; empty for fleet resources.
	LabelInstance = Group + "/instance"
	// LabelInstanceNamespace is the namespace of the instance a Work renders.
	LabelInstanceNamespace = Group + "/instance-namespace"
	// LabelRollout names the Rollout that last admitted a Work's revision.
	LabelRollout = Group + "/rollout"
	// LabelManagedBy marks objects the hub created, with value ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on Flotilla's objects.
	ManagedByValue = "flotilla"
)

// Annotations the hub sets on its own objects.
const (
	// AnnotationAdmittedAt on a Work is when it last moved (RFC 3339): when
	// its spec.revision or spec.instanceRevision changed, or it was made;
	// when its cluster was admitted to them. Rollout progress deadlines
	// count from it.
	AnnotationAdmittedAt = Group + "/admitted-at"
	// AnnotationMoved on a Work says what its last move changed, written
	// with AnnotationAdmittedAt: "revision", "instanceRevision", or both
	// ("revision,instanceRevision"). A failure after a move of only the
	// other revision follows that change: a Rollout does not count it (see
	// docs/rollouts.md, "Which failures count").
	AnnotationMoved = Group + "/moved"
	// AnnotationStartedBy on a Rollout names who started it ("hub" for the
	// Rollouts the hub creates when a Promise changes).
	AnnotationStartedBy = Group + "/started-by"
	// AnnotationTeamOverrides on an instance revision (ControllerRevision)
	// holds the team's Overrides it snapshots, as a JSON list of {name,
	// spec}: a change of them is an instance change, rolled out as one. An
	// instance revision without it (made before the hub snapshotted them)
	// is frozen with the team's Overrides it renders at the hub's first
	// reconcile of the instance.
	AnnotationTeamOverrides = Group + "/team-overrides"
	// AnnotationInstanceMetadata on an instance revision holds the
	// instance's labels and annotations it snapshots (JSON {labels,
	// annotations}), which Go templates read as .instance.metadata: where
	// the Promise's templates read them, a change of them is an instance
	// change, rolled out as one. An instance revision without it is frozen
	// with those it renders at the hub's first reconcile of the instance.
	AnnotationInstanceMetadata = Group + "/instance-metadata"
)

// Annotations users put on rendered manifests, live member objects or instances.
const (
	// AnnotationReconcile set to ReconcileDisabled stops Flotilla from managing an
	// object without deleting it: no apply, no drift correction, no prune.
	AnnotationReconcile = Group + "/reconcile"
	// AnnotationPrune set to PruneDisabled keeps an object on the member when it
	// leaves its Work.
	AnnotationPrune = Group + "/prune"
	// AnnotationAdoptRevision on an instance names the PromiseRevision its owner
	// adopts ahead of a Deadline-mode rollout (`flotilla upgrade KIND/NAME`).
	AnnotationAdoptRevision = Group + "/adopt-revision"
	// AnnotationForceDelete set to ForceDeleteValue on a Promise lets it be
	// deleted while instances of it exist: the hub deletes the instances' Works
	// (so agents prune what they rendered), then the instances and the API.
	AnnotationForceDelete = Group + "/force-delete"
	// ForceDeleteValue is the value of AnnotationForceDelete that forces deletion.
	ForceDeleteValue = "true"
	// ReconcileDisabled is the value that turns management off.
	ReconcileDisabled = "disabled"
	// PruneDisabled is the value that turns pruning off.
	PruneDisabled = "disabled"
)

// InstancePlacementField is the field of every instance's spec that Flotilla
// reserves: a ClusterSelector (names, fleets, selector) narrowing the Promise's
// placement for that instance. The generated CRD declares it, a Promise schema
// may not, and it is removed from the spec before rendering.
const InstancePlacementField = "placement"

// ClusterNamespace returns the hub namespace of the member cluster name.
func ClusterNamespace(cluster string) string {
	return ClusterNamespacePrefix + cluster
}

// ClusterNameFromNamespace returns the member cluster a hub namespace belongs
// to, and false when ns is not a cluster namespace.
func ClusterNameFromNamespace(ns string) (string, bool) {
	name, ok := strings.CutPrefix(ns, ClusterNamespacePrefix)
	if !ok || name == "" {
		return "", false
	}
	return name, true
}

// PromiseRevisionName returns the name of a Promise's revision with the given
// content hash (hex): the promise name and the hash's first 10 characters.
func PromiseRevisionName(promise, contentHash string) string {
	if len(contentHash) > revisionHashLength {
		contentHash = contentHash[:revisionHashLength]
	}
	return promise + "-" + contentHash
}

// WorkName returns the name of the Work that renders an instance of a Promise
// on one cluster. The Work lives in the cluster's namespace, so the cluster is
// not part of the name. An empty instance name means the Promise's fleet
// resources. Names are deterministic, at most 63 characters, and distinct for
// distinct inputs (a hash suffix avoids collisions such as "a-b"/"c" vs "a"/"b-c").
//
// Every team's instance Works on a cluster share its namespace, and a team
// chooses its instances' names: one that found a name whose Work name equals
// another team's would keep that team's Work off the cluster. The instance
// part is truncated, so the hash is what tells them apart; it keeps 64 bits
// (instanceWorkHashLength), beyond a brute-force search (40 bits, as in
// earlier releases, is minutes of a GPU). Works named before keep their names.
func WorkName(promise, instanceNamespace, instanceName string) string {
	if instanceName == "" {
		return dnsSafe(promise, 45) + "-fleet-" + shortHash(promise)
	}
	h := hashPrefix(promise+"/"+instanceNamespace+"/"+instanceName, instanceWorkHashLength)
	return dnsSafe(promise, 20) + "-" + dnsSafe(instanceName, 25) + "-" + h
}

// instanceWorkHashLength is how many hex digits of SHA-256 an instance's Work
// name ends with: 64 bits.
const instanceWorkHashLength = 16

func shortHash(s string) string { return hashPrefix(s, 10) }

// hashPrefix is the first n hex digits of the SHA-256 of s.
func hashPrefix(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// dnsSafe makes a name part fit a DNS label: dots become dashes, at most n
// characters, no dash at either end.
func dnsSafe(s string, n int) string {
	s = strings.ReplaceAll(s, ".", "-")
	if len(s) > n {
		s = s[:n]
	}
	return strings.Trim(s, "-")
}

// The agent's identity on the hub. `flotilla join` creates all three in the
// cluster's namespace; the agent only reads and updates them (RBAC is scoped by
// resourceNames), so it never needs create rights on the hub.
const (
	// AgentServiceAccount is the hub ServiceAccount the agent authenticates as.
	AgentServiceAccount = "flotilla-agent"
	// AgentLease is the coordination.k8s.io Lease the agent renews as its heartbeat.
	AgentLease = "flotilla-agent"
	// AgentEventSource is the source and reporting controller of the
	// agent's Events, the only one the hub lets an agent's Events name.
	AgentEventSource = "flotilla-agent"
	// LabelWork marks an object on a member with the Work that applied it (see
	// WorkLabelValue), so prune never deletes what another Work or a person created.
	// The namespace is implied: one agent serves one cluster namespace.
	LabelWork = Group + "/work"
)

// WorkLabelValue is the LabelWork value for a Work: its name when that fits a
// label value, else a truncation made unique by a hash of the full name.
func WorkLabelValue(workName string) string {
	if len(workName) <= 63 {
		return workName
	}
	return dnsSafe(workName, 52) + "-" + shortHash(workName)
}

// ValidateClusterName checks a cluster name: a DNS label short enough that
// its hub namespace, flotilla-cluster-<name>, is one too.
func ValidateClusterName(name string) error {
	if name == "" {
		return errors.New("cluster name is required")
	}
	if len(name) > MaxClusterNameLength {
		return fmt.Errorf("cluster name %q is %d characters, at most %d are allowed (it names the hub namespace %s<name>)",
			name, len(name), MaxClusterNameLength, ClusterNamespacePrefix)
	}
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		return fmt.Errorf("cluster name %q: %s", name, strings.Join(msgs, "; "))
	}
	return nil
}
