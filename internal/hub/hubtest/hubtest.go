// Package hubtest runs the hub manager inside a test.
package hubtest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Start runs the hub manager against cfg, as `flotilla hub` does, until tb
// ends or the returned stop is called (it waits until the manager stopped);
// metrics and probes are off.
func Start(tb testing.TB, cfg *rest.Config, opts hub.Options) (stop func()) {
	tb.Helper()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), Logger(tb)))
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, cfg, opts) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			WaitStopped(tb, done)
		})
	}
	tb.Cleanup(stop)
	return stop
}

// StartManager starts a manager against cfg with the hub's scheme and
// cache indexes (controller.SetupIndexes), its cache synced, for a test
// that runs a reconciler of its own. It stops when ctx is cancelled or tb
// ends.
func StartManager(tb testing.TB, ctx context.Context, cfg *rest.Config) manager.Manager {
	tb.Helper()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: kube.NewScheme(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := controller.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(cancel)
	go func() { _ = mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		tb.Fatal("cache not synced")
	}
	return mgr
}

// WaitStopped waits for the result of a hub run (hub.Run) whose context was
// cancelled. A hub that has not stopped after 25 s gets its goroutines
// logged, before the manager's graceful shutdown period (30 s) ends, so that
// a failure shows what held it; one that has not stopped after 60 s fails
// the test.
func WaitStopped(tb testing.TB, done <-chan error) {
	tb.Helper()
	stopped := func(err error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("hub stopped with: %v", err)
		}
	}
	select {
	case err := <-done:
		stopped(err)
		return
	case <-time.After(25 * time.Second):
	}
	buf := make([]byte, 1<<20)
	tb.Logf("hub has not stopped after 25s; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	select {
	case err := <-done:
		tb.Log("hub stopped after more than 25s")
		stopped(err)
	case <-time.After(35 * time.Second):
		tb.Error("hub did not stop within 60s (its goroutines are logged above)")
	}
}

// Logger logs to tb until the test ends and is silent after: controllers
// still log while they shut down, and testing panics on a log from a test
// that has completed.
func Logger(tb testing.TB) logr.Logger {
	var (
		mu    sync.Mutex
		ended bool
	)
	// Registered first, so it runs after every later cleanup (they run last-in, first-out).
	tb.Cleanup(func() {
		mu.Lock()
		ended = true
		mu.Unlock()
	})
	return funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			tb.Log(prefix, args)
		}
	}, funcr.Options{})
}
