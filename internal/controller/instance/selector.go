package instance

import (
	"context"
	"fmt"

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
	freeze, err := r.freeze(ctx)
	if err != nil {
		return instanceplan.Rollouts{}, err
	}
	promise, err := controller.PromiseRollouts(ctx, r.Client, key.Promise)
	if err != nil {
		return instanceplan.Rollouts{}, err
	}
	var own []fleetv1alpha1.Rollout
	if !key.IsFleet() {
		if own, err = controller.InstanceRollouts(ctx, r.Client, key.Promise, key.Namespace, key.Name); err != nil {
			return instanceplan.Rollouts{}, err
		}
	}
	rt := instanceplan.NewRollouts(promise, own, r.AdmitLatest)
	rt.Freeze = freeze
	return rt, nil
}

// freeze is the action of the FleetFreeze in force now, "" when none
// (watchFreezes brings every subject back when that changes).
func (r *Reconciler) freeze(ctx context.Context) (fleetv1alpha1.FreezeAction, error) {
	list := &fleetv1alpha1.FleetFreezeList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("listing fleet freezes: %w", err)
	}
	active, _ := fleetv1alpha1.ActiveFreezes(list.Items, r.Clock.Now())
	if len(active) == 0 {
		return "", nil
	}
	return active[0].EffectiveAction(), nil
}

// promiseRollouts reads the Rollouts of promise's changes.
func promiseRollouts(ctx context.Context, c client.Reader, promise string, admitLatest bool) (instanceplan.Rollouts, error) {
	list, err := controller.PromiseRollouts(ctx, c, promise)
	if err != nil {
		return instanceplan.Rollouts{}, err
	}
	return instanceplan.NewRollouts(list, nil, admitLatest), nil
}
