package instance

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

// fleetView is placement's View plus the cluster facts rendering needs.
type fleetView struct {
	*placement.View
	facts map[string]clusterFacts
}

type clusterFacts struct {
	Labels            map[string]string
	KubernetesVersion string
}

// Cluster returns the facts of cluster name.
func (v *fleetView) Cluster(name string) (clusterFacts, bool) {
	f, ok := v.facts[name]
	return f, ok
}

// viewCache keeps the fleet view between reconciles. Event handlers for
// Clusters and Fleets call invalidate before they enqueue anything, and the
// informer's store is updated before its handlers run, so a reconcile caused
// by a change always sees a view built after it. Thousands of instance
// reconciles then share one view instead of listing the fleet each.
type viewCache struct {
	version atomic.Uint64
	mu      sync.Mutex
	built   uint64
	view    *fleetView
}

func (c *viewCache) invalidate() { c.version.Add(1) }

func (r *Reconciler) view(ctx context.Context) (*fleetView, error) {
	c := &r.views
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.version.Load()
	if c.view != nil && c.built == v {
		return c.view, nil
	}
	clusters := &fleetv1alpha1.ClusterList{}
	if err := r.Client.List(ctx, clusters); err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	fleets := &fleetv1alpha1.FleetList{}
	if err := r.Client.List(ctx, fleets); err != nil {
		return nil, fmt.Errorf("listing fleets: %w", err)
	}
	pc := make([]placement.Cluster, 0, len(clusters.Items))
	facts := make(map[string]clusterFacts, len(clusters.Items))
	for i := range clusters.Items {
		cl := &clusters.Items[i]
		pc = append(pc, placement.Cluster{Name: cl.Name, Labels: cl.Labels, Deleting: !cl.DeletionTimestamp.IsZero()})
		facts[cl.Name] = clusterFacts{Labels: cl.Labels, KubernetesVersion: cl.Status.KubernetesVersion}
	}
	pf := make([]placement.Fleet, 0, len(fleets.Items))
	for i := range fleets.Items {
		f := &fleets.Items[i]
		if !f.DeletionTimestamp.IsZero() {
			continue
		}
		pf = append(pf, placement.Fleet{Name: f.Name, Selector: f.Spec.Selector, Tenants: f.Spec.Tenants})
	}
	c.view = &fleetView{View: placement.NewView(pc, pf), facts: facts}
	c.built = v
	return c.view, nil
}

// overrides lists every Override from the cache. They are only read.
func (r *Reconciler) overrides(ctx context.Context) ([]fleetv1alpha1.Override, error) {
	list := &fleetv1alpha1.OverrideList{}
	if err := r.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing overrides: %w", err)
	}
	return list.Items, nil
}

// maxCachedRevisions bounds revisionCache.
const maxCachedRevisions = 512

// revisionCache keeps PromiseRevisions by name. Their spec is immutable, so a
// cached one never goes stale; only its UID could change (deleted and made
// again with the same content, hence the same spec). It saves deep-copying a
// revision's content (templates, an inline chart) on every reconcile.
type revisionCache struct {
	mu   sync.Mutex
	revs map[string]*fleetv1alpha1.PromiseRevision
}

func (r *Reconciler) revision(ctx context.Context, name string) (*fleetv1alpha1.PromiseRevision, error) {
	c := &r.revisions
	c.mu.Lock()
	rev, ok := c.revs[name]
	c.mu.Unlock()
	if ok {
		return rev, nil
	}
	rev = &fleetv1alpha1.PromiseRevision{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, rev); err != nil {
		return nil, fmt.Errorf("reading revision %s: %w", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revs == nil || len(c.revs) >= maxCachedRevisions {
		c.revs = map[string]*fleetv1alpha1.PromiseRevision{}
	}
	c.revs[name] = rev
	return rev, nil
}

func (c *revisionCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.revs, name)
}
