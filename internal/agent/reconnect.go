package agent

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Reconnect backoff while the hub is unreachable: short enough that an agent
// is back within seconds of the hub, jittered (up to +50%) so ten thousand
// agents that lost the hub together do not return in one burst.
const (
	reconnectBase = 250 * time.Millisecond
	reconnectMax  = 8 * time.Second
)

// reconnectingListerWatcher retries List and Watch itself while the hub is
// unreachable or restarting, instead of returning the error to the reflector.
// The reflector's own backoff cannot be tuned through a shared informer and
// grows to 30 s plus as much jitter, which would leave an agent blind for up
// to a minute after a hub outage. Errors that waiting will not fix (403, 404,
// bad requests) are returned at once.
type reconnectingListerWatcher struct {
	inner cache.ListerWatcherWithContext
	sleep func(ctx context.Context, d time.Duration) error
	rand  func() float64
}

func newReconnectingListerWatcher(inner cache.ListerWatcherWithContext) *reconnectingListerWatcher {
	return &reconnectingListerWatcher{inner: inner, sleep: sleepCtx, rand: jitterRand}
}

func (r *reconnectingListerWatcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return retryUnreachable(ctx, r, func() (runtime.Object, error) { return r.inner.ListWithContext(ctx, opts) })
}

func (r *reconnectingListerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return retryUnreachable(ctx, r, func() (watch.Interface, error) { return r.inner.WatchWithContext(ctx, opts) })
}

func retryUnreachable[T any](ctx context.Context, r *reconnectingListerWatcher, call func() (T, error)) (T, error) {
	delay := reconnectBase
	for {
		out, err := call()
		if err == nil || !hubUnreachable(err) {
			return out, err
		}
		if sleepErr := r.sleep(ctx, time.Duration(float64(delay)*(1+0.5*r.rand()))); sleepErr != nil {
			return out, err
		}
		delay = min(2*delay, reconnectMax)
	}
}

// hubUnreachable reports whether err means "the hub is not there right now"
// (down, restarting, overloaded) rather than "the hub said no".
func hubUnreachable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &netErr):
		return true
	case apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsInternalError(err):
		return true
	}
	return false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// List and Watch complete cache.ListerWatcher; the informer prefers the
// context-aware methods above when they exist, as they do here.
func (r *reconnectingListerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return r.ListWithContext(context.Background(), opts)
}

func (r *reconnectingListerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return r.WatchWithContext(context.Background(), opts)
}
