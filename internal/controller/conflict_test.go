package controller_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/flotilla-dev/flotilla/internal/controller"
)

// A conflict is a requeue, not an error controller-runtime would log as a
// "Reconciler error"; other errors and results pass through.
func TestRequeueOnConflict(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "fleet.flotilla.dev", Resource: "fleets"}, "stores", errors.New("stale"))
	other := errors.New("listing clusters: boom")
	for _, tc := range []struct {
		name       string
		result     reconcile.Result
		err        error
		wantResult reconcile.Result
		wantErr    error
	}{
		{name: "conflict", err: conflict, wantResult: reconcile.Result{RequeueAfter: controller.ConflictRequeue}},
		{name: "wrapped conflict", err: errors.Join(errors.New("patching status"), conflict),
			wantResult: reconcile.Result{RequeueAfter: controller.ConflictRequeue}},
		{name: "other error", err: other, wantErr: other},
		{name: "result", result: reconcile.Result{RequeueAfter: 7}, wantResult: reconcile.Result{RequeueAfter: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := controller.RequeueOnConflict[reconcile.Request](reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				return tc.result, tc.err
			}))
			result, err := r.Reconcile(context.Background(), reconcile.Request{})
			if result != tc.wantResult || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("got %+v, %v; want %+v, %v", result, err, tc.wantResult, tc.wantErr)
			}
		})
	}
}
