package controller

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConflictRequeue is how soon a reconcile that met a conflict runs again.
// The cache catches up in milliseconds, or in seconds after the hub's API
// server restarts; a reconcile from a copy still behind sends nothing
// (PatchStatus), so retrying at this pace meanwhile costs little.
const ConflictRequeue = 100 * time.Millisecond

// RequeueOnConflict wraps a hub controller's reconciler so that a conflict
// it returns is a requeue logged at V(1), not an error. A conflict only says
// that the copy judged from was stale (another writer was first, or the
// cache lags this controller's own write, as for every object written just
// before the hub's API server restarts); the next reconcile settles it on
// fresh state. Returned, controller-runtime would log each as "Reconciler
// error" with a stack trace. RequeueAfter rather than Requeue (deprecated):
// a fixed short wait fits the cache's lag and needs no rate limiter.
// Reconcile called directly (tests) still returns the conflict.
func RequeueOnConflict[T comparable](r reconcile.TypedReconciler[T]) reconcile.TypedReconciler[T] {
	return reconcile.TypedFunc[T](func(ctx context.Context, req T) (reconcile.Result, error) {
		result, err := r.Reconcile(ctx, req)
		if err != nil && apierrors.IsConflict(err) {
			ctrl.LoggerFrom(ctx).V(1).Info("reconciling again: judged from a stale copy", "reason", err.Error())
			return reconcile.Result{RequeueAfter: ConflictRequeue}, nil
		}
		return result, err
	})
}
