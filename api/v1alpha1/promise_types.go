package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TemplateEngine renders a Promise's templates.
// +kubebuilder:validation:Enum=GoTemplate;Helm
type TemplateEngine string

const (
	// TemplateEngineGoTemplate renders Go text/templates (the default).
	TemplateEngineGoTemplate TemplateEngine = "GoTemplate"
	// TemplateEngineHelm renders a Helm chart in-process with the Helm SDK.
	TemplateEngineHelm TemplateEngine = "Helm"
)

// PromiseContent is everything that decides what a Promise renders. A change
// to it creates a new PromiseRevision, which moves across the fleet as a Rollout.
// +kubebuilder:validation:XValidation:rule="!has(self.templates) || (has(self.output) && has(self.output.kinds) && size(self.output.kinds) > 0)",message="templates need output.kinds: the kinds an instance may render (see docs/security.md)"
type PromiseContent struct {
	// api declares the instance kind the hub generates a CRD for.
	// +required
	API PromiseAPI `json:"api"`

	// templates render one instance on one cluster into manifests.
	// +optional
	Templates *Templates `json:"templates,omitempty"`

	// fleetResources are put once on every cluster of the placement,
	// independent of instances (operators, CRDs, policies).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	FleetResources []Manifest `json:"fleetResources,omitempty"`

	// output declares what an instance may render on a member: its kinds,
	// the namespaces beyond the instance's own, and whether objects that
	// already exist may be adopted. The hub refuses a render outside it and
	// the agent refuses such objects again. Required with templates.
	// +optional
	Output *PromiseOutput `json:"output,omitempty"`

	// examples are instance specs the templates must render; a Promise whose
	// examples fail to render is Stalled and none of its revisions roll out.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Examples []PromiseExample `json:"examples,omitempty"`
}

// PromiseOutput confines what a Promise's instances render: every object is
// of a declared kind and namespaced in the instance's namespace or one the
// namespaces rules name. Cluster-scoped objects come only from fleetResources;
// a Namespace object is allowed only when kinds lists Namespace, and only for
// an allowed namespace.
type PromiseOutput struct {
	// kinds an instance may render, e.g. {group: apps, kind: Deployment};
	// the core group is empty. Namespace allows the instance's own Namespace
	// object (and those the namespaces rules allow).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Kinds []OutputKind `json:"kinds,omitempty"`

	// namespaces an instance may render into besides its own: names in which
	// ${namespace} and ${name} stand for the instance's namespace and name,
	// e.g. ${namespace}-cache. A rule without a placeholder names one shared
	// namespace. A rule with ${name} must also have ${namespace}.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.contains('${name}') || r.contains('${namespace}'))",message="a namespaces rule with ${name} must also have ${namespace} (e.g. ${namespace}-${name}): instance names are chosen by teams, so ${name} alone could name kube-system or another team's namespace"
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]|\$\{namespace\}|\$\{name\})([-a-z0-9]|\$\{namespace\}|\$\{name\})*$`
	Namespaces []string `json:"namespaces,omitempty"`

	// adoption says what the agent does with an object that already exists
	// on the member and was not created by the Work: Never (default) reports
	// it as a Conflict and leaves it untouched; IfUnowned adopts it unless
	// another Work owns it or a controller keeps it (an owner reference with
	// controller: true). It applies to the Promise's fleet resources too.
	// +optional
	// +kubebuilder:default=Never
	Adoption AdoptionPolicy `json:"adoption,omitempty"`
}

// OutputKind names a kind by group and kind (any version).
type OutputKind struct {
	// group of the kind; empty for the core group.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$`
	Group string `json:"group,omitempty"`

	// kind, e.g. Deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`
}

// AdoptionPolicy says whether the agent may take over an object that exists
// on the member but was not created by the Work applying it.
// +kubebuilder:validation:Enum=Never;IfUnowned
type AdoptionPolicy string

const (
	// AdoptionNever: an existing object the Work did not create is a Conflict, left untouched.
	AdoptionNever AdoptionPolicy = "Never"
	// AdoptionIfUnowned: an existing object no other Work owns is adopted.
	AdoptionIfUnowned AdoptionPolicy = "IfUnowned"
)

// PromiseSpec is a platform API: what it renders (PromiseContent) and how
// changes to it reach the fleet.
type PromiseSpec struct {
	// PromiseContent is what the Promise renders; it is inlined into spec.
	PromiseContent `json:",inline"`

	// placement picks the clusters instances may land on. Instances narrow it
	// further, and only Fleets whose tenants admit the instance's namespace count.
	// +optional
	Placement *ClusterSelector `json:"placement,omitempty"`

	// updatePolicy is how new revisions move across the fleet.
	// +optional
	// +kubebuilder:default={mode: Progressive}
	UpdatePolicy UpdatePolicy `json:"updatePolicy,omitempty"`

	// strategyRef names the RolloutStrategy for this Promise's Rollouts; unset
	// uses the RolloutStrategy named "default", or one all-at-once wave when none exists.
	// +optional
	StrategyRef *LocalObjectReference `json:"strategyRef,omitempty"`

	// revisionHistoryLimit is how many unused PromiseRevisions to keep. A
	// revision any cluster still runs is never deleted.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`

	// rolloutHistoryLimit is how many ended Rollouts to keep of each subject
	// of change: the Promise's own, and each of its instances'. Older ones
	// are deleted when a Rollout of the same subject ends. A Rollout under
	// way is never deleted, nor the newest Rollout to a revision the
	// subject's Works still render or run (a Work names it, spec.rollout).
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	RolloutHistoryLimit *int32 `json:"rolloutHistoryLimit,omitempty"`

	// driftPolicy is the default for this Promise's Works: Correct (default) or Report.
	// +optional
	// +kubebuilder:default=Correct
	DriftPolicy DriftPolicy `json:"driftPolicy,omitempty"`

	// checks override the strategy's for this Promise's Rollouts: a check
	// named like a strategy check (in any wave) replaces it, another is
	// added to every wave.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	Checks []Check `json:"checks,omitempty"`

	// skipChecks names strategy checks this Promise's Rollouts do not run.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=63
	SkipChecks []string `json:"skipChecks,omitempty"`
}

// PromiseAPI declares the generated instance kind. Instances are namespaced.
// +kubebuilder:validation:XValidation:rule="self.group == oldSelf.group && self.kind == oldSelf.kind",message="api group and kind are immutable"
// +kubebuilder:validation:XValidation:rule="(has(self.plural) && size(self.plural) > 0 ? self.plural : self.kind.lowerAscii() + 's') == (has(oldSelf.plural) && size(oldSelf.plural) > 0 ? oldSelf.plural : oldSelf.kind.lowerAscii() + 's')",message="api plural is immutable: it names the CRD the instances are stored in (publish another Promise to serve another plural)"
// +kubebuilder:validation:XValidation:rule="self.group != 'fleet.flotilla.dev' && !self.group.endsWith('.k8s.io') && !self.group.endsWith('.kubernetes.io')",message="api group must not be fleet.flotilla.dev or a Kubernetes-reserved group"
type PromiseAPI struct {
	// group of the generated kind, e.g. platform.example.com.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	Group string `json:"group"`

	// version of the generated kind, e.g. v1alpha1.
	// +optional
	// +kubebuilder:default=v1alpha1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?$`
	Version string `json:"version,omitempty"`

	// kind of the generated API, e.g. Postgres.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Kind string `json:"kind"`

	// plural resource name; defaults to the lower-cased kind plus "s".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9]*$`
	Plural string `json:"plural,omitempty"`

	// schema is the OpenAPI v3 schema of the instance's spec, as in a CRD's
	// openAPIV3Schema (x-kubernetes-validations CEL rules allowed).
	// +required
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Schema runtime.RawExtension `json:"schema"`
}

// Templates render an instance into manifests with one engine.
// +kubebuilder:validation:XValidation:rule="self.engine == 'Helm' ? has(self.helm) : has(self.goTemplates)",message="engine GoTemplate needs goTemplates; engine Helm needs helm"
// +kubebuilder:validation:XValidation:rule="self.engine == 'Helm' ? !has(self.goTemplates) : !has(self.helm)",message="set only the field of the chosen engine"
type Templates struct {
	// engine is GoTemplate (default) or Helm.
	// +optional
	// +kubebuilder:default=GoTemplate
	Engine TemplateEngine `json:"engine,omitempty"`

	// goTemplates are Go text/templates, each rendering zero or more YAML documents.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	GoTemplates []GoTemplate `json:"goTemplates,omitempty"`

	// helm is the chart to render.
	// +optional
	Helm *HelmTemplate `json:"helm,omitempty"`
}

// GoTemplate is one named Go template.
type GoTemplate struct {
	// name identifies the template in errors, e.g. statefulset.yaml.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// template is the Go text/template source.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=262144
	Template string `json:"template"`
}

// HelmTemplate is a Helm chart from exactly one source, plus base values.
// +kubebuilder:validation:XValidation:rule="(has(self.inline) ? 1 : 0) + (has(self.configMapRef) ? 1 : 0) + (has(self.repository) ? 1 : 0) == 1",message="set exactly one of inline, configMapRef, repository"
type HelmTemplate struct {
	// inline is a packaged chart (.tgz) in standard base64 (as `base64 -w0 chart.tgz`
	// prints it). A string rather than bytes: the API server's CEL rules decode
	// byte-format fields as URL-safe base64 and would reject "+" and "/".
	// +optional
	// +kubebuilder:validation:MaxLength=1048576
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/]*={0,2}$`
	Inline string `json:"inline,omitempty"`

	// configMapRef names a ConfigMap key on the hub holding a packaged chart (binaryData).
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`

	// repository pulls the chart from a chart repository.
	// +optional
	Repository *HelmRepository `json:"repository,omitempty"`

	// values are the base values; the instance spec is merged over them, then Values-type Overrides.
	// +optional
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Values *runtime.RawExtension `json:"values,omitempty"`
}

// ConfigMapKeyReference names one key of a ConfigMap on the hub.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the ConfigMap; defaults to flotilla-system.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`

	// key holding the chart.
	// +optional
	// +kubebuilder:default=chart.tgz
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// HelmRepository is a chart in an HTTP(S) or OCI chart repository.
type HelmRepository struct {
	// url of the repository (https://, http:// or oci://).
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?|oci)://`
	URL string `json:"url"`

	// chart name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Chart string `json:"chart"`

	// version of the chart: an exact version, so revisions are reproducible.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version"`

	// digest is the SHA-256 of the packaged chart (.tgz), "sha256:<64 hex>".
	// The hub records in each revision the digest of the archive it
	// downloaded, and renders the revision only with that archive (kept in a
	// snapshot ConfigMap): a chart republished under the same version is a new
	// revision, which rolls out like any change. Set it to pin the archive:
	// one the repository serves with another digest is refused.
	// +optional
	// +kubebuilder:validation:Pattern=`^sha256:[0-9a-f]{64}$`
	Digest string `json:"digest,omitempty"`

	// secretRef holds repository credentials (username/password): a Secret
	// labelled fleet.flotilla.dev/chart-credentials "true" whose annotation
	// fleet.flotilla.dev/chart-credentials-hosts lists the repository's host.
	// They are only sent there, and only over https (or oci).
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// PromiseExample is an instance spec the templates must render.
type PromiseExample struct {
	// name of the example.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// spec of the example instance.
	// +required
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	Spec runtime.RawExtension `json:"spec"`
}

// PromiseStatus reports revisions and where they run.
type PromiseStatus struct {
	// observedGeneration is the generation the hub last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Rendered, APIEstablished.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// latestRevision is the name of the newest PromiseRevision.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	LatestRevision string `json:"latestRevision,omitempty"`

	// instances is the number of instances of this Promise.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Instances int32 `json:"instances,omitempty"`

	// revisions counts, per revision still in use or kept, how many instances
	// and clusters run it. Newest first.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Revisions []RevisionUsage `json:"revisions,omitempty"`
}

// RevisionUsage counts where one PromiseRevision runs.
type RevisionUsage struct {
	// name of the PromiseRevision.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// revision number.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Revision int64 `json:"revision,omitempty"`

	// instances rendered at this revision on at least one cluster.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Instances int32 `json:"instances,omitempty"`

	// clusters with at least one Work applied at this revision.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Clusters int32 `json:"clusters,omitempty"`
}

// Promise is a platform API published by the platform team: the instance
// schema (the hub generates a CRD from it), render templates, fleet-wide
// resources, placement, update policy and rollout strategy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=prm,categories=flotilla
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.api.kind`
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.api.group`,priority=1
// +kubebuilder:printcolumn:name="Latest",type=string,JSONPath=`.status.latestRevision`
// +kubebuilder:printcolumn:name="Instances",type=integer,JSONPath=`.status.instances`
// +kubebuilder:printcolumn:name="Update",type=string,JSONPath=`.spec.updatePolicy.mode`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="metadata.name must be at most 52 characters (revision names <name>-<10 hex> are used as label values)"
type Promise struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the platform API.
	// +required
	Spec PromiseSpec `json:"spec"`

	// status reports revisions and usage.
	// +optional
	Status PromiseStatus `json:"status,omitempty"`
}

// PromiseList is a list of Promises.
// +kubebuilder:object:root=true
type PromiseList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Promises.
	Items []Promise `json:"items"`
}
