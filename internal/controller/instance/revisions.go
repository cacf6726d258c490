package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
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
)

// Instance revisions are ControllerRevisions in the instance's namespace,
// owned by the instance, each snapshotting its spec (without placement, which
// applies at once, like a Promise's policy). A Work names the one it renders
// (spec.instanceRevision), so an instance change can move cluster by cluster
// and a rollback can render the old spec again.

// instanceRevisionsKept is how many of an instance's newest revisions are kept
// besides those in use.
const instanceRevisionsKept = 5

// InstanceRevisionName names the revision of an instance's spec: its kind and
// name, then the first 10 hex digits of the SHA-256 of the spec's JSON.
func InstanceRevisionName(kind, name string, spec []byte) string {
	sum := sha256.Sum256(spec)
	suffix := "-" + hex.EncodeToString(sum[:])[:10]
	prefix := strings.ToLower(kind) + "-" + name
	if len(prefix)+len(suffix) > 253 {
		prefix = prefix[:253-len(suffix)]
	}
	return prefix + suffix
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

// ensureInstanceRevision makes sure the ControllerRevision of inst's current
// spec exists: name (InstanceRevisionName) snapshotting spec (snapshotSpec).
// It creates it when it is new, and collects old unused ones then.
func (r *Reconciler) ensureInstanceRevision(ctx context.Context, key Key, inst *unstructured.Unstructured, name string, spec []byte, works map[string]*fleetv1alpha1.Work) error {
	cr := &appsv1.ControllerRevision{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, cr)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading instance revision %s: %w", name, err)
	}
	existing, err := r.instanceRevisions(ctx, key)
	if err != nil {
		return err
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
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: inst.GetAPIVersion(), Kind: inst.GetKind(), Name: inst.GetName(), UID: inst.GetUID(),
				BlockOwnerDeletion: ptr.To(false),
			}},
		},
		Data:     runtime.RawExtension{Raw: spec},
		Revision: number + 1,
	}
	if err := r.Client.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating instance revision %s: %w", name, err)
	}
	ctrl.LoggerFrom(ctx).Info("created instance revision", "instanceRevision", name, "number", number+1)
	return r.collectInstanceRevisions(ctx, key, append(existing, *cr), works)
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
		if err := r.Client.Delete(ctx, &cr); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting instance revision %s: %w", cr.Name, err)
		}
	}
	return nil
}

// renderableAt returns what to render for inst at instance revision name: a
// copy of inst whose spec is the one name snapshotted (placement removed).
func (r *Reconciler) renderableAt(ctx context.Context, inst *unstructured.Unstructured, name string) (*unstructured.Unstructured, error) {
	cr := &appsv1.ControllerRevision{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: inst.GetNamespace(), Name: name}, cr); err != nil {
		return nil, fmt.Errorf("reading instance revision %s: %w", name, err)
	}
	// utiljson keeps whole numbers int64, as in objects read from the API server.
	spec := map[string]any{}
	if err := utiljson.Unmarshal(cr.Data.Raw, &spec); err != nil {
		return nil, fmt.Errorf("decoding instance revision %s: %w", name, err)
	}
	out := inst.DeepCopy()
	out.Object["spec"] = spec
	return out, nil
}
