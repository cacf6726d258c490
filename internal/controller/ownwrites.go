package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OwnWrites remembers the resourceVersion each object had after a
// controller's last write to it, so that the controller can tell when its
// cache has not caught up with that write yet.
//
// PatchStatus sends nothing when the wanted status equals the cached one.
// Judged from a cache that lags the controller's own last write, "equal" is
// wrong: the stored status is the one written since, and as nothing is
// sent, no conflict says so. After the hub's API server was away, its Cluster
// cache lagged its Lease cache by seconds (custom resources are served last:
// their watches are answered 503, retry in 5 s, while the server starts);
// a cluster written Offline meanwhile, whose agent then heartbeated, was
// judged Available from the cached copy (still Available from before the
// outage), nothing was written, and it stayed Offline. A reconcile that finds
// its cache Behind reads the object from the API server instead.
//
// It is safe for concurrent use; the zero value is ready.
type OwnWrites struct {
	mu sync.Mutex
	rv map[client.ObjectKey]string
}

// Record notes obj's resourceVersion after a write (a client's Patch or
// Update leaves the stored object's in obj). A version older than the one
// recorded is ignored.
func (w *OwnWrites) Record(obj client.Object) {
	key, rv := client.ObjectKeyFromObject(obj), obj.GetResourceVersion()
	if rv == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.rv[key]; ok && olderThan(rv, prev) {
		return
	}
	if w.rv == nil {
		w.rv = map[client.ObjectKey]string{}
	}
	w.rv[key] = rv
}

// Behind reports whether cached, read from a cache, is older than the object
// as last written through Record.
func (w *OwnWrites) Behind(cached client.Object) bool {
	w.mu.Lock()
	written, ok := w.rv[client.ObjectKeyFromObject(cached)]
	w.mu.Unlock()
	return ok && olderThan(cached.GetResourceVersion(), written)
}

// Forget drops what was recorded of an object that is gone.
func (w *OwnWrites) Forget(key client.ObjectKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.rv, key)
}

// olderThan reports whether resourceVersion a is older than b. Versions that
// do not compare (not etcd's integers) count as older when they differ: a
// needless read from the API server is cheaper than a wrong judgement.
func olderThan(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	if err != nil {
		return a != b
	}
	return c < 0
}
