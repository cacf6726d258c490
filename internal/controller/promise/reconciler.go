// Package promise is the hub's Promise controller. For each Promise it
// generates and installs the instance CRD from spec.api, checks that the
// templates render every declared example, snapshots what renders into an
// immutable, content-addressed PromiseRevision, garbage-collects unused
// revisions, reports where each revision runs, and guards deletion while
// instances exist. Rendering instances is the instance controller's job.
package promise

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Requeue intervals.
const (
	// retryChart is how soon an unreachable chart repository is tried again.
	retryChart = 30 * time.Second
	// retryDeletion is how often a Promise held by its instances looks again
	// (instance deletions also wake it).
	retryDeletion = 30 * time.Second
)

// RolloutStarter starts the Rollout that moves a Promise's instances from
// the revision they run to its new latest revision. It must be idempotent.
type RolloutStarter interface {
	StartRollout(ctx context.Context, p *fleetv1alpha1.Promise, previous, latest string) error
}

// Reconciler reconciles Promises.
type Reconciler struct {
	// Client reads from the hub's cache and writes.
	Client client.Client
	// APIReader reads from the API server: CRDs Flotilla does not manage (the
	// cache holds only its own), and whether instances still exist before the
	// API is deleted.
	APIReader client.Reader
	// Instances reads instances (unstructured) from the cache the instance
	// controller watches them with.
	Instances client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Charts    *charts.Resolver
	// Rollouts, if set, starts the Rollout of each new latest revision.
	Rollouts RolloutStarter
	// rendered remembers content that renders its examples.
	rendered hashSet
	// Kinds is told when a Promise's instance kind is served and when it is gone.
	Kinds *instancekinds.Registry
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("promise", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	p := &fleetv1alpha1.Promise{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !p.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	if !controllerutil.ContainsFinalizer(p, fleetv1alpha1.Finalizer) {
		patch := client.MergeFrom(p.DeepCopy())
		controllerutil.AddFinalizer(p, fleetv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, p, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}

	now := r.Clock.Now()
	before := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	status, created, result, err := r.reconcile(ctx, p, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if prev := p.Status.LatestRevision; r.Rollouts != nil && prev != "" && status.LatestRevision != prev {
		// Before the new revision is published: whoever sees it finds its
		// Rollout, and a crash here starts the same Rollout again.
		if err := r.Rollouts.StartRollout(ctx, p, prev, status.LatestRevision); err != nil {
			return ctrl.Result{}, fmt.Errorf("starting the rollout of %s: %w", status.LatestRevision, err)
		}
	}
	if err := controller.PatchStatus(ctx, r.Client, p, func(p *fleetv1alpha1.Promise) { p.Status = status }); err != nil {
		return ctrl.Result{}, err
	}
	if created != "" {
		log.Info("created revision", "revision", created)
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, fleetv1alpha1.ReasonRevisionCreated, "CreateRevision",
			"created PromiseRevision %s", created)
	}
	r.recordTransition(ctx, p, before)
	return result, nil
}

// recordTransition logs and emits an Event when Ready changes status or reason.
func (r *Reconciler) recordTransition(ctx context.Context, p *fleetv1alpha1.Promise, before *metav1.Condition) {
	after := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	if after == nil || (before != nil && before.Status == after.Status && before.Reason == after.Reason) {
		return
	}
	ctrl.LoggerFrom(ctx).Info("promise readiness changed", "ready", after.Status, "reason", after.Reason, "message", after.Message)
	eventType := corev1.EventTypeNormal
	if after.Status != metav1.ConditionTrue && after.Reason != fleetv1alpha1.ReasonProgressing {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(p, nil, eventType, after.Reason, "Reconcile", "%s", after.Message)
}

// reconcile returns the Promise's new status, the revision it created (if
// any) and when to look again.
func (r *Reconciler) reconcile(ctx context.Context, p *fleetv1alpha1.Promise, now time.Time) (fleetv1alpha1.PromiseStatus, string, ctrl.Result, error) {
	status := *p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	revisions, err := r.revisions(ctx, p.Name)
	if err != nil {
		return status, "", ctrl.Result{}, err
	}
	o := outcome{}
	if latest := findRevision(revisions, status.LatestRevision); latest != nil {
		o.latest, o.latestNumber = latest.Name, latest.Spec.Revision
	}
	var result ctrl.Result
	var created string

	prep, prob, err := r.prepare(ctx, p)
	if err != nil {
		return status, "", ctrl.Result{}, err
	}
	if prob == nil {
		o.rendered = true
		o.established, prob, err = r.installAPI(ctx, p, prep.crd)
		if err != nil {
			return status, "", ctrl.Result{}, err
		}
	} else {
		// The CRD stays as the last good content left it.
		o.established = r.ownedCRDEstablished(ctx, p)
	}
	if prob == nil && o.established {
		// The chart snapshot exists before the revision that names it.
		if err := r.ensureChartSnapshot(ctx, prep, nil); err != nil {
			return status, "", ctrl.Result{}, err
		}
		rev, isNew, err := r.ensureRevision(ctx, p, prep, revisions)
		if err != nil {
			return status, "", ctrl.Result{}, err
		}
		if err := r.ensureChartSnapshot(ctx, prep, rev); err != nil {
			return status, "", ctrl.Result{}, err
		}
		if isNew {
			created = rev.Name
			revisions = append(revisions, *rev)
		}
		o.latest, o.latestNumber = rev.Name, rev.Spec.Revision
	}
	if prob != nil && !prob.stalled {
		result.RequeueAfter = retryChart
	}
	o.problem = prob
	if o.established {
		if err := r.Kinds.Register(ctx, p.Name, instanceapi.GVK(&p.Spec.API)); err != nil {
			return status, "", ctrl.Result{}, fmt.Errorf("watching %s instances: %w", p.Spec.API.Kind, err)
		}
		n, err := r.countInstances(ctx, p)
		if err != nil {
			return status, "", ctrl.Result{}, err
		}
		o.instances = n
	}

	usage, deleted, err := r.collectRevisions(ctx, p, revisions, o.latest)
	if err != nil {
		return status, "", ctrl.Result{}, err
	}
	status.LatestRevision = o.latest
	status.Instances = o.instances
	status.Revisions = RevisionStatuses(revisions, deleted, usage)
	newConditions(&status, p.Generation, o, now)
	return status, created, result, nil
}

// prepared is content ready to become a revision.
type prepared struct {
	content *fleetv1alpha1.PromiseContent
	hash    string
	// chart is the archive to keep in a snapshot ConfigMap, for content whose
	// chart came from a ConfigMap; nil otherwise.
	chart []byte
	crd   *apiextensionsv1.CustomResourceDefinition
}

// prepare generates the CRD, resolves the chart and renders the examples. A
// problem means the content must not become a revision.
func (r *Reconciler) prepare(ctx context.Context, p *fleetv1alpha1.Promise) (*prepared, *problem, error) {
	crd, err := instanceapi.GenerateCRD(p.Name, &p.Spec.API)
	if err != nil {
		return nil, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec, message: err.Error(), stalled: true}, nil
	}
	chartProblem := func(err error) (*prepared, *problem, error) {
		var ce *charts.Error
		if !errors.As(err, &ce) {
			return nil, nil, err
		}
		reason := fleetv1alpha1.ReasonChartNotFound
		if ce.Reason != "" {
			reason = ce.Reason
		}
		return nil, &problem{condition: fleetv1alpha1.ConditionRendered, reason: reason, message: err.Error(), stalled: ce.Permanent}, nil
	}
	content, archive, err := r.Charts.Snapshot(ctx, &p.Spec.PromiseContent)
	if err != nil {
		return chartProblem(err)
	}
	hash, err := ContentHash(content)
	if err != nil {
		return nil, nil, err
	}
	out := &prepared{content: content, hash: hash, chart: archive, crd: crd}
	if r.rendered.has(hash) {
		return out, nil, nil
	}
	var chart *render.LoadedChart
	if archive != nil {
		chart, err = r.Charts.LoadArchive(archive)
	} else {
		chart, err = r.Charts.Load(ctx, content)
	}
	if err != nil {
		return chartProblem(err)
	}
	if err := render.RenderExamples(content, chart); err != nil {
		return nil, &problem{condition: fleetv1alpha1.ConditionRendered, reason: fleetv1alpha1.ReasonRenderFailed,
			message: "no new revision: " + err.Error(), stalled: true}, nil
	}
	r.rendered.add(hash)
	return out, nil, nil
}

// hashSet remembers content hashes whose examples render, so a Promise that
// is reconciled again (its usage counts change with every Work) does not
// render its examples again. Bounded: forgetting costs one render.
type hashSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (h *hashSet) has(hash string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[hash]
}

func (h *hashSet) add(hash string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= 1024 {
		h.m = map[string]bool{}
	}
	h.m[hash] = true
}

// ensureChartSnapshot stores a chart that came from a ConfigMap in its
// immutable, content-addressed snapshot ConfigMap, owned by the revisions
// that use it (so it goes when the last of them does).
func (r *Reconciler) ensureChartSnapshot(ctx context.Context, prep *prepared, rev *fleetv1alpha1.PromiseRevision) error {
	if prep.chart == nil {
		return nil
	}
	ref := prep.content.Templates.Helm.ConfigMapRef
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}
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

// installAPI creates or updates the instance CRD and reports whether it is
// Established. A CRD of the same name that another Promise (or no Promise)
// owns is a conflict.
func (r *Reconciler) installAPI(ctx context.Context, p *fleetv1alpha1.Promise, crd *apiextensionsv1.CustomResourceDefinition) (bool, *problem, error) {
	conflict := func(msg string) *problem {
		return &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonAPIConflict, message: msg, stalled: true}
	}
	owned := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := r.Client.List(ctx, owned, client.MatchingLabels{fleetv1alpha1.LabelPromise: p.Name}); err != nil {
		return false, nil, fmt.Errorf("listing CRDs of promise %s: %w", p.Name, err)
	}
	for _, other := range owned.Items {
		if other.Name != crd.Name && other.DeletionTimestamp.IsZero() {
			return false, conflict(fmt.Sprintf("the Promise already serves CRD %s; changing api.plural is not supported (delete and recreate the Promise)", other.Name)), nil
		}
	}
	existing := &apiextensionsv1.CustomResourceDefinition{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(crd), existing)
	if apierrors.IsNotFound(err) {
		// Not in the cache, which holds only Flotilla's: ask the API server.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(crd), existing)
	}
	switch {
	case apierrors.IsNotFound(err):
		specHash, err := generatedHash(&crd.Spec)
		if err != nil {
			return false, nil, err
		}
		crd.Annotations = map[string]string{annotationCRDSpecHash: specHash}
		if err := r.Client.Create(ctx, crd); err != nil {
			if apierrors.IsInvalid(err) {
				return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec,
					message: "the API server refused the generated CRD: " + err.Error(), stalled: true}, nil
			}
			return false, nil, fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("created instance CRD", "crd", crd.Name)
		return false, nil, nil
	case err != nil:
		return false, nil, fmt.Errorf("reading CRD %s: %w", crd.Name, err)
	}
	if owner := existing.Labels[fleetv1alpha1.LabelPromise]; owner != p.Name {
		if owner == "" {
			return false, conflict(fmt.Sprintf("CRD %s exists and is not managed by Flotilla", crd.Name)), nil
		}
		return false, conflict(fmt.Sprintf("CRD %s belongs to Promise %s", crd.Name, owner)), nil
	}
	if !existing.DeletionTimestamp.IsZero() {
		return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonProgressing,
			message: fmt.Sprintf("CRD %s is being deleted", crd.Name)}, nil
	}
	desired := existing.DeepCopy()
	desired.Labels = crd.Labels
	desired.Spec.Group = crd.Spec.Group
	desired.Spec.Names = crd.Spec.Names
	desired.Spec.Scope = crd.Spec.Scope
	desired.Spec.Versions = instanceapi.KeepStoredVersions(crd.Spec.Versions, existing.Status.StoredVersions)
	// The API server normalises schemas, so compare what was generated, not
	// what is stored: the hash of the generated spec rides on an annotation.
	specHash, err := generatedHash(&desired.Spec)
	if err != nil {
		return false, nil, err
	}
	if desired.Annotations == nil {
		desired.Annotations = map[string]string{}
	}
	desired.Annotations[annotationCRDSpecHash] = specHash
	if !equality.Semantic.DeepEqual(existing.Labels, desired.Labels) || existing.Annotations[annotationCRDSpecHash] != specHash {
		if err := r.Client.Update(ctx, desired); err != nil {
			if apierrors.IsInvalid(err) {
				return false, &problem{condition: fleetv1alpha1.ConditionAPIEstablished, reason: fleetv1alpha1.ReasonInvalidSpec,
					message: "the API server refused the generated CRD: " + err.Error(), stalled: true}, nil
			}
			return false, nil, fmt.Errorf("updating CRD %s: %w", crd.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("updated instance CRD", "crd", crd.Name)
	}
	return crdEstablished(desired), nil, nil
}

// annotationCRDSpecHash records the hash of the generated CRD spec last written.
const annotationCRDSpecHash = fleetv1alpha1.Group + "/spec-hash"

// generatedHash hashes the parts of a CRD spec the hub generates.
func generatedHash(spec *apiextensionsv1.CustomResourceDefinitionSpec) (string, error) {
	b, err := json.Marshal([]any{spec.Group, spec.Names, spec.Scope, spec.Versions})
	if err != nil {
		return "", fmt.Errorf("encoding CRD spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// ownedCRDEstablished reports whether the Promise's CRD exists, is the
// Promise's, and is Established (from the cache).
func (r *Reconciler) ownedCRDEstablished(ctx context.Context, p *fleetv1alpha1.Promise) bool {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: instanceapi.CRDName(&p.Spec.API)}, crd); err != nil {
		return false
	}
	return crd.Labels[fleetv1alpha1.LabelPromise] == p.Name && crd.DeletionTimestamp.IsZero() && crdEstablished(crd)
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
			rev := &fleetv1alpha1.PromiseRevision{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := r.Client.Delete(ctx, rev); client.IgnoreNotFound(err) != nil {
				return nil, nil, fmt.Errorf("deleting revision %s: %w", name, err)
			}
			ctrl.LoggerFrom(ctx).Info("deleted unused revision", "revision", name)
			deleted = append(deleted, name)
		}
	}
	now := r.Clock.Now()
	for i := range revisions {
		rev := &revisions[i]
		if rev.DeletionTimestamp != nil || containsString(deleted, rev.Name) {
			continue
		}
		u := usage[rev.Name]
		if err := controller.PatchStatus(ctx, r.Client, rev, func(rev *fleetv1alpha1.PromiseRevision) {
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

// countInstances counts the Promise's instances in the cache.
func (r *Reconciler) countInstances(ctx context.Context, p *fleetv1alpha1.Promise) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list := &unstructured.UnstructuredList{}
	gvk := instanceapi.GVK(&p.Spec.API)
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.Instances.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("counting %s instances: %w", gvk.Kind, err)
	}
	return int32(len(list.Items)), nil
}

// finalize runs when a Promise is deleted. While instances exist it refuses
// (condition InstancesPresent), unless the Promise carries the force-delete
// annotation: then it deletes every Work of the Promise (agents prune what
// they applied) and the instances. Then it deletes the fleet-resource Works
// and the instance CRD and lets the Promise go.
func (r *Reconciler) finalize(ctx context.Context, p *fleetv1alpha1.Promise) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	if !controllerutil.ContainsFinalizer(p, fleetv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	force := p.Annotations[fleetv1alpha1.AnnotationForceDelete] == fleetv1alpha1.ForceDeleteValue
	crdName := instanceapi.CRDName(&p.Spec.API)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Name: crdName}, crd)
	ours := err == nil && crd.Labels[fleetv1alpha1.LabelPromise] == p.Name
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("reading CRD %s: %w", crdName, err)
	}
	if ours {
		instances, err := r.liveInstances(ctx, p)
		if err != nil {
			return ctrl.Result{}, err
		}
		if len(instances) > 0 && !force {
			return r.refuseDeletion(ctx, p, instances)
		}
		if len(instances) > 0 {
			if err := r.forceDelete(ctx, p, instances); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if err := r.deleteWorks(ctx, p.Name); err != nil {
		return ctrl.Result{}, err
	}
	if ours {
		if crd.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting CRD %s: %w", crdName, err)
			}
			log.Info("deleted instance CRD", "crd", crdName)
		}
		// Wait until the API server has removed it (and any instance left).
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	r.Kinds.Forget(ctx, p.Name)
	patch := client.MergeFrom(p.DeepCopy())
	controllerutil.RemoveFinalizer(p, fleetv1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, p, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("removing finalizer: %w", err)
	}
	log.Info("promise deleted", "forced", force)
	return ctrl.Result{}, nil
}

// liveInstances lists the Promise's instances from the API server (not the
// cache: deleting the API with an instance the cache has not seen yet would
// delete it).
func (r *Reconciler) liveInstances(ctx context.Context, p *fleetv1alpha1.Promise) ([]unstructured.Unstructured, error) {
	gvk := instanceapi.GVK(&p.Spec.API)
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.APIReader.List(ctx, list); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("listing %s instances: %w", gvk.Kind, err)
	}
	return list.Items, nil
}

func (r *Reconciler) refuseDeletion(ctx context.Context, p *fleetv1alpha1.Promise, instances []unstructured.Unstructured) (ctrl.Result, error) {
	names := make([]string, 0, 3)
	for i := range instances {
		if i == 3 {
			names = append(names, "…")
			break
		}
		names = append(names, instances[i].GetNamespace()+"/"+instances[i].GetName())
	}
	msg := fmt.Sprintf("deletion waits: %d %s instances exist (%s); delete them, or annotate the Promise %s=%s to delete them and their workloads",
		len(instances), p.Spec.API.Kind, strings.Join(names, ", "), fleetv1alpha1.AnnotationForceDelete, fleetv1alpha1.ForceDeleteValue)
	now := r.Clock.Now()
	before := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	if err := controller.PatchStatus(ctx, r.Client, p, func(p *fleetv1alpha1.Promise) {
		p.Status.ObservedGeneration = p.Generation
		p.Status.Instances = int32(len(instances))
		fleetv1alpha1.NewConditionSetter(&p.Status.Conditions, p.Generation, now).Stalled(fleetv1alpha1.ReasonInstancesPresent, msg)
	}); err != nil {
		return ctrl.Result{}, err
	}
	r.recordTransition(ctx, p, before)
	return ctrl.Result{RequeueAfter: retryDeletion}, nil
}

// forceDelete deletes every Work of the Promise, then the instances (dropping
// the finalizer the instance controller put on them, since their Works are gone).
func (r *Reconciler) forceDelete(ctx context.Context, p *fleetv1alpha1.Promise, instances []unstructured.Unstructured) error {
	log := ctrl.LoggerFrom(ctx)
	if err := r.deleteWorks(ctx, p.Name); err != nil {
		return err
	}
	for i := range instances {
		inst := &instances[i]
		if controllerutil.ContainsFinalizer(inst, fleetv1alpha1.Finalizer) {
			patch := client.MergeFrom(inst.DeepCopy())
			controllerutil.RemoveFinalizer(inst, fleetv1alpha1.Finalizer)
			if err := r.Client.Patch(ctx, inst, patch); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("removing finalizer of %s/%s: %w", inst.GetNamespace(), inst.GetName(), err)
			}
		}
		if err := r.Client.Delete(ctx, inst); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s/%s: %w", inst.GetNamespace(), inst.GetName(), err)
		}
	}
	log.Info("force-deleted instances", "count", len(instances))
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonForceDeleting, "ForceDelete",
		"deleted %d instances and their Works (%s=%s)", len(instances), fleetv1alpha1.AnnotationForceDelete, fleetv1alpha1.ForceDeleteValue)
	return nil
}

// deleteWorks deletes every Work of the Promise in every cluster namespace.
func (r *Reconciler) deleteWorks(ctx context.Context, promise string) error {
	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.MatchingFields{controller.IndexWorkByPromise: promise}); err != nil {
		return fmt.Errorf("listing works of promise %s: %w", promise, err)
	}
	for i := range works.Items {
		w := &works.Items[i]
		if !w.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Client.Delete(ctx, w); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting work %s/%s: %w", w.Namespace, w.Name, err)
		}
	}
	return nil
}
