package hub_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/flotilla-dev/flotilla/internal/hub"
)

// Controllers' event handlers log with the context of the manager's
// runnables, not a reconcile's. It carries the hub's logger, so a handler's
// error (a list that failed) reaches the hub's log also where the global
// logger is discarded because several components share a process, each
// logging to its own file (`flotilla dev up`, the simulator).
func TestRunnablesLogWithTheHubsLogger(t *testing.T) {
	var (
		mu   sync.Mutex
		logs []string
	)
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, prefix+" "+args)
	}, funcr.Options{})
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), logger))
	defer cancel()
	// No metrics or probe server: nothing listens.
	mgr, err := hub.NewManager(ctx, hubCP.RESTConfig, hub.Options{MetricsAddr: "0", ProbeAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		ctrl.LoggerFrom(ctx).Info("a runnable's line")
		<-ctx.Done()
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	logged := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(logs, func(l string) bool {
			return strings.HasPrefix(l, "hub ") && strings.Contains(l, "a runnable's line")
		})
	}
	for deadline := time.Now().Add(30 * time.Second); !logged(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hub's logger has no line of the runnable")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the hub stopped with: %v", err)
	}
}
