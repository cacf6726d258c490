package controller

import (
	"sync"

	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OwnWrites remembers the resourceVersion each object had after a
// controller's last write to it, so that the controller can tell when its
// cache has not caught up with that write yet. Every hub controller keeps
// one per kind it writes status to, and passes it to PatchStatus, which
// records each write and refuses "nothing to change" judged from a copy
// that is Behind.
//
// Judged from a cache that lags the controller's own last write, "the
// wanted status is the cached one" is wrong: the stored status is the one
// written since, and as nothing is sent, no conflict says so. After the
// hub's API server was away, its Cluster cache lagged its Lease cache by
// seconds (custom resources are served last: their watches are answered
// 503, retry in 5 s, while the server starts); a cluster written Offline
// meanwhile, whose agent then heartbeated, was judged Available from the
// cached copy (still Available from before the outage), nothing was
// written, and it stayed Offline.
//
// A controller forgets objects that are gone, so the map stays as large as
// what it writes. It is safe for concurrent use; the zero value is ready.
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

// Retain drops what was recorded of the objects keep rejects: those no
// longer among the objects a controller writes (gone without it seeing a
// NotFound, such as Works deleted while their Cluster stays).
func (w *OwnWrites) Retain(keep func(client.ObjectKey) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key := range w.rv {
		if !keep(key) {
			delete(w.rv, key)
		}
	}
}

// OwnWritesByOwner is an OwnWrites per owner, for objects that go with
// their owner (a Promise's instances and revisions): forgetting the owner
// forgets them all, and objects of different owners (instances of two kinds
// with one name) never share a record. The zero value is ready.
type OwnWritesByOwner struct {
	m sync.Map // owner → *OwnWrites
}

// Of is owner's OwnWrites.
func (o *OwnWritesByOwner) Of(owner string) *OwnWrites {
	w, ok := o.m.Load(owner)
	if !ok {
		w, _ = o.m.LoadOrStore(owner, &OwnWrites{})
	}
	return w.(*OwnWrites)
}

// Forget drops what was recorded of an owner that is gone.
func (o *OwnWritesByOwner) Forget(owner string) {
	o.m.Delete(owner)
}
