package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// ownWrites remembers, by Work, the hub's last update of it and the
// resourceVersion that update replaced. While the cache still shows that
// version, it has not seen the update yet: the Work as the update left it
// is the one to compare the desired Work with and to write over. Compared
// with the cache's copy instead, a Work already written looks out of date,
// and writing over that copy is a sure conflict (a failed request, a read
// from the API server, and then, most often, nothing to write): the next
// reconcile of an instance often starts before the cache has seen all the
// last one's writes, during a rollout every few hundred milliseconds.
//
// An entry lasts until the cache is past it (caught up, or someone else
// wrote since: the cache's copy is then the newer one), as the Work's watch
// event or the next reconcile finds, or the Work is deleted. Left to the
// next reconcile alone, 10,000 entries outlived a 10,000-cluster change:
// 41 MB of the hub's live heap at rest (docs/benchmarks.md).
type ownWrites struct {
	mu sync.Mutex
	m  map[types.NamespacedName]ownWrite
}

type ownWrite struct {
	// over is the resourceVersion the update replaced.
	over string
	// work is the Work as the update returned it.
	work *fleetv1alpha1.Work
}

// latest returns the Work as the hub's last update left it when cached is
// the version that update replaced, and cached otherwise (forgetting an
// update the cache has caught up with).
func (o *ownWrites) latest(cached *fleetv1alpha1.Work) *fleetv1alpha1.Work {
	if cached == nil {
		return nil
	}
	key := client.ObjectKeyFromObject(cached)
	o.mu.Lock()
	defer o.mu.Unlock()
	w, ok := o.m[key]
	if !ok {
		return cached
	}
	if w.replaces(cached) {
		return w.work
	}
	delete(o.m, key)
	return cached
}

// replaces reports whether cached is the version w's update replaced: the
// cache has not seen the update yet.
func (w ownWrite) replaces(cached *fleetv1alpha1.Work) bool {
	return w.over == cached.ResourceVersion && w.work.UID == cached.UID
}

// seen forgets the update of a Work the cache has caught up with (its watch
// event brings a version other than the one the update replaced).
func (o *ownWrites) seen(cached *fleetv1alpha1.Work) {
	key := client.ObjectKeyFromObject(cached)
	o.mu.Lock()
	defer o.mu.Unlock()
	if w, ok := o.m[key]; ok && !w.replaces(cached) {
		delete(o.m, key)
	}
}

// record remembers an update of a Work that replaced resourceVersion over.
// The Work's managedFields are dropped (nothing compares them, an update
// without them leaves the stored ones as they are): a quarter of its size.
func (o *ownWrites) record(over string, work *fleetv1alpha1.Work) {
	work.ManagedFields = nil
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[types.NamespacedName]ownWrite{}
	}
	o.m[client.ObjectKeyFromObject(work)] = ownWrite{over: over, work: work}
}

// forget drops what is remembered of a Work (deleted).
func (o *ownWrites) forget(work *fleetv1alpha1.Work) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, client.ObjectKeyFromObject(work))
}
