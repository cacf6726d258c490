package instance

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// InstanceRolloutStarter starts the Rollout of an instance change: some of
// the instance's Works render previous while its spec is now latest. It is
// called on every reconcile where that holds, so it must be idempotent (and
// start nothing when a Rollout to latest already exists).
type InstanceRolloutStarter interface {
	StartInstanceRollout(ctx context.Context, p *fleetv1alpha1.Promise, inst *unstructured.Unstructured, previous, latest string) error
}

// routes are the Rollouts that decide which revisions a subject's Works
// render, read once per reconcile from the cache. Which cluster renders
// which revision is the Rollouts' status (rollout.RevisionFor over
// status.waves[].admitted): the Rollout controller writes it, this
// controller only reads it, and neither holds it in memory.
type routes struct {
	// promise are the Rollouts of the Promise's changes: the cache's
	// objects, read only.
	promise []fleetv1alpha1.Rollout
	// governing is the newest of promise; spec the newest Rollout of the
	// instance's own changes (nil for fleet resources, or none).
	governing, spec *fleetv1alpha1.Rollout
	// latestOnly admits every cluster to the latest revisions at once
	// (Options.AdmitLatest).
	latestOnly bool
}

// routesFor reads the Rollouts of key's subject.
func (r *Reconciler) routesFor(ctx context.Context, key Key) (routes, error) {
	rt, err := readRoutes(ctx, r.Client, key.Promise, r.AdmitLatest)
	if err != nil || key.IsFleet() {
		return rt, err
	}
	own, err := controller.InstanceRollouts(ctx, r.Client, key.Promise, key.Namespace, key.Name)
	if err != nil {
		return rt, err
	}
	rt.spec = rollout.Newest(own)
	return rt, nil
}

// revision is the PromiseRevision cluster's Work renders: current now
// ("" for a new Work), latest the Promise's latest revision.
func (rt routes) revision(cluster, current, latest string) string {
	if rt.latestOnly {
		return latest
	}
	return rollout.RevisionFor(rt.governing, cluster, current, latest)
}

// instanceRevision is the instance revision cluster's Work renders, by the
// same rules over the instance's own Rollouts.
func (rt routes) instanceRevision(cluster, current, latest string) string {
	if rt.latestOnly {
		return latest
	}
	return rollout.RevisionFor(rt.spec, cluster, current, latest)
}

// admittedBy names the Rollout that admitted cluster to revision, for the
// Work's spec.rollout.
func (rt routes) admittedBy(cluster, revision string) *fleetv1alpha1.RolloutReference {
	return rollout.AdmittedBy(rt.promise, cluster, revision)
}

// readRoutes reads the Rollouts of promise's changes.
func readRoutes(ctx context.Context, c client.Reader, promise string, latestOnly bool) (routes, error) {
	rt := routes{latestOnly: latestOnly}
	var err error
	if rt.promise, err = controller.PromiseRollouts(ctx, c, promise); err != nil {
		return rt, err
	}
	rt.governing = rollout.Newest(rt.promise)
	return rt, nil
}
