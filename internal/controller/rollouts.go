package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// PromiseRollouts lists the Rollouts of promise's changes from c (a cache
// with SetupIndexes' indexes). Only those in the platform namespace count:
// a Rollout elsewhere cannot move a Promise.
//
// The Rollouts are the cache's own objects, not copies: callers must not
// change them. A Rollout's status lists every cluster of its waves, and
// copying it for every reconcile of every instance cost a quarter of the
// hub's CPU during a 3,000-cluster rollout.
func PromiseRollouts(ctx context.Context, c client.Reader, promise string) ([]fleetv1alpha1.Rollout, error) {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.List(ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace),
		client.MatchingFields{IndexRolloutByPromise: promise}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing rollouts of promise %s: %w", promise, err)
	}
	return list.Items, nil
}

// InstanceRollouts lists the Rollouts of one instance's own changes from c,
// the cache's objects as PromiseRollouts does: read only.
func InstanceRollouts(ctx context.Context, c client.Reader, promise, namespace, name string) ([]fleetv1alpha1.Rollout, error) {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{IndexRolloutByInstance: InstanceKey(namespace, name)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing rollouts of instance %s/%s: %w", namespace, name, err)
	}
	out := list.Items[:0]
	for _, ro := range list.Items {
		if ro.Spec.Subject.Promise == promise {
			out = append(out, ro)
		}
	}
	return out, nil
}

// StrategyLookup reads RolloutStrategies for rollout.ResolveStrategy: nil
// when the named one does not exist. The Rollout and instance controllers
// resolve a Rollout's strategy through it alike.
func StrategyLookup(ctx context.Context, c client.Reader) func(string) (*fleetv1alpha1.RolloutStrategy, error) {
	return func(name string) (*fleetv1alpha1.RolloutStrategy, error) {
		s := &fleetv1alpha1.RolloutStrategy{}
		if err := c.Get(ctx, types.NamespacedName{Name: name}, s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return s, nil
	}
}
