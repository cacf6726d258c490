package rollout

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// collectHistory deletes the ended Rollouts of ro's subject past its
// Promise's spec.rolloutHistoryLimit (rollout.ExpiredHistory). It runs when
// a Rollout has ended and settled, and so at every hub start: an ended
// Rollout keeps the names of every cluster of its waves, and a subject's
// history would otherwise grow with every change, in etcd and in every
// cache of Rollouts (the hub's memory).
func (r *Reconciler) collectHistory(ctx context.Context, ro *fleetv1alpha1.Rollout) error {
	sub := subjectOf(ro)
	rollouts, err := sub.rollouts(ctx, r.Client)
	if err != nil {
		return err
	}
	keep := rollout.DefaultHistoryLimit
	p := &fleetv1alpha1.Promise{}
	switch err := r.Client.Get(ctx, types.NamespacedName{Name: sub.promise}, p); {
	case apierrors.IsNotFound(err):
		return nil // its Rollouts go with it (owner references)
	case err != nil:
		return fmt.Errorf("reading promise %s: %w", sub.promise, err)
	}
	if l := p.Spec.RolloutHistoryLimit; l != nil {
		keep = int(*l)
	}
	if len(rollouts) <= keep {
		return nil // the common case: no Work is read
	}
	works, err := r.works(ctx, sub)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, ws := range works {
		for _, w := range ws {
			rendered, applied := sub.revisionOf(w)
			inUse[rendered], inUse[applied] = true, true
		}
	}
	delete(inUse, "")
	for _, old := range rollout.ExpiredHistory(rollouts, keep, inUse) {
		// The UID: never a Rollout of the same name made since.
		err := r.Client.Delete(ctx, &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: old.Namespace, Name: old.Name}}, client.Preconditions{UID: &old.UID})
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("deleting ended rollout %s/%s: %w", old.Namespace, old.Name, err)
		}
		if err == nil {
			ctrl.LoggerFrom(ctx).Info("deleted an ended rollout past the history limit",
				"deleted", old.Namespace+"/"+old.Name, "limit", keep)
		}
	}
	return nil
}
