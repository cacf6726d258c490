package instance

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
)

// InstanceRolloutStarter starts the Rollout of an instance change: some of
// the instance's Works render previous while its spec is now latest. It is
// called on every reconcile where that holds, so it must be idempotent (and
// start nothing when a Rollout to latest already exists).
type InstanceRolloutStarter interface {
	StartInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, previous, latest string) error
}

// rolloutsFor reads the Rollouts that decide which revisions key's Works
// render, once per reconcile from the cache. Which cluster renders which
// revision is the Rollouts' status (instanceplan.Rollouts): the Rollout
// controller writes it, this controller only reads it, and neither holds it
// in memory.
func (r *Reconciler) rolloutsFor(ctx context.Context, key Key) (instanceplan.Rollouts, error) {
	promise, err := controller.PromiseRollouts(ctx, r.Client, key.Promise)
	if err != nil || key.IsFleet() {
		return instanceplan.NewRollouts(promise, nil, r.AdmitLatest), err
	}
	own, err := controller.InstanceRollouts(ctx, r.Client, key.Promise, key.Namespace, key.Name)
	if err != nil {
		return instanceplan.Rollouts{}, err
	}
	return instanceplan.NewRollouts(promise, own, r.AdmitLatest), nil
}

// promiseRollouts reads the Rollouts of promise's changes.
func promiseRollouts(ctx context.Context, c client.Reader, promise string, admitLatest bool) (instanceplan.Rollouts, error) {
	list, err := controller.PromiseRollouts(ctx, c, promise)
	if err != nil {
		return instanceplan.Rollouts{}, err
	}
	return instanceplan.NewRollouts(list, nil, admitLatest), nil
}
