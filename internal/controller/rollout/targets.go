package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A Rollout freezes its target set, once, from the clusters that have a
// Work of its subject; a cluster left out is never admitted by a wave, and
// settles on the target only when the Rollout has ended, with no health
// judged and no budget counted. The set is read from the hub's cache, which
// can miss Works the API server holds: for seconds after a watch broke (seen
// during a 1,000-cluster change, whose Rollout then froze 366 clusters,
// rolled them in two waves and declared Succeeded, 100 % on target, before
// the other 634 had moved). So before it freezes, the Rollout compares the
// cache with the API server (metadata only) and waits while the cache
// misses a cluster or its Work.

// cacheCatchUpRetry is how soon a Rollout looks again while the cache
// misses part of its target set.
const cacheCatchUpRetry = 250 * time.Millisecond

// cacheCatchUpLimit bounds the wait, counted from the Rollout's creation:
// past it the target set is frozen from the cache as it is (and the log
// says which clusters it missed). A watch that stays broken, or a Work
// labelled for the subject whose spec names another, must not hold a
// Rollout for ever.
const cacheCatchUpLimit = 30 * time.Second

// targetsCheckInterval is how long a comparison that found the cache
// complete stands for a Rollout that still did not freeze (one whose plan
// is refused, as an invalid strategy's is): every Work event reconciles
// it, and each comparison lists every Cluster from the API server.
const targetsCheckInterval = 10 * time.Second

// waitForTargets returns a *cacheBehind while the cache misses targets the
// API server has, for a Rollout that is about to freeze its target set
// (none yet), until cacheCatchUpLimit from its creation.
func (r *Reconciler) waitForTargets(ctx context.Context, ro *fleetv1alpha1.Rollout, sub subject,
	works map[string][]*fleetv1alpha1.Work, clusters []fleetv1alpha1.Cluster, now time.Time) error {
	key := client.ObjectKeyFromObject(ro)
	if len(ro.Status.Waves) > 0 || r.APIReader == nil {
		r.targetsChecked.Delete(key)
		return nil
	}
	if t, ok := r.targetsChecked.Load(key); ok {
		if at, _ := t.(time.Time); now.Sub(at) >= 0 && now.Sub(at) < targetsCheckInterval {
			return nil
		}
	}
	missing, err := r.uncachedTargets(ctx, sub, works, clusters)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		r.targetsChecked.Store(key, now)
		return nil
	}
	behind := &cacheBehind{missing: missing}
	if now.Sub(ro.CreationTimestamp.Time) < cacheCatchUpLimit {
		return behind
	}
	ctrl.LoggerFrom(ctx).Info("freezing the target set from the hub's cache as it is, after waiting "+cacheCatchUpLimit.String(), "reason", behind.Error())
	return nil
}

// cacheBehind is why a Rollout did not freeze its target set yet.
type cacheBehind struct {
	missing []string
}

func (c *cacheBehind) Error() string {
	return fmt.Sprintf("the hub's cache misses the Works or Clusters of %d cluster(s) the API server holds (%s); the target set waits for it",
		len(c.missing), sample(c.missing, 5))
}

// uncachedTargets returns the clusters the API server says belong in the
// target set (a Cluster not being deleted with a Work of sub not being
// deleted) that cached, the observation from the cache, leaves out.
func (r *Reconciler) uncachedTargets(ctx context.Context, sub subject, cachedWorks map[string][]*fleetv1alpha1.Work,
	cachedClusters []fleetv1alpha1.Cluster) ([]string, error) {
	works := &metav1.PartialObjectMetadataList{}
	works.SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind("WorkList"))
	selector := client.MatchingLabels{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue, fleetv1alpha1.LabelPromise: sub.promise}
	if i := sub.instance; i != nil {
		selector[fleetv1alpha1.LabelInstance] = fleetv1alpha1.WorkLabelValue(i.Name)
		selector[fleetv1alpha1.LabelInstanceNamespace] = i.Namespace
	}
	if err := r.APIReader.List(ctx, works, selector); err != nil {
		return nil, fmt.Errorf("listing the subject's Works from the API server: %w", err)
	}
	clusters := &metav1.PartialObjectMetadataList{}
	clusters.SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind("ClusterList"))
	if err := r.APIReader.List(ctx, clusters); err != nil {
		return nil, fmt.Errorf("listing clusters from the API server: %w", err)
	}
	return uncached(works.Items, clusters.Items, cachedWorks, cachedClusters), nil
}

// uncached is uncachedTargets' comparison: the clusters with a live Work
// (by its cluster label) and a live Cluster, neither being deleted, that the
// cache has no Cluster or no Work for. Sorted.
func uncached(liveWorks, liveClusters []metav1.PartialObjectMetadata, cachedWorks map[string][]*fleetv1alpha1.Work,
	cachedClusters []fleetv1alpha1.Cluster) []string {
	live := make(map[string]bool, len(liveClusters))
	for i := range liveClusters {
		if c := &liveClusters[i]; c.DeletionTimestamp.IsZero() {
			live[c.Name] = true
		}
	}
	cached := make(map[string]bool, len(cachedClusters))
	for i := range cachedClusters {
		cached[cachedClusters[i].Name] = true
	}
	var missing []string
	for i := range liveWorks {
		w := &liveWorks[i]
		c := w.Labels[fleetv1alpha1.LabelCluster]
		if !w.DeletionTimestamp.IsZero() || !live[c] {
			continue
		}
		if !cached[c] || len(cachedWorks[c]) == 0 {
			missing = append(missing, c)
		}
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// sample lists up to n of names, and how many more there are.
func sample(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
