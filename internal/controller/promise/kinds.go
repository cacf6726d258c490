package promise

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// KindSubscriber starts a controller's watch on one instance kind (a kind
// generated from Promise promise). It is called once per kind each time the
// kind is registered.
type KindSubscriber func(gvk schema.GroupVersionKind, promise string) error

// Kinds follows the instance kinds Promises generate while the hub runs, so a
// Promise published at run time is served at once, without a restart. The
// Promise controller registers a kind when its CRD is Established and forgets
// it when the CRD is gone; controllers that watch instances subscribe.
type Kinds struct {
	// Cache is the manager's cache; forgetting a kind stops its informer.
	Cache cache.Cache

	mu          sync.Mutex
	subscribers []KindSubscriber
	byPromise   map[string]schema.GroupVersionKind
}

// Subscribe adds s; kinds registered earlier are passed to it at once.
func (k *Kinds) Subscribe(s KindSubscriber) error {
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
func (k *Kinds) Register(ctx context.Context, promise string, gvk schema.GroupVersionKind) error {
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
func (k *Kinds) Forget(ctx context.Context, promise string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gvk, ok := k.byPromise[promise]; ok {
		k.removeInformer(ctx, gvk)
		delete(k.byPromise, promise)
	}
}

// Lookup returns the kind promise serves, if registered.
func (k *Kinds) Lookup(promise string) (schema.GroupVersionKind, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	gvk, ok := k.byPromise[promise]
	return gvk, ok
}

func (k *Kinds) removeInformer(ctx context.Context, gvk schema.GroupVersionKind) {
	if k.Cache == nil {
		return
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	_ = k.Cache.RemoveInformer(ctx, u)
}
