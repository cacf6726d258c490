package promise

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
)

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
	crds, err := r.ownedCRDs(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	var instances []unstructured.Unstructured
	for i := range crds {
		of, err := r.liveInstances(ctx, instanceGVK(&crds[i]))
		if err != nil {
			return ctrl.Result{}, err
		}
		instances = append(instances, of...)
	}
	if len(instances) > 0 && !force {
		// The instances are still served while the deletion waits: their
		// own deletion (the hub's finalizer) is what lets the Promise go,
		// and a hub started since has not watched them yet.
		if err := r.Kinds.Register(ctx, p.Name, instanceapi.GVK(&p.Spec.API)); err != nil {
			return ctrl.Result{}, fmt.Errorf("watching %s instances: %w", p.Spec.API.Kind, err)
		}
		return r.refuseDeletion(ctx, p, instances)
	}
	if len(instances) > 0 {
		if err := r.forceDelete(ctx, p, instances); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.deleteWorks(ctx, p.Name); err != nil {
		return ctrl.Result{}, err
	}
	if len(crds) > 0 {
		for i := range crds {
			crd := &crds[i]
			if !crd.DeletionTimestamp.IsZero() {
				continue
			}
			if err := r.deleteCRD(ctx, crd); err != nil {
				return ctrl.Result{}, err
			}
			log.Info("deleted instance CRD", "crd", crd.Name)
		}
		if held := heldByOthers(instances); len(held) > 0 {
			// Their Works are gone; finalizers that are not the hub's hold
			// them, and with them the CRD and the Promise, for as long as
			// whoever put them there wants: say so.
			return r.waitForFinalizers(ctx, p, held)
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

// ownedCRDs returns, from the API server, the instance CRDs labelled as the
// Promise's: not only the one its spec.api names now, since a Promise whose
// plural changed before the API server refused that still has its instances
// in the CRD of the plural it had.
func (r *Reconciler) ownedCRDs(ctx context.Context, p *fleetv1alpha1.Promise) ([]apiextensionsv1.CustomResourceDefinition, error) {
	list := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := r.APIReader.List(ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: p.Name}); err != nil {
		return nil, fmt.Errorf("listing CRDs of promise %s: %w", p.Name, err)
	}
	return list.Items, nil
}

// deleteCRD deletes a CRD of the Promise. The admission policy
// flotilla-promise-crds lets only a CRD annotated force-delete go, so that a
// careless `kubectl delete crd` does not delete every team's instances: the
// hub annotates it first.
func (r *Reconciler) deleteCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	if crd.Annotations[fleetv1alpha1.AnnotationForceDelete] != fleetv1alpha1.ForceDeleteValue {
		if crd.Annotations == nil {
			crd.Annotations = map[string]string{}
		}
		crd.Annotations[fleetv1alpha1.AnnotationForceDelete] = fleetv1alpha1.ForceDeleteValue
		if err := r.Client.Update(ctx, crd); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("marking CRD %s for deletion: %w", crd.Name, err)
		}
	}
	if err := r.Client.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting CRD %s: %w", crd.Name, err)
	}
	return nil
}

// instanceGVK is the kind of crd's instances, at the version they are stored at.
func instanceGVK(crd *apiextensionsv1.CustomResourceDefinition) schema.GroupVersionKind {
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			gvk.Version = v.Name
		}
	}
	return gvk
}

// liveInstances lists the instances of gvk from the API server (not the
// cache: deleting the API with an instance the cache has not seen yet would
// delete it).
func (r *Reconciler) liveInstances(ctx context.Context, gvk schema.GroupVersionKind) ([]unstructured.Unstructured, error) {
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
	names := instanceNames(instances, func(u *unstructured.Unstructured) string { return u.GetNamespace() + "/" + u.GetName() })
	msg := fmt.Sprintf("deletion waits: %d %s instances exist (%s); delete them, or annotate the Promise %s=%s to delete them and their workloads",
		len(instances), p.Spec.API.Kind, listThem(p), fleetv1alpha1.AnnotationForceDelete, fleetv1alpha1.ForceDeleteValue)
	return r.stallDeletion(ctx, p, len(instances), msg, names)
}

// listThem says where the platform finds the instances a deletion waits
// for. The Promise's status does not name them: every team reads Promises,
// and an instance's name is its team's.
func listThem(p *fleetv1alpha1.Promise) string {
	return "the hub's Event names them; kubectl get " + instanceapi.CRDName(&p.Spec.API) + " -A lists them"
}

// instanceNames names up to three of instances with name.
func instanceNames(instances []unstructured.Unstructured, name func(*unstructured.Unstructured) string) string {
	names := make([]string, 0, 3)
	for i := range instances {
		if i == 3 {
			names = append(names, "…")
			break
		}
		names = append(names, name(&instances[i]))
	}
	return strings.Join(names, ", ")
}

// heldByOthers returns, of instances, those being deleted that finalizers
// other than the hub's hold (its own is gone once their Works are).
func heldByOthers(instances []unstructured.Unstructured) []unstructured.Unstructured {
	var held []unstructured.Unstructured
	for _, inst := range instances {
		if !inst.GetDeletionTimestamp().IsZero() && len(otherFinalizers(&inst)) > 0 {
			held = append(held, inst)
		}
	}
	return held
}

func otherFinalizers(inst *unstructured.Unstructured) []string {
	var out []string
	for _, f := range inst.GetFinalizers() {
		if f != fleetv1alpha1.Finalizer {
			out = append(out, f)
		}
	}
	return out
}

// waitForFinalizers reports a deletion that instances held by others'
// finalizers keep waiting (their Works are deleted already).
func (r *Reconciler) waitForFinalizers(ctx context.Context, p *fleetv1alpha1.Promise, held []unstructured.Unstructured) (ctrl.Result, error) {
	names := instanceNames(held, func(u *unstructured.Unstructured) string {
		return u.GetNamespace() + "/" + u.GetName() + " (" + strings.Join(otherFinalizers(u), ", ") + ")"
	})
	msg := fmt.Sprintf("deletion waits: %d %s instances are held by finalizers that are not the hub's (%s); their Works are deleted; "+
		"the instances, the API and the Promise go once whoever put them there removes them", len(held), p.Spec.API.Kind, listThem(p))
	return r.stallDeletion(ctx, p, len(held), msg, names)
}

// stallDeletion writes that the Promise's deletion waits for n instances
// (msg says why) and looks again later. names names some of them: they go
// only where the platform alone reads, the hub's log and its Warning Event
// on the Promise (in namespace default, as every cluster-scoped object's),
// recorded when msg changes, names first, so that cutting the note to the
// API server's bound leaves them.
func (r *Reconciler) stallDeletion(ctx context.Context, p *fleetv1alpha1.Promise, n int, msg, names string) (ctrl.Result, error) {
	now := r.Clock.Now()
	before := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady).DeepCopy()
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, p, func(p *fleetv1alpha1.Promise) {
		p.Status.ObservedGeneration = p.Generation
		p.Status.Instances = int32(n)
		fleetv1alpha1.NewConditionSetter(&p.Status.Conditions, p.Generation, now).Stalled(fleetv1alpha1.ReasonInstancesPresent, msg)
	}); err != nil {
		return ctrl.Result{}, err
	}
	if before == nil || before.Reason != fleetv1alpha1.ReasonInstancesPresent || before.Message != msg {
		ctrl.LoggerFrom(ctx).Info("promise deletion waits", "message", msg, "instances", names)
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonInstancesPresent, "Reconcile", "%s instances %s; %s", p.Spec.API.Kind, names, msg)
	}
	return ctrl.Result{RequeueAfter: retryDeletion}, nil
}

// forceDelete deletes every Work of the Promise, then the instances (dropping
// the finalizer the instance controller put on them, since their Works are gone).
func (r *Reconciler) forceDelete(ctx context.Context, p *fleetv1alpha1.Promise, instances []unstructured.Unstructured) error {
	log := ctrl.LoggerFrom(ctx)
	if err := r.deleteWorks(ctx, p.Name); err != nil {
		return err
	}
	deleted := 0
	for i := range instances {
		inst := &instances[i]
		if !inst.GetDeletionTimestamp().IsZero() && !controllerutil.ContainsFinalizer(inst, fleetv1alpha1.Finalizer) {
			continue // deleted already: only others' finalizers hold it
		}
		deleted++
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
	if deleted == 0 {
		return nil
	}
	log.Info("force-deleted instances", "count", deleted)
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonForceDeleting, "ForceDelete",
		"deleted %d instances and their Works (%s=%s)", deleted, fleetv1alpha1.AnnotationForceDelete, fleetv1alpha1.ForceDeleteValue)
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
