package rollout

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Router is the instance controller's RevisionSelector while rollouts run:
// it answers, for each subject and cluster, the revision the governing
// Rollout admits (rollout.RevisionFor), and names that Rollout on the Work.
//
// What a Rollout admitted lives in the Works themselves (their
// spec.revision); the Router only holds, per Rollout, the clusters its last
// reconcile admitted or holds on its target, so that every Work of an
// admitted cluster follows. After a restart it holds nothing until the
// Rollout controller reconciles again, and meanwhile every Work stays where
// it is.
type Router struct {
	// Cache reads Rollouts.
	Cache client.Reader

	mu       sync.RWMutex
	admitted map[types.NamespacedName]map[string]string
}

// NewRouter returns a Router reading Rollouts from cache.
func NewRouter(cache client.Reader) *Router {
	return &Router{Cache: cache, admitted: map[types.NamespacedName]map[string]string{}}
}

// Revision implements instance.RevisionSelector.
func (r *Router) Revision(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, current, latest string) (string, error) {
	rollouts, err := listRollouts(ctx, r.Cache, subject.Promise)
	if err != nil {
		return "", err
	}
	return rollout.RevisionFor(r.route(rollouts), cluster, current, latest), nil
}

// InstanceRevision implements instance.InstanceRevisionSelector: the same
// rules, over the Rollouts of the instance's changes.
func (r *Router) InstanceRevision(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, current, latest string) (string, error) {
	if subject.Instance == nil {
		return latest, nil
	}
	rollouts, err := listInstanceRollouts(ctx, r.Cache, subject.Promise, subject.Instance.Namespace, subject.Instance.Name)
	if err != nil {
		return "", err
	}
	return rollout.RevisionFor(r.route(rollouts), cluster, current, latest), nil
}

// route is what the Router knows of the newest of rollouts.
func (r *Router) route(rollouts []fleetv1alpha1.Rollout) rollout.Route {
	route := rollout.Route{Governing: rollout.Newest(rollouts)}
	if route.Governing != nil {
		r.mu.RLock()
		route.Admitted = r.admitted[client.ObjectKeyFromObject(route.Governing)]
		r.mu.RUnlock()
	}
	return route
}

// AdmittedBy implements instance.RolloutReporter: the newest Rollout whose
// target is revision, with the cluster's wave in it. The answer does not
// change when that Rollout ends, so finishing a Rollout rewrites no Work.
func (r *Router) AdmittedBy(ctx context.Context, subject fleetv1alpha1.WorkSubject, cluster, revision string) *fleetv1alpha1.RolloutReference {
	rollouts, err := listRollouts(ctx, r.Cache, subject.Promise)
	if err != nil {
		return nil
	}
	var matching []fleetv1alpha1.Rollout
	for _, ro := range rollouts {
		if ro.Spec.TargetRevision == revision {
			matching = append(matching, ro)
		}
	}
	ro := rollout.Newest(matching)
	if ro == nil {
		return nil
	}
	return &fleetv1alpha1.RolloutReference{Namespace: ro.Namespace, Name: ro.Name, Wave: waveOf(ro, cluster)}
}

// waveOf returns the wave of ro's frozen target set that holds cluster, or "".
func waveOf(ro *fleetv1alpha1.Rollout, cluster string) string {
	for _, w := range ro.Status.Waves {
		if i := sort.SearchStrings(w.Clusters, cluster); i < len(w.Clusters) && w.Clusters[i] == cluster {
			return w.Name
		}
	}
	return ""
}

// set records what a Rollout's reconcile admitted: cluster → revision.
func (r *Router) set(key types.NamespacedName, admitted map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.admitted[key] = admitted
}

// forget drops what the Router holds for a Rollout that ended or is gone.
func (r *Router) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.admitted, key)
}

// listRollouts lists the Promise-subject Rollouts of promise. Only those in
// the platform namespace count: a Rollout elsewhere cannot move a Promise.
//
// The Rollouts are the cache's own objects, not copies: callers must not
// change them. The instance controller asks once per cluster per reconcile,
// and a Rollout's status lists every cluster of its waves, so copying it each
// time cost O(clusters²) per reconcile (a quarter of the hub's CPU during a
// 3,000-cluster rollout).
func listRollouts(ctx context.Context, c client.Reader, promise string) ([]fleetv1alpha1.Rollout, error) {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.List(ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace),
		client.MatchingFields{controller.IndexRolloutByPromise: promise}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing rollouts of promise %s: %w", promise, err)
	}
	return list.Items, nil
}

// listInstanceRollouts lists the Rollouts of one instance's changes.
func listInstanceRollouts(ctx context.Context, c client.Reader, promise, namespace, name string) ([]fleetv1alpha1.Rollout, error) {
	list := &fleetv1alpha1.RolloutList{}
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{controller.IndexRolloutByInstance: controller.InstanceKey(namespace, name)}); err != nil {
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
