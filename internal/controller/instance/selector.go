package instance

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// RevisionSelector decides which PromiseRevision a subject (an instance, or a
// Promise's fleet resources) renders on one cluster: the revision admitted to
// that cluster. It is the seam between rendering and rollouts.
//
// current is the revision the cluster's Work renders now ("" when there is no
// Work yet); latest is the Promise's status.latestRevision, never "". The
// default, LatestRevision, admits every cluster to latest at once. The rollout
// controller replaces it so that a Rollout decides, cluster by cluster, when
// a cluster moves from current to latest (or back, on rollback); whenever its
// decision changes it calls Controller.EnqueuePromise or EnqueueInstance so
// the affected Works are rendered again.
//
// Implementations are called from many workers at once, must be fast (they
// run for every subject on every cluster each time the subject is
// reconciled: read from informer caches, not the API server) and must return
// a revision that exists; an error requeues the subject.
type RevisionSelector interface {
	Revision(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, current, latest string) (string, error)
}

// RolloutReporter may be implemented by a RevisionSelector to name the
// Rollout (and wave) that admitted a cluster to a revision; it is recorded in
// the Work's spec.rollout. nil records nothing.
type RolloutReporter interface {
	AdmittedBy(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, revision string) *fleetv1alpha1.RolloutReference
}

// InstanceRevisionSelector may be implemented by a RevisionSelector to decide,
// the same way, which instance revision (a snapshot of the instance's spec)
// an instance renders on one cluster, so that an instance change moves
// cluster by cluster too. current and latest are instance revision names.
// Without it, every cluster renders the instance's spec as it is now.
type InstanceRevisionSelector interface {
	InstanceRevision(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, current, latest string) (string, error)
}

// InstanceRolloutStarter starts the Rollout of an instance change: some of
// the instance's Works render previous while its spec is now latest. It is
// called on every reconcile where that holds, so it must be idempotent (and
// start nothing when a Rollout to latest already exists).
type InstanceRolloutStarter interface {
	StartInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, previous, latest string) error
}

// LatestRevision admits every cluster to the latest revision at once: what
// the hub does until a rollout engine decides otherwise.
type LatestRevision struct{}

// Revision returns latest.
func (LatestRevision) Revision(_ context.Context, _ fleetv1alpha1.WorkSubject, _, _, latest string) (string, error) {
	return latest, nil
}
