package instanceplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Outcome is what rendering a Target gave.
type Outcome string

const (
	// Rendered: the Target rendered; its Work is written when it changed.
	Rendered Outcome = "Rendered"
	// Failed: rendering failed or was refused; the Work is left as it was
	// and the instance reports the error.
	Failed Outcome = "Failed"
	// Empty: the revision has nothing to render for the subject (fleet
	// resources of a revision without any); the Work goes.
	Empty Outcome = "Empty"
)

// Confinement is what the agent checks a Work's manifests against again:
// its scope (instances only) and the Promise's adoption policy.
type Confinement struct {
	Scope    *fleetv1alpha1.WorkScope
	Adoption fleetv1alpha1.AdoptionPolicy
}

// Adoption is the adoption policy of a revision's output, Never by default.
func Adoption(out *fleetv1alpha1.PromiseOutput) fleetv1alpha1.AdoptionPolicy {
	if out == nil || out.Adoption == "" {
		return fleetv1alpha1.AdoptionNever
	}
	return out.Adoption
}

// Result is what the controller made of one Target: its render.
type Result struct {
	Target  Target
	Outcome Outcome
	// Output is the render's output, encoded (Rendered).
	Output Output
	// Confine is the Work's confinement (Rendered).
	Confine Confinement
	// Err is why the render failed (Failed).
	Err error
	// LatestErr is why the current spec (the latest instance revision)
	// cannot render on the cluster while it still renders an earlier one
	// (Rendered): its Work is written, and the instance reports the
	// failure as it does a Failed render's.
	LatestErr error
}

// Output is a render's output as a Work holds it: each manifest encoded (JSON), in
// order, named (drift exceptions select by name), and the Overrides that
// shaped it. A hub keeps every Work's last render between reconciles; the
// decoded objects were several times larger than their JSON and full of
// pointers for the garbage collector to follow (docs/benchmarks.md).
type Output struct {
	Manifests [][]byte
	// Objects name the manifests whose apiVersion parses.
	Objects []drift.Resource
	// AppliedOverrides are render.Output's.
	AppliedOverrides []string
}

// Encode encodes a render's output as a Work holds it. An output a Work
// cannot hold (more than fleetv1alpha1.MaxWorkManifests objects, or more
// than MaxWorkManifestBytes of them) is an error, which is the cluster's
// failed render: the API server would refuse the Work's write, and the
// instance would not say why its change never lands.
func Encode(out render.Output) (Output, error) {
	if n := len(out.Manifests); n > fleetv1alpha1.MaxWorkManifests {
		return Output{}, fmt.Errorf("the render has %d objects; a Work holds at most %d", n, fleetv1alpha1.MaxWorkManifests)
	}
	size := 0
	r := Output{
		Manifests:        make([][]byte, 0, len(out.Manifests)),
		Objects:          make([]drift.Resource, 0, len(out.Manifests)),
		AppliedOverrides: out.AppliedOverrides,
	}
	for _, m := range out.Manifests {
		raw, err := m.MarshalJSON()
		if err != nil {
			return Output{}, fmt.Errorf("encoding %s %s: %w", m.GetKind(), m.GetName(), err)
		}
		if size += len(raw); size > fleetv1alpha1.MaxWorkManifestBytes {
			return Output{}, fmt.Errorf("the render's objects are more than %d bytes of JSON (%s %s reaches it); a Work holds at most %d",
				fleetv1alpha1.MaxWorkManifestBytes, m.GetKind(), m.GetName(), fleetv1alpha1.MaxWorkManifestBytes)
		}
		r.Manifests = append(r.Manifests, raw)
		if gv, err := schema.ParseGroupVersion(m.GetAPIVersion()); err == nil {
			r.Objects = append(r.Objects, drift.Resource{Group: gv.Group, Kind: m.GetKind(), Namespace: m.GetNamespace(), Name: m.GetName()})
		}
	}
	return r, nil
}

// RenderedAs is t rendered into out, confined by c.
func (t Target) RenderedAs(out Output, c Confinement) Result {
	return Result{Target: t, Outcome: Rendered, Output: out, Confine: c}
}

// WithLatestFailure is r, a render of an earlier instance revision, with
// the current spec's render failing on the same cluster (LatestErr).
func (r Result) WithLatestFailure(err error) Result {
	r.LatestErr = err
	return r
}

// Failed is t's failed render.
func (t Target) Failed(err error) Result { return Result{Target: t, Outcome: Failed, Err: err} }

// Empty is t with nothing to render.
func (t Target) Empty() Result { return Result{Target: t, Outcome: Empty} }

// WorkInputs are what every Work of a plan is made from besides its render.
type WorkInputs struct {
	// DriftPolicy is the Promise's (Correct when empty).
	DriftPolicy fleetv1alpha1.DriftPolicy
	// Exceptions are the DriftExceptions that may excuse drift on the
	// subject's Works (InForce).
	Exceptions []fleetv1alpha1.DriftException
	// View matches the exceptions' cluster selectors.
	View *placement.View
	// Now stamps a Work that moves (AnnotationAdmittedAt, AnnotationMoved).
	Now time.Time
}

// Op is what a Write does.
type Op string

const (
	// Unchanged: the Work already is as desired; nothing is sent.
	Unchanged Op = ""
	Create    Op = "create"
	Update    Op = "update"
)

// Write is one Work as it should be.
type Write struct {
	Cluster string
	// Current is the Work now (nil: none); Desired what it should be.
	Current, Desired *fleetv1alpha1.Work
	Op               Op
	// Moved: the Work moves to other revisions, or is new.
	Moved bool
	// Rollout names the Rollout that admitted it (nil: none).
	Rollout *fleetv1alpha1.RolloutReference
}

// Plan is Finish's answer: what to write and delete.
type Plan struct {
	// Writes are the rendered Targets' Works, in the Targets' order, and
	// the DriftExceptions of Works kept as they are (ExceptionsOnly).
	Writes []Write
	// Delete are the subject's Works on clusters it keeps no Work on (not
	// placed, or nothing to render), by cluster.
	Delete []*fleetv1alpha1.Work
	// Held are the clusters whose Works would be deleted for leaving the
	// placement but stay, as they are; HeldFor says why. Deleting the
	// instance, or unjoining the cluster, still removes them.
	Held []string
	// HeldFor is why Held keep their Works.
	HeldFor HoldReason
	// Waiting are the placed clusters of a new subject (one with no Work
	// yet: a new instance, a new Promise's fleet resources) that get no
	// Work while a FleetFreeze is in force: a new subject passes no wave,
	// so the kill switch holds it whole until it lifts.
	Waiting []string
	// Keep are the clusters the subject keeps a Work on: the Targets'
	// clusters but the Empty ones, whether their render failed or not.
	Keep []string
	// Failed are the failed renders, by cluster.
	Failed map[string]error
	// CheckErrors are, by cluster, the verification checks left out of a
	// written Work as their query cannot be rendered for the cluster.
	CheckErrors map[string]error
}

// HoldReason is why a Plan keeps Works on clusters that left the placement.
type HoldReason string

const (
	// HeldForFreeze: a FleetFreeze is in force (Routing.Frozen); the kill
	// switch stops removals too, whether a Fleet's selector, a cluster's
	// labels or a placement changed.
	HeldForFreeze HoldReason = "FleetFreeze"
	// HeldForNoCluster: the placement matches no cluster at all. That is
	// most often a mistake (a Fleet deleted, a selector or a label
	// mistyped), and removing every Work at once would have the agents
	// prune the workloads on every cluster, outside any wave.
	HeldForNoCluster HoldReason = "NoMatchingClusters"
)

// Finish plans the Works of a Render routing from its Targets' results (one
// per Target, in any order).
func Finish(r Routing, results []Result, in WorkInputs) (Plan, error) {
	p := Plan{Failed: map[string]error{}, CheckErrors: map[string]error{}}
	if r.Decision != Render {
		return p, nil
	}
	keep := make(map[string]bool, len(results))
	arriving := r.Frozen && len(r.Existing) == 0
	for _, rd := range results {
		t := rd.Target
		if arriving && rd.Outcome == Rendered {
			p.Waiting = append(p.Waiting, t.Cluster)
			continue
		}
		switch rd.Outcome {
		case Empty:
			continue
		case Failed:
			p.Failed[t.Cluster] = rd.Err
			if w, ok := ExceptionsOnly(t.Current, in); ok {
				// The Work is kept as it was, but not the exceptions it
				// carries: a revoked one must not go on accepting drift.
				p.Writes = append(p.Writes, w)
			}
		case Rendered:
			desired, err := DesiredWork(r.Subject, rd, in)
			if err != nil {
				return p, err
			}
			if t.ChecksErr != nil {
				p.CheckErrors[t.Cluster] = t.ChecksErr
			}
			if rd.LatestErr != nil {
				p.Failed[t.Cluster] = rd.LatestErr
			}
			w := Write{Cluster: t.Cluster, Current: t.Current, Desired: desired, Moved: t.Moved(), Rollout: t.Rollout}
			switch {
			case t.Current == nil:
				w.Op = Create
			case !UpToDate(t.Current, desired):
				w.Op = Update
			}
			p.Writes = append(p.Writes, w)
		default:
			return p, fmt.Errorf("cluster %s: unknown render outcome %q", t.Cluster, rd.Outcome)
		}
		keep[t.Cluster] = true
		p.Keep = append(p.Keep, t.Cluster)
	}
	clusters := make([]string, 0, len(r.Existing))
	for c := range r.Existing {
		if !keep[c] {
			clusters = append(clusters, c)
		}
	}
	slices.Sort(clusters)
	switch {
	case len(clusters) == 0:
	case r.Frozen:
		p.Held, p.HeldFor = clusters, HeldForFreeze
		return p, nil
	case len(r.Placement.Clusters) == 0:
		p.Held, p.HeldFor = clusters, HeldForNoCluster
		return p, nil
	}
	for _, c := range clusters {
		p.Delete = append(p.Delete, r.Existing[c])
	}
	return p, nil
}

// DesiredWork is the Work the hub wants for rd, a Rendered Target of s.
func DesiredWork(s Subject, rd Result, in WorkInputs) (*fleetv1alpha1.Work, error) {
	t := rd.Target
	ns, name := "", ""
	if s.Instance != nil {
		ns, name = s.Instance.Namespace, s.Instance.Name
	}
	w := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fleetv1alpha1.WorkName(s.Promise, ns, name),
			Namespace: fleetv1alpha1.ClusterNamespace(t.Cluster),
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   s.Promise,
				fleetv1alpha1.LabelRevision:  t.Revision,
				fleetv1alpha1.LabelCluster:   t.Cluster,
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
		},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:          t.Cluster,
			Subject:          s.WorkSubject(),
			Revision:         t.Revision,
			InstanceRevision: t.InstanceRevision,
			Overrides:        rd.Output.AppliedOverrides,
			DriftPolicy:      in.DriftPolicy,
			PrunePolicy:      fleetv1alpha1.PruneDelete,
			Rollout:          t.Rollout,
			DriftExceptions:  WorkExceptions(in.View, t.Cluster, rd.Output.Objects, in.Exceptions),
			Scope:            rd.Confine.Scope,
			Adoption:         rd.Confine.Adoption,
			Checks:           t.Checks,
		},
	}
	if w.Spec.DriftPolicy == "" {
		w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyCorrect
	}
	if s.Instance != nil {
		w.Labels[fleetv1alpha1.LabelInstance] = fleetv1alpha1.WorkLabelValue(name)
		w.Labels[fleetv1alpha1.LabelInstanceNamespace] = ns
	}
	w.Annotations = t.admission(in.Now)
	w.Spec.Manifests = make([]fleetv1alpha1.Manifest, 0, len(rd.Output.Manifests))
	for _, raw := range rd.Output.Manifests {
		// A copy: decoding a write's response into the Work overwrites its
		// manifests' bytes in place (RawExtension.UnmarshalJSON appends to
		// Raw[:0]), and the render may be a memo the next plan reuses.
		w.Spec.Manifests = append(w.Spec.Manifests, fleetv1alpha1.Manifest{RawExtension: runtime.RawExtension{Raw: bytes.Clone(raw)}})
	}
	return w, nil
}

// UpToDate reports whether existing already carries desired's labels and
// spec. Annotations do not count: the admission time is written only with
// a change. Checks count (the agent measures what the Work lists), though
// they are no render input and the agent's spec hash leaves them out.
func UpToDate(existing, desired *fleetv1alpha1.Work) bool {
	for k, v := range desired.Labels {
		if existing.Labels[k] != v {
			return false
		}
	}
	a, b := existing.Spec, desired.Spec
	if a.Cluster != b.Cluster || a.Revision != b.Revision || a.InstanceRevision != b.InstanceRevision ||
		a.DriftPolicy != b.DriftPolicy || a.PrunePolicy != b.PrunePolicy ||
		!equality.Semantic.DeepEqual(a.Subject, b.Subject) || !equality.Semantic.DeepEqual(a.Rollout, b.Rollout) ||
		!slices.Equal(a.Overrides, b.Overrides) || len(a.Manifests) != len(b.Manifests) ||
		!equality.Semantic.DeepEqual(a.DriftExceptions, b.DriftExceptions) ||
		a.Adoption != b.Adoption || !equality.Semantic.DeepEqual(a.Scope, b.Scope) ||
		!equality.Semantic.DeepEqual(a.Checks, b.Checks) {
		return false
	}
	for i := range a.Manifests {
		if !sameJSON(a.Manifests[i].Raw, b.Manifests[i].Raw) {
			return false
		}
	}
	return true
}

// sameJSON compares two JSON documents: byte-equal but for surrounding
// white space (the usual case, as both sides are encoded from maps with
// sorted keys; a render's ends with the newline of json.Encoder, the API
// server's does not) or equal once decoded.
func sameJSON(a, b []byte) bool {
	if bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return equality.Semantic.DeepEqual(x, y)
}

// OnClusters are the Works of works (by cluster) on clusters, in their order.
func OnClusters(works map[string]*fleetv1alpha1.Work, clusters []string) []fleetv1alpha1.Work {
	out := make([]fleetv1alpha1.Work, 0, len(clusters))
	for _, c := range clusters {
		if w, ok := works[c]; ok {
			out = append(out, *w)
		}
	}
	return out
}
