package reconnect

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Reconnect backoffs while an API server is unreachable. client-go's
// reflector backs off by itself after failed lists and watches, and that
// backoff cannot be tuned through a shared informer (or controller-runtime's
// cache): it doubles from 0.8 s to 30 s, plus up to as much again of jitter,
// so after an outage of half a minute an informer stays blind for up to
// another minute, whatever its API server does. ListerWatcher
// retries instead, with its own shorter backoff, jittered (up to +50%).
const (
	// AgentBase and AgentMax are the agent's, towards the
	// hub: short enough that an agent is back within seconds of the hub, long
	// enough that ten thousand agents that lost the hub together do not
	// hammer it while it starts.
	AgentBase = 250 * time.Millisecond
	AgentMax  = 8 * time.Second
	// HubBase and HubMax are the hub controller's, towards
	// its own API server: one client, so it may retry often, and every
	// second the hub's caches stay stale after an outage is a second in which
	// it judges clusters by Lease renewals it has not seen.
	HubBase = 250 * time.Millisecond
	HubMax  = 2 * time.Second
)

// ListerWatcher retries List and Watch itself while the API
// server is unreachable or restarting, instead of returning the error to the
// reflector (see the backoffs above). Errors that waiting will not fix (403,
// 404, bad requests) are returned at once.
type ListerWatcher struct {
	inner     cache.ListerWatcherWithContext
	base, max time.Duration
	sleep     func(ctx context.Context, d time.Duration) error
	rand      func() float64
}

// NewListerWatcher wraps inner: while the API server is
// unreachable, it retries after base, doubling up to max, each wait
// stretched by up to 50% at random.
func NewListerWatcher(inner cache.ListerWatcherWithContext, base, max time.Duration) *ListerWatcher {
	return &ListerWatcher{inner: inner, base: base, max: max, sleep: sleepCtx, rand: rand.Float64}
}

// Informer is a controller-runtime cache.Options.NewInformer:
// client-go's shared informer over lw, with lw retrying as
// ListerWatcher does, between base and max.
func Informer(base, max time.Duration) func(cache.ListerWatcher, runtime.Object, time.Duration, cache.Indexers) cache.SharedIndexInformer {
	return func(lw cache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers cache.Indexers) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformer(NewListerWatcher(cache.ToListerWatcherWithContext(lw), base, max), obj, resync, indexers)
	}
}

// ListWithContext lists, retrying while the API server is unreachable.
func (r *ListerWatcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	return retryUnreachable(ctx, r, func() (runtime.Object, error) { return r.inner.ListWithContext(ctx, opts) })
}

// WatchWithContext watches, retrying while the API server is unreachable.
func (r *ListerWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return retryUnreachable(ctx, r, func() (watch.Interface, error) { return r.inner.WatchWithContext(ctx, opts) })
}

func retryUnreachable[T any](ctx context.Context, r *ListerWatcher, call func() (T, error)) (T, error) {
	delay := r.base
	for {
		out, err := call()
		if err == nil || !Unreachable(err) {
			return out, err
		}
		if sleepErr := r.sleep(ctx, time.Duration(float64(delay)*(1+0.5*r.rand()))); sleepErr != nil {
			return out, err
		}
		delay = min(2*delay, r.max)
	}
}

// Unreachable reports whether err means "the API server is not there right
// now" (down, restarting, overloaded) rather than "the API server said no".
func Unreachable(err error) bool {
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
func (r *ListerWatcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return r.ListWithContext(context.Background(), opts)
}

// Watch is WatchWithContext without a context.
func (r *ListerWatcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return r.WatchWithContext(context.Background(), opts)
}
