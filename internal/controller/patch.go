// Package controller holds what the hub's controllers share: the status patch
// helper and the field indexes. Conditions are set with the API package's
// helpers (fleetv1alpha1.NewConditionSetter), which the agent shares.
package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// PatchStatus sets obj's status with update and sends the difference as a JSON
// merge patch to the status subresource. Nothing is sent when update changes
// nothing, so a reconcile that observes no change costs the API server no
// write. Fields update leaves alone are not in the patch, so writers of other
// status fields (the agent on a Cluster) are never overwritten with stale
// values from the cache. The patch carries the resourceVersion it was built
// on (optimistic locking): a list such as conditions is replaced whole by a
// merge patch, so a write from a stale cache would undo another writer's
// condition (git delivery's Delivered on a Cluster); instead it is refused
// with a conflict and the reconcile runs again on fresh state. The Rollout
// controller's admissions (status.waves[].admitted) are written this way too:
// a plan from a stale Rollout is made again, never written over a newer one.
// It is the hub's one way to write status (docs/development.md).
func PatchStatus[T client.Object](ctx context.Context, c client.Client, obj T, update func(T)) error {
	base, ok := obj.DeepCopyObject().(T)
	if !ok {
		return fmt.Errorf("copying %T", obj)
	}
	update(obj)
	if equality.Semantic.DeepEqual(base, obj) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}
