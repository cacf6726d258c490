package instance

import (
	"context"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// offlineClusters is the set of Offline clusters, kept by their watch
// (watchAvailability) rather than read at each reconcile: an instance on
// 10,000 clusters asks about each of them, and a Cluster from the cache is
// a deep copy.
type offlineClusters struct {
	mu  sync.RWMutex
	set map[string]bool
}

// record notes c's availability and reports whether its being Offline changed.
func (o *offlineClusters) record(c *fleetv1alpha1.Cluster) bool {
	offline := c.Status.Availability == fleetv1alpha1.ClusterAvailabilityOffline
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set[c.Name] == offline {
		return false
	}
	if o.set == nil {
		o.set = map[string]bool{}
	}
	if offline {
		o.set[c.Name] = true
	} else {
		delete(o.set, c.Name)
	}
	return true
}

// forget drops a deleted cluster.
func (o *offlineClusters) forget(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.set, name)
}

// among returns those of clusters that are Offline (nil if none).
func (o *offlineClusters) among(clusters []string) map[string]bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if len(o.set) == 0 {
		return nil
	}
	var offline map[string]bool
	for _, c := range clusters {
		if o.set[c] {
			if offline == nil {
				offline = map[string]bool{}
			}
			offline[c] = true
		}
	}
	return offline
}

// watchAvailability: a cluster going Offline, or coming back, changes what
// its agent's last reports are worth (instanceplan.Status), so the subjects
// with a Work there are reconciled again; nothing else is.
func watchAvailability(informers cache.Cache, offline *offlineClusters, m *mapper) source.TypedSource[Key] {
	return source.TypedKind(informers, &fleetv1alpha1.Cluster{}, handler.TypedFuncs[*fleetv1alpha1.Cluster, Key]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*fleetv1alpha1.Cluster], _ queue) {
			// A new cluster holds no Work yet; at the hub's start every
			// subject is reconciled anyway (afterFirstList).
			offline.record(e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*fleetv1alpha1.Cluster], q queue) {
			if offline.record(e.ObjectNew) {
				m.addCluster(ctx, e.ObjectNew.Name, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*fleetv1alpha1.Cluster], _ queue) {
			offline.forget(e.Object.GetName())
		},
	})
}

// addCluster enqueues the subjects with a Work on cluster name.
func (m *mapper) addCluster(ctx context.Context, name string, q queue) {
	works := &fleetv1alpha1.WorkList{}
	if err := m.r.Client.List(ctx, works, client.InNamespace(fleetv1alpha1.ClusterNamespace(name)), client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing works", "cluster", name)
		return
	}
	for i := range works.Items {
		q.Add(workKey(&works.Items[i]))
	}
}
