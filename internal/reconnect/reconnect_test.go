package reconnect

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// scriptedLW fails with the given errors, in order, then succeeds.
type scriptedLW struct {
	errs  []error
	calls int
}

func (s *scriptedLW) next() error {
	s.calls++
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	s.errs = s.errs[1:]
	return err
}

func (s *scriptedLW) ListWithContext(context.Context, metav1.ListOptions) (runtime.Object, error) {
	if err := s.next(); err != nil {
		return nil, err
	}
	return &fleetv1alpha1.WorkList{}, nil
}

func (s *scriptedLW) WatchWithContext(context.Context, metav1.ListOptions) (watch.Interface, error) {
	if err := s.next(); err != nil {
		return nil, err
	}
	return watch.NewFake(), nil
}

func TestReconnectRetriesWhileHubIsUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	unavailable := apierrors.NewServiceUnavailable("starting")
	inner := &scriptedLW{errs: []error{refused, refused, unavailable, refused, refused, refused, refused, refused, refused}}
	var slept []time.Duration
	lw := NewListerWatcher(inner, AgentBase, AgentMax)
	lw.rand = func() float64 { return 1 } // the most jitter, +50%
	lw.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }

	if _, err := lw.ListWithContext(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("list after the hub came back: %v", err)
	}
	if inner.calls != 10 {
		t.Errorf("made %d calls, want 10", inner.calls)
	}
	want := []time.Duration{375 * time.Millisecond, 750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second,
		6 * time.Second, 12 * time.Second, 12 * time.Second, 12 * time.Second, 12 * time.Second}
	if fmt.Sprint(slept) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v (capped at %s plus jitter)", slept, want, AgentMax)
	}
}

func TestReconnectReturnsRefusalsAtOnce(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: fleetv1alpha1.Group, Resource: "works"}, "", fmt.Errorf("no"))
	inner := &scriptedLW{errs: []error{forbidden}}
	lw := NewListerWatcher(inner, AgentBase, AgentMax)
	lw.sleep = func(context.Context, time.Duration) error { t.Fatal("slept on a refusal"); return nil }
	if _, err := lw.WatchWithContext(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("got %v, want the Forbidden error", err)
	}
}

func TestReconnectStopsWithContext(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	inner := &scriptedLW{errs: []error{refused, refused, refused}}
	lw := NewListerWatcher(inner, AgentBase, AgentMax)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lw.ListWithContext(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("list succeeded with a cancelled context while the hub was down")
	}
	if inner.calls != 1 {
		t.Errorf("made %d calls after cancel, want 1", inner.calls)
	}
}
