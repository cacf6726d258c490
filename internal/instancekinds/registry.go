// Package instancekinds follows the instance kinds Promises generate while the
// hub runs. The Promise controller registers a kind once its CRD is
// Established and forgets it when the CRD is gone; the controllers that watch
// instances subscribe, so a Promise published at run time is served without a
// restart. It lives apart from both so neither controller imports the other.
package instancekinds

import (
	"context"
	"errors"
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
type Registry struct {
	// Cache is the manager's cache; forgetting a kind stops its informer.
	Cache cache.Cache

	mu          sync.Mutex
	subscribers []Subscriber
	byPromise   map[string]schema.GroupVersionKind
}

// Subscribe adds s; kinds registered earlier are passed to it at once.
func (k *Registry) Subscribe(s Subscriber) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.subscribers = append(k.subscribers, s)
	var errs []error
	for promise, gvk := range k.byPromise {
		errs = append(errs, s(gvk, promise))
	}
	return errors.Join(errs...)
}

// Register records that promise serves gvk and starts every subscriber's
// watch on it, once. A Promise whose version changed forgets its old kind.
func (k *Registry) Register(ctx context.Context, promise string, gvk schema.GroupVersionKind) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.byPromise[promise]; ok {
		if old == gvk {
			return nil
		}
		k.removeInformer(ctx, old)
	}
	if k.byPromise == nil {
		k.byPromise = map[string]schema.GroupVersionKind{}
	}
	k.byPromise[promise] = gvk
	var errs []error
	for _, s := range k.subscribers {
		errs = append(errs, s(gvk, promise))
	}
	return errors.Join(errs...)
}

// Forget stops watching the kind of promise (its CRD is gone).
func (k *Registry) Forget(ctx context.Context, promise string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gvk, ok := k.byPromise[promise]; ok {
		k.removeInformer(ctx, gvk)
		delete(k.byPromise, promise)
	}
}

// Lookup returns the kind promise serves, if registered.
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
