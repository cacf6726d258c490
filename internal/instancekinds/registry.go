// Package instancekinds follows the instance kinds Promises generate while the
// hub runs. The Promise controller registers a kind once its CRD is
// Established and forgets it when the CRD is gone; the controllers that watch
// instances subscribe, so a Promise published at run time is served without a
// restart. It lives apart from both so neither controller imports the other.
package instancekinds

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// Subscriber starts a controller's watch on one instance kind (a kind
// generated from Promise promise). It is called once per kind each time the
// kind is registered.
type Subscriber func(gvk schema.GroupVersionKind, promise string) error

// Registry holds the instance kind each Promise serves and the subscribers
// that watch them. It is safe for concurrent use.
//
// A subscriber may block: a controller that is still starting waits, in its
// Watch, until its sources have synced, and a source syncs only once its
// event handlers have handled the informer's first list. Those handlers call
// Lookup, so Lookup must never wait for a subscriber: subscribers run
// outside mu, which guards the fields only.
type Registry struct {
	// Cache is the manager's cache; forgetting a kind stops its informer.
	Cache cache.Cache

	// changing is held across a change and the subscriber calls it makes,
	// so that subscribers see the kinds in the order they were registered.
	changing sync.Mutex

	mu          sync.Mutex
	subscribers []Subscriber
	byPromise   map[string]schema.GroupVersionKind
}

// Subscribe adds s; kinds registered earlier are passed to it at once.
func (k *Registry) Subscribe(s Subscriber) error {
	k.changing.Lock()
	defer k.changing.Unlock()
	k.mu.Lock()
	k.subscribers = append(k.subscribers, s)
	registered := maps.Clone(k.byPromise)
	k.mu.Unlock()
	var errs []error
	for promise, gvk := range registered {
		errs = append(errs, s(gvk, promise))
	}
	return errors.Join(errs...)
}

// Register records that promise serves gvk and starts every subscriber's
// watch on it, once. A Promise whose version changed forgets its old kind.
func (k *Registry) Register(ctx context.Context, promise string, gvk schema.GroupVersionKind) error {
	k.changing.Lock()
	defer k.changing.Unlock()
	k.mu.Lock()
	old, had := k.byPromise[promise]
	if had && old == gvk {
		k.mu.Unlock()
		return nil
	}
	if k.byPromise == nil {
		k.byPromise = map[string]schema.GroupVersionKind{}
	}
	k.byPromise[promise] = gvk
	subscribers := slices.Clone(k.subscribers)
	k.mu.Unlock()

	if had {
		k.removeInformer(ctx, old)
	}
	var errs []error
	for _, s := range subscribers {
		errs = append(errs, s(gvk, promise))
	}
	return errors.Join(errs...)
}

// Forget stops watching the kind of promise (its CRD is gone).
func (k *Registry) Forget(ctx context.Context, promise string) {
	k.changing.Lock()
	defer k.changing.Unlock()
	k.mu.Lock()
	gvk, ok := k.byPromise[promise]
	delete(k.byPromise, promise)
	k.mu.Unlock()
	if ok {
		k.removeInformer(ctx, gvk)
	}
}

// Lookup returns the kind promise serves, if registered. It never waits
// for a subscriber.
func (k *Registry) Lookup(promise string) (schema.GroupVersionKind, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	gvk, ok := k.byPromise[promise]
	return gvk, ok
}

func (k *Registry) removeInformer(ctx context.Context, gvk schema.GroupVersionKind) {
	if k.Cache == nil {
		return
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	_ = k.Cache.RemoveInformer(ctx, u)
}
