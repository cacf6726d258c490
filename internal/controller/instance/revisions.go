package instance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Instance revisions are ControllerRevisions in the instance's namespace,
// owned by the instance, each snapshotting its spec (without placement, which
// applies at once, like a Promise's policy) and the team's Overrides that
// select the instance (AnnotationTeamOverrides). A Work names the one it
// renders (spec.instanceRevision), so an instance change, or a change of
// its team's Overrides, moves cluster by cluster under a Rollout, and a
// rollback renders the old spec and Overrides again. The platform's
// Overrides (flotilla-system) apply at once.

// instanceRevisionsKept is how many of an instance's newest revisions are kept
// besides those in use.
const instanceRevisionsKept = 5

// maxTeamOverridesBytes bounds the team Overrides one instance revision
// snapshots (their JSON), and maxMetadataBytes the instance's labels and
// annotations: together well inside the 256 KiB the API server allows an
// object's annotations.
const (
	maxTeamOverridesBytes = 128 << 10
	maxMetadataBytes      = 64 << 10
)

// maxTeamOverrides bounds how many of a team's Overrides may select one
// instance: half of the 64 a Work lists (spec.overrides), so that a team's
// cannot crowd out the platform's, which apply at once.
const maxTeamOverrides = 32

// instanceSnapshot is what an instance revision snapshots: the instance's
// spec (the ControllerRevision's data), the team's Overrides that select
// the instance (its AnnotationTeamOverrides; nil when none do), and the
// instance's labels and annotations for Go templates (its
// AnnotationInstanceMetadata). Every revision stores the metadata, but it
// is part of what a revision is (its name, and what holds checks) only
// where the Promise's latest templates read it (readsMetadata): elsewhere
// a change of labels changes nothing rendered, and starts no Rollout.
type instanceSnapshot struct {
	spec          []byte
	teamOverrides []byte
	// teamOverrideCount is how many Overrides teamOverrides holds.
	teamOverrideCount int
	metadata          []byte
	readsMetadata     bool
	// rendersMetadata is the metadata the revision named for s renders
	// (instanceRevisionName): metadata, or what it stored before where the
	// templates do not read it.
	rendersMetadata []byte
}

// revisionName names the revision of snapshot s of an instance: its kind and
// name, then the first 10 hex digits of the SHA-256 of the spec's JSON, and
// of the team Overrides' after it when there are any (so an instance none
// select keeps the name it had before Overrides were snapshotted). A
// nonzero attempt is hashed too, and the metadata where the templates read
// it: the names an instanceRevisionName tries after one that holds another
// snapshot (the first name is the same whatever the labels, so that an
// instance keeps its revision when a Promise starts reading them).
func (s instanceSnapshot) revisionName(kind, name string, attempt int) string {
	h := sha256.New()
	h.Write(s.spec)
	if s.teamOverrides != nil {
		h.Write([]byte{0})
		h.Write(s.teamOverrides)
	}
	if attempt > 0 {
		if s.readsMetadata {
			h.Write([]byte{2})
			h.Write(s.metadata)
		}
		h.Write([]byte{1})
		h.Write([]byte(strconv.Itoa(attempt)))
	}
	suffix := "-" + hex.EncodeToString(h.Sum(nil))[:10]
	prefix := strings.ToLower(kind) + "-" + name
	if len(prefix)+len(suffix) > 253 {
		prefix = prefix[:253-len(suffix)]
	}
	return prefix + suffix
}

// teamAnnotation is the AnnotationTeamOverrides of an instance revision of s.
func (s instanceSnapshot) teamAnnotation() string {
	if s.teamOverrides == nil {
		return "[]"
	}
	return string(s.teamOverrides)
}

// holds reports whether instance revision cr snapshots s. One from before
// Overrides were snapshotted (no annotation) holds s if its spec is s's and
// no team Override selects the instance (its name says so). Where the
// templates read the metadata, it must be s's too; a revision from before
// the metadata was snapshotted renders it as it is, and is frozen with it
// (ensureInstanceRevision).
func (s instanceSnapshot) holds(cr *appsv1.ControllerRevision) bool {
	spec, err := instanceplan.CanonicalJSON(cr.Data.Raw)
	if err != nil || !bytes.Equal(spec, s.spec) {
		return false
	}
	if md, ok := cr.Annotations[fleetv1alpha1.AnnotationInstanceMetadata]; ok && s.readsMetadata && md != string(s.metadata) {
		return false
	}
	team, ok := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]
	if !ok {
		return s.teamOverrides == nil
	}
	return team == s.teamAnnotation()
}

// renderedMetadata is the metadata instance revision cr renders (nil when
// it is new): what it stores, or what it is frozen with, s's.
func (s instanceSnapshot) renderedMetadata(cr *appsv1.ControllerRevision) []byte {
	if md, ok := cr.Annotations[fleetv1alpha1.AnnotationInstanceMetadata]; ok {
		return []byte(md)
	}
	return s.metadata
}

// maxRevisionNameAttempts bounds the names instanceRevisionName tries.
const maxRevisionNameAttempts = 8

// instanceRevisionName names the instance revision of snapshot snap of
// inst: the first of its names (revisionName) that is free or holds snap.
// A name is a short hash: another revision may hold it, one from before
// Overrides were snapshotted that was frozen with others
// (freezeRevisionsFromBefore), or a team's crafted collision; taking it
// would render snap as that revision, on every cluster it runs on, without
// a Rollout. It returns the metadata the named revision renders too (where
// the templates do not read it, one the revision stored earlier).
func (r *Reconciler) instanceRevisionName(ctx context.Context, inst *unstructured.Unstructured, snap instanceSnapshot) (string, []byte, error) {
	for attempt := 0; attempt < maxRevisionNameAttempts; attempt++ {
		name := snap.revisionName(inst.GetKind(), inst.GetName(), attempt)
		cr := &appsv1.ControllerRevision{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: inst.GetNamespace(), Name: name}, cr)
		switch {
		case apierrors.IsNotFound(err):
			return name, snap.metadata, nil
		case err != nil:
			return "", nil, fmt.Errorf("reading instance revision %s: %w", name, err)
		case snap.holds(cr) && ownedBy(cr, inst.GetName()):
			// (Another instance's, of a name long enough that both are cut
			// to the same prefix, holds the same spec but its own metadata,
			// and is collected with it.)
			return name, snap.renderedMetadata(cr), nil
		}
	}
	return "", nil, fmt.Errorf("no free instance revision name for %s/%s after %d attempts", inst.GetNamespace(), inst.GetName(), maxRevisionNameAttempts)
}

// snapshotInstance snapshots inst, an instance of promise, with the
// Overrides of its namespace that select it (on any cluster: their
// clusterSelectors are kept and matched at render), and its labels and
// annotations (part of what the revision is where readsMetadata).
func snapshotInstance(inst *unstructured.Unstructured, promise string, overrides []fleetv1alpha1.Override, readsMetadata bool) (instanceSnapshot, error) {
	spec, err := snapshotSpec(inst)
	if err != nil {
		return instanceSnapshot{}, err
	}
	team, count, err := snapshotTeamOverrides(overrides, promise, &placement.Instance{
		Namespace: inst.GetNamespace(), Name: inst.GetName(), Labels: inst.GetLabels(),
	})
	if err != nil {
		return instanceSnapshot{}, err
	}
	md, err := json.Marshal(instanceplan.InstanceMetadata{Labels: render.TemplateLabels(inst.GetLabels()), Annotations: render.TemplateAnnotations(inst.GetAnnotations())})
	if err != nil {
		return instanceSnapshot{}, fmt.Errorf("encoding the instance's labels and annotations: %w", err)
	}
	return instanceSnapshot{spec: spec, teamOverrides: team, teamOverrideCount: count, metadata: md, readsMetadata: readsMetadata}, nil
}

// snapshotSpec is the JSON of the instance's spec without placement; keys
// are sorted, so equal specs give equal bytes.
func snapshotSpec(inst *unstructured.Unstructured) ([]byte, error) {
	spec, _, _ := unstructured.NestedMap(inst.Object, "spec")
	delete(spec, fleetv1alpha1.InstancePlacementField)
	if spec == nil {
		spec = map[string]any{}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the instance spec: %w", err)
	}
	return b, nil
}

// snapshotTeamOverrides is the JSON of the team Overrides (outside
// flotilla-system) that select inst, sorted by name, each patch with its
// keys sorted, so equal Overrides give equal bytes; nil when none do.
func snapshotTeamOverrides(overrides []fleetv1alpha1.Override, promise string, inst *placement.Instance) ([]byte, int, error) {
	var team []instanceplan.TeamOverride
	for i := range overrides {
		o := &overrides[i]
		if o.Namespace == fleetv1alpha1.PlatformNamespace || !placement.SelectsSubject(o, promise, inst) {
			continue
		}
		snap, err := instanceplan.SnapshotOverride(o)
		if err != nil {
			return nil, 0, err
		}
		team = append(team, snap)
	}
	if len(team) == 0 {
		return nil, 0, nil
	}
	sort.Slice(team, func(i, j int) bool { return team[i].Name < team[j].Name })
	b, err := json.Marshal(team)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding the team's overrides: %w", err)
	}
	return b, len(team), nil
}

// decodeTeamOverrides turns an instance revision's AnnotationTeamOverrides
// back into the Overrides of namespace it snapshotted.
func decodeTeamOverrides(raw, namespace string) ([]fleetv1alpha1.Override, error) {
	team, err := instanceplan.DecodeTeamOverrides(raw)
	if err != nil {
		return nil, err
	}
	out := make([]fleetv1alpha1.Override, len(team))
	for i, t := range team {
		out[i] = fleetv1alpha1.Override{Spec: t.Spec}
		out[i].Namespace, out[i].Name = namespace, t.Name
	}
	return out, nil
}

// ensureInstanceRevision makes sure the ControllerRevision of snapshot
// snap of inst exists, named name (instanceRevisionName). It creates it when
// it is new, and collects old unused ones then. A revision of the same name
// made before Overrides were snapshotted (no AnnotationTeamOverrides) is
// marked as snapshotting none: its name says none selected the instance;
// one made before the metadata was (no AnnotationInstanceMetadata), with
// the instance's metadata now, which it renders until then.
// The instance's other revisions from before are frozen
// (freezeRevisionsFromBefore) first, once per instance and hub process:
// the hub makes no more such revisions, and listing an instance's
// revisions at every reconcile would cost each reconcile in a namespace
// of many instances a scan of all their revisions.
func (r *Reconciler) ensureInstanceRevision(ctx context.Context, key Key, inst *unstructured.Unstructured, name string, snap instanceSnapshot, works map[string]*fleetv1alpha1.Work) error {
	snapshot := map[string]string{
		fleetv1alpha1.AnnotationTeamOverrides:    snap.teamAnnotation(),
		fleetv1alpha1.AnnotationInstanceMetadata: string(snap.metadata),
	}
	var existing []appsv1.ControllerRevision
	listed := false
	if _, frozen := r.revisionsFrozen.Load(key); !frozen {
		var err error
		if existing, err = r.instanceRevisions(ctx, key); err != nil {
			return err
		}
		if err := r.freezeRevisionsFromBefore(ctx, existing, name, snapshot); err != nil {
			return err
		}
		r.revisionsFrozen.Store(key, true)
		listed = true
	}
	cr := &appsv1.ControllerRevision{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, cr)
	if err == nil {
		return r.markSnapshot(ctx, cr, snapshot)
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading instance revision %s: %w", name, err)
	}
	if !listed {
		if existing, err = r.instanceRevisions(ctx, key); err != nil {
			return err
		}
	}
	var number int64
	for _, e := range existing {
		number = max(number, e.Revision)
	}
	cr = &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: key.Namespace,
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   key.Promise,
				fleetv1alpha1.LabelInstance:  fleetv1alpha1.WorkLabelValue(key.Name),
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
			Annotations: snapshot,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: inst.GetAPIVersion(), Kind: inst.GetKind(), Name: inst.GetName(), UID: inst.GetUID(),
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Data:     runtime.RawExtension{Raw: snap.spec},
		Revision: number + 1,
	}
	switch err := r.Client.Create(ctx, cr); {
	case apierrors.IsAlreadyExists(err):
		// The cache had not seen it yet: it is this one only if it holds
		// snap; otherwise the next reconcile, with the cache caught up,
		// names another.
		existing := &appsv1.ControllerRevision{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, existing); err != nil {
			return fmt.Errorf("reading instance revision %s: %w", name, err)
		}
		if !snap.holds(existing) || !ownedBy(existing, key.Name) {
			return fmt.Errorf("instance revision %s exists and holds other content than the instance's now; naming another", name)
		}
		return nil
	case err != nil:
		return fmt.Errorf("creating instance revision %s: %w", name, err)
	}
	ctrl.LoggerFrom(ctx).Info("created instance revision", "instanceRevision", name, "number", number+1)
	return r.collectInstanceRevisions(ctx, key, append(existing, *cr), works)
}

// freezeRevisionsFromBefore marks each of an instance's revisions made before
// Overrides, or the instance's metadata, were snapshotted (without
// AnnotationTeamOverrides or AnnotationInstanceMetadata), but the one named
// current, with snapshot: the team Overrides that select the instance now,
// and its labels and annotations now, which those revisions render until
// then. Left as they are, they would render the team's Overrides (or the
// labels) as they are at every change, on the clusters a team keeps on
// them (by not approving, or rolling back, a Rollout of them): a change
// without a Rollout.
func (r *Reconciler) freezeRevisionsFromBefore(ctx context.Context, existing []appsv1.ControllerRevision, current string, snapshot map[string]string) error {
	for i := range existing {
		if cr := &existing[i]; cr.Name != current {
			if err := r.markSnapshot(ctx, cr, snapshot); err != nil {
				return err
			}
		}
	}
	return nil
}

// markSnapshot sets the annotations of snapshot that cr, a revision from
// before they were snapshotted, does not have. The patch carries cr's
// resourceVersion: a copy the cache has not seen marked yet is not marked
// again, with other values.
func (r *Reconciler) markSnapshot(ctx context.Context, cr *appsv1.ControllerRevision, snapshot map[string]string) error {
	patch := client.MergeFromWithOptions(cr.DeepCopy(), client.MergeFromWithOptimisticLock{})
	var marked []string
	for _, k := range slices.Sorted(maps.Keys(snapshot)) {
		if _, ok := cr.Annotations[k]; !ok {
			metav1.SetMetaDataAnnotation(&cr.ObjectMeta, k, snapshot[k])
			marked = append(marked, k)
		}
	}
	if len(marked) == 0 {
		return nil
	}
	if err := r.Client.Patch(ctx, cr, patch); err != nil {
		return fmt.Errorf("freezing instance revision %s with what it renders: %w", cr.Name, err)
	}
	ctrl.LoggerFrom(ctx).Info("froze an instance revision from before with what it renders", "instanceRevision", cr.Name, "annotations", marked)
	return nil
}

// instanceRevisions lists the revisions of one instance from the cache.
func (r *Reconciler) instanceRevisions(ctx context.Context, key Key) ([]appsv1.ControllerRevision, error) {
	list := &appsv1.ControllerRevisionList{}
	if err := r.Client.List(ctx, list, client.InNamespace(key.Namespace), client.MatchingLabels{
		fleetv1alpha1.LabelPromise:  key.Promise,
		fleetv1alpha1.LabelInstance: fleetv1alpha1.WorkLabelValue(key.Name),
	}); err != nil {
		return nil, fmt.Errorf("listing instance revisions: %w", err)
	}
	out := list.Items[:0]
	for _, cr := range list.Items {
		if ownedBy(&cr, key.Name) {
			out = append(out, cr)
		}
	}
	return out, nil
}

func ownedBy(cr *appsv1.ControllerRevision, instance string) bool {
	for _, o := range cr.OwnerReferences {
		if o.Name == instance {
			return true
		}
	}
	return false
}

// collectInstanceRevisions deletes an instance's revisions beyond the newest
// instanceRevisionsKept that no Work renders or last applied and no Rollout
// of the instance in flight names.
func (r *Reconciler) collectInstanceRevisions(ctx context.Context, key Key, revisions []appsv1.ControllerRevision, works map[string]*fleetv1alpha1.Work) error {
	if len(revisions) <= instanceRevisionsKept {
		return nil
	}
	inUse := map[string]bool{}
	for _, w := range works {
		inUse[w.Spec.InstanceRevision], inUse[w.Status.AppliedInstanceRevision] = true, true
	}
	rollouts := &fleetv1alpha1.RolloutList{}
	if err := r.Client.List(ctx, rollouts, client.InNamespace(key.Namespace),
		client.MatchingFields{controller.IndexRolloutByInstance: controller.InstanceKey(key.Namespace, key.Name)}); err != nil {
		return fmt.Errorf("listing rollouts: %w", err)
	}
	for _, ro := range rollouts.Items {
		if ro.Spec.Subject.Promise == key.Promise {
			inUse[ro.Spec.FromRevision], inUse[ro.Spec.TargetRevision], inUse[ro.Status.RollbackRevision] = true, true, true
		}
	}
	sort.Slice(revisions, func(i, j int) bool { return revisions[i].Revision > revisions[j].Revision })
	for _, cr := range revisions[instanceRevisionsKept:] {
		if inUse[cr.Name] {
			continue
		}
		// With its UID, as the admission policy flotilla-revision-deletion
		// asks; one made again since the cache saw it (a Conflict) stays.
		if err := r.Client.Delete(ctx, &cr, client.Preconditions{UID: &cr.UID}); client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting instance revision %s: %w", cr.Name, err)
		}
	}
	return nil
}

// renderable is what an instance revision renders: the instance with the
// revision's spec (placement removed), and its team's Overrides.
type renderable struct {
	inst *unstructured.Unstructured
	// team are the team Overrides the revision snapshotted; liveTeam: the
	// revision predates the snapshots and the cache has not seen it frozen
	// (freezeRevisionsFromBefore) yet: it renders the team's Overrides as
	// they are, which it is being frozen with.
	team     []fleetv1alpha1.Override
	liveTeam bool
}

// setMetadata gives the instance rendered the labels and annotations of an
// instance revision (AnnotationInstanceMetadata). Without them (a revision
// from before, not yet frozen) it keeps the instance's own, which the
// revision is being frozen with.
func (rr renderable) setMetadata(raw []byte) error {
	md, err := instanceplan.DecodeInstanceMetadata(string(raw))
	if err != nil {
		return err
	}
	rr.inst.SetLabels(md.Labels)
	rr.inst.SetAnnotations(md.Annotations)
	return nil
}

// renderableAt returns what to render for inst at instance revision name.
func (r *Reconciler) renderableAt(ctx context.Context, inst *unstructured.Unstructured, name string) (renderable, error) {
	cr := &appsv1.ControllerRevision{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: inst.GetNamespace(), Name: name}, cr); err != nil {
		return renderable{}, fmt.Errorf("reading instance revision %s: %w", name, err)
	}
	// utiljson keeps whole numbers int64, as in objects read from the API server.
	spec := map[string]any{}
	if err := utiljson.Unmarshal(cr.Data.Raw, &spec); err != nil {
		return renderable{}, fmt.Errorf("decoding instance revision %s: %w", name, err)
	}
	out := renderable{inst: inst.DeepCopy()}
	out.inst.Object["spec"] = spec
	if raw, ok := cr.Annotations[fleetv1alpha1.AnnotationInstanceMetadata]; ok {
		if err := out.setMetadata([]byte(raw)); err != nil {
			return renderable{}, fmt.Errorf("instance revision %s: %w", name, err)
		}
	}
	raw, ok := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]
	if !ok {
		out.liveTeam = true
		return out, nil
	}
	team, err := decodeTeamOverrides(raw, inst.GetNamespace())
	if err != nil {
		return renderable{}, fmt.Errorf("decoding the team overrides of instance revision %s: %w", name, err)
	}
	out.team = team
	return out, nil
}
