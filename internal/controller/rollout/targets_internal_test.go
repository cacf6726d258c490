package rollout

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The clusters a target set would miss: a live Cluster with a live Work the
// cache has no Cluster or no Work for. Works or Clusters being deleted, and
// Works of clusters that are gone, are no targets.
func TestUncached(t *testing.T) {
	deleting := &metav1.Time{Time: time.Unix(1, 0)}
	work := func(cluster string, del *metav1.Time) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: fleetv1alpha1.ClusterNamespace(cluster),
			Labels: map[string]string{fleetv1alpha1.LabelCluster: cluster}, DeletionTimestamp: del}}
	}
	cluster := func(name string, del *metav1.Time) metav1.PartialObjectMetadata {
		return metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: del}}
	}
	liveWorks := []metav1.PartialObjectMetadata{
		work("cached", nil), work("no-cached-work", nil), work("no-cached-cluster", nil), work("no-cached-cluster", nil),
		work("work-deleting", deleting), work("cluster-deleting", nil), work("cluster-gone", nil),
	}
	liveClusters := []metav1.PartialObjectMetadata{
		cluster("cached", nil), cluster("no-cached-work", nil), cluster("no-cached-cluster", nil),
		cluster("work-deleting", nil), cluster("cluster-deleting", deleting),
	}
	cachedWorks := map[string][]*fleetv1alpha1.Work{"cached": {{}}, "no-cached-cluster": {{}}}
	cachedClusters := []fleetv1alpha1.Cluster{{ObjectMeta: metav1.ObjectMeta{Name: "cached"}}, {ObjectMeta: metav1.ObjectMeta{Name: "no-cached-work"}}}

	got := uncached(liveWorks, liveClusters, cachedWorks, cachedClusters)
	if want := []string{"no-cached-cluster", "no-cached-work"}; !slices.Equal(got, want) {
		t.Errorf("uncached = %v, want %v", got, want)
	}
	if got := uncached(liveWorks[:1], liveClusters, cachedWorks, cachedClusters); got != nil {
		t.Errorf("a cache that holds everything: %v, want none", got)
	}
	if got := (&cacheBehind{missing: []string{"a", "b", "c", "d", "e", "f", "g"}}).Error(); got !=
		"the hub's cache misses the Works or Clusters of 7 cluster(s) the API server holds (a, b, c, d, e and 2 more); the target set waits for it" {
		t.Errorf("message: %s", got)
	}
}
