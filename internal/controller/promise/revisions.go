package promise

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// recordRevision returns the revision of the prepared content, creating it
// when it does not exist yet. A chart from a ConfigMap is stored in its
// snapshot before the revision that names it, then owned by that revision.
func (r *Reconciler) recordRevision(ctx context.Context, p *fleetv1alpha1.Promise, prep *prepared, revisions []fleetv1alpha1.PromiseRevision) (*fleetv1alpha1.PromiseRevision, bool, error) {
	if err := r.ensureChartSnapshot(ctx, prep, nil); err != nil {
		return nil, false, err
	}
	rev, isNew, err := r.ensureRevision(ctx, p, prep, revisions)
	if err != nil {
		return nil, false, err
	}
	if err := r.ensureChartSnapshot(ctx, prep, rev); err != nil {
		return nil, false, err
	}
	return rev, isNew, nil
}

// ensureChartSnapshot stores a chart that came from a ConfigMap or a
// repository in its immutable, content-addressed snapshot ConfigMap, owned by
// the revisions that use it (so it goes when the last of them does).
func (r *Reconciler) ensureChartSnapshot(ctx context.Context, prep *prepared, rev *fleetv1alpha1.PromiseRevision) error {
	ref := charts.SnapshotRef(prep.content)
	if prep.chart == nil || ref == nil {
		return nil
	}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
	if r.snapshotKept(ctx, key, rev) {
		return nil
	}
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, key, cm)
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, Labels: map[string]string{
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			}},
			Immutable:  ptr.To(true),
			BinaryData: map[string][]byte{charts.SnapshotKey: prep.chart},
		}
		if rev != nil {
			if err := controllerutil.SetOwnerReference(rev, cm, r.Client.Scheme()); err != nil {
				return err
			}
		}
		err := r.Client.Create(ctx, cm)
		if apierrors.IsNotFound(err) {
			// The platform namespace does not exist yet (a fresh hub): make it.
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ref.Namespace}}
			if err := r.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating namespace %s: %w", ref.Namespace, err)
			}
			err = r.Client.Create(ctx, cm)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("storing chart snapshot %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading chart snapshot %s: %w", key, err)
	}
	if rev == nil {
		return nil
	}
	for _, o := range cm.OwnerReferences {
		if o.UID == rev.UID {
			return nil
		}
	}
	patch := client.MergeFromWithOptions(cm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if err := controllerutil.SetOwnerReference(rev, cm, r.Client.Scheme()); err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, cm, patch); err != nil {
		return fmt.Errorf("adding revision %s as owner of chart snapshot %s: %w", rev.Name, key, err)
	}
	return nil
}

// snapshotKept reports, from the cache of ConfigMap metadata the chart
// resolver keeps, that the snapshot key exists and, for rev, is owned by it:
// a Promise is reconciled at every change of its usage counts, and reading
// the snapshot (up to 1 MiB) from the API server each time is for the first
// only.
func (r *Reconciler) snapshotKept(ctx context.Context, key client.ObjectKey, rev *fleetv1alpha1.PromiseRevision) bool {
	if r.Charts == nil || r.Charts.Meta == nil {
		return false
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
	if err := r.Charts.Meta.Get(ctx, key, m); err != nil {
		return false
	}
	if rev == nil {
		return true
	}
	for _, o := range m.OwnerReferences {
		if o.UID == rev.UID {
			return true
		}
	}
	return false
}

// ensureRevision returns the revision of content, creating it when it does
// not exist yet (numbered one past the highest).
func (r *Reconciler) ensureRevision(ctx context.Context, p *fleetv1alpha1.Promise, prep *prepared, revisions []fleetv1alpha1.PromiseRevision) (*fleetv1alpha1.PromiseRevision, bool, error) {
	content, hash := prep.content, prep.hash
	name := fleetv1alpha1.PromiseRevisionName(p.Name, hash)
	if existing := findRevision(revisions, name); existing != nil {
		if existing.Spec.ContentHash != hash {
			return nil, false, fmt.Errorf("revision %s exists with content hash %s, not %s", name, existing.Spec.ContentHash, hash)
		}
		return existing, false, nil
	}
	rev := &fleetv1alpha1.PromiseRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				fleetv1alpha1.LabelPromise:   p.Name,
				fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue,
			},
		},
		Spec: fleetv1alpha1.PromiseRevisionSpec{
			Promise:     p.Name,
			Revision:    NextRevisionNumber(revisions),
			ContentHash: hash,
			Content:     *content,
		},
	}
	// Revisions go with their Promise (garbage collection); Works and
	// Rollouts refer to them by name only.
	if err := controllerutil.SetOwnerReference(p, rev, r.Client.Scheme()); err != nil {
		return nil, false, err
	}
	if err := r.Client.Create(ctx, rev); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// The cache was behind: read it from the API server.
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rev), rev); err != nil {
				return nil, false, fmt.Errorf("reading revision %s: %w", name, err)
			}
			return rev, false, nil
		}
		return nil, false, fmt.Errorf("creating revision %s: %w", name, err)
	}
	return rev, true, nil
}

// revisions lists the Promise's revisions from the cache.
func (r *Reconciler) revisions(ctx context.Context, promise string) ([]fleetv1alpha1.PromiseRevision, error) {
	list := &fleetv1alpha1.PromiseRevisionList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: promise}); err != nil {
		return nil, fmt.Errorf("listing revisions of promise %s: %w", promise, err)
	}
	return list.Items, nil
}

func findRevision(revisions []fleetv1alpha1.PromiseRevision, name string) *fleetv1alpha1.PromiseRevision {
	for i := range revisions {
		if revisions[i].Name == name {
			return &revisions[i]
		}
	}
	return nil
}

// rolloutRevisions adds to inUse the revisions the Promise's Rollouts may
// still move clusters to: those of every Rollout in flight (a rollback goes
// back to its fromRevision), and the revision the newest one settles on
// (new instances render it).
func (r *Reconciler) rolloutRevisions(ctx context.Context, promise string, inUse map[string]bool) error {
	list := &fleetv1alpha1.RolloutList{}
	if err := r.Client.List(ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace),
		client.MatchingFields{controller.IndexRolloutByPromise: promise}); err != nil {
		return fmt.Errorf("listing rollouts of promise %s: %w", promise, err)
	}
	for _, ro := range list.Items {
		if ro.Status.Phase.IsTerminal() {
			continue
		}
		for _, rev := range []string{ro.Spec.FromRevision, ro.Spec.TargetRevision, ro.Status.RollbackRevision} {
			inUse[rev] = true
		}
		if rb := ro.Spec.Rollback; rb != nil {
			inUse[rb.ToRevision] = true
		}
	}
	if n := rollout.Newest(list.Items); n != nil {
		inUse[rollout.StableRevision(n)] = true
	}
	delete(inUse, "")
	return nil
}

// collectRevisions counts where each revision runs, deletes revisions beyond
// the history limit that nothing uses, and updates the revisions' status. It
// returns the usage and the names deleted.
func (r *Reconciler) collectRevisions(ctx context.Context, p *fleetv1alpha1.Promise, revisions []fleetv1alpha1.PromiseRevision, latest string) (map[string]Usage, []string, error) {
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{controller.IndexWorkByPromise: p.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing works of promise %s: %w", p.Name, err)
	}
	usage, inUse := WorkUsage(works.Items)
	if err := r.rolloutRevisions(ctx, p.Name, inUse); err != nil {
		return nil, nil, err
	}
	deleted := []string{}
	if latest != "" {
		limit := DefaultRevisionHistoryLimit
		if l := p.Spec.RevisionHistoryLimit; l != nil {
			limit = int(*l)
		}
		for _, name := range RevisionsToDelete(revisions, latest, inUse, limit) {
			// With its UID, as the admission policy flotilla-revision-deletion
			// asks of all but a person who means it.
			uid := findRevision(revisions, name).UID
			rev := &fleetv1alpha1.PromiseRevision{ObjectMeta: metav1.ObjectMeta{Name: name}}
			err := r.Client.Delete(ctx, rev, client.Preconditions{UID: &uid})
			if apierrors.IsConflict(err) {
				continue // made again since the cache saw it: the next look judges that one
			}
			if client.IgnoreNotFound(err) != nil {
				return nil, nil, fmt.Errorf("deleting revision %s: %w", name, err)
			}
			ctrl.LoggerFrom(ctx).Info("deleted unused revision", "revision", name)
			deleted = append(deleted, name)
		}
	}
	now := r.Clock.Now()
	written := r.revisionWrites.Of(p.Name)
	written.Retain(func(key client.ObjectKey) bool {
		return !containsString(deleted, key.Name) && slices.ContainsFunc(revisions, func(rev fleetv1alpha1.PromiseRevision) bool {
			return rev.Name == key.Name && rev.DeletionTimestamp == nil
		})
	})
	for i := range revisions {
		rev := &revisions[i]
		if rev.DeletionTimestamp != nil || containsString(deleted, rev.Name) {
			continue
		}
		u := usage[rev.Name]
		if err := controller.PatchStatus(ctx, r.Client, written, rev, func(rev *fleetv1alpha1.PromiseRevision) {
			rev.Status.ObservedGeneration = rev.Generation
			rev.Status.Instances, rev.Status.Clusters = u.Instances, u.Clusters
			set := fleetv1alpha1.NewConditionSetter(&rev.Status.Conditions, rev.Generation, now)
			set.Set(fleetv1alpha1.ConditionRendered, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded, "the templates render every example")
			set.Ready(fleetv1alpha1.ReasonSucceeded, "the templates render every example")
		}); client.IgnoreNotFound(err) != nil {
			return nil, nil, err
		}
	}
	return usage, deleted, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
