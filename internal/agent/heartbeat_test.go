package agent

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An unreachable or refusing hub is retried soon; an overloaded one (429)
// waits for the next interval, or ten thousand agents would keep it
// overloaded; success is no retry at all.
func TestRetrySoon(t *testing.T) {
	lease := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	for name, tc := range map[string]struct {
		err  error
		want bool
	}{
		"success":            {nil, false},
		"connection refused": {&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		"forbidden":          {apierrors.NewForbidden(lease, "agent", errors.New("no")), true},
		"unavailable":        {apierrors.NewServiceUnavailable("starting"), true},
		"too many requests":  {apierrors.NewTooManyRequests("overloaded", 1), false},
	} {
		if got := retrySoon(tc.err); got != tc.want {
			t.Errorf("%s: retrySoon = %v, want %v", name, got, tc.want)
		}
	}
}

func TestHeartbeatDelay(t *testing.T) {
	const interval = 60 * time.Second
	for _, tc := range []struct {
		name     string
		interval time.Duration
		failures int
		random   float64
		want     time.Duration
	}{
		{"steady, the most jitter", interval, 0, 0, 54 * time.Second},
		{"steady, no jitter", interval, 0, 0.999999999, interval},
		{"first retry", interval, 1, 0, 250 * time.Millisecond},
		{"first retry, the most jitter", interval, 1, 1, 375 * time.Millisecond},
		{"third retry", interval, 3, 0, time.Second},
		{"capped", interval, 10, 0, 8 * time.Second},
		{"capped, the most jitter", interval, 10, 1, 12 * time.Second},
		{"never later than the interval", 2 * time.Second, 10, 1, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := heartbeatDelay(tc.interval, tc.failures, tc.random)
			if diff := got - tc.want; diff < -time.Millisecond || diff > time.Millisecond {
				t.Errorf("heartbeatDelay(%s, %d, %v) = %s, want %s", tc.interval, tc.failures, tc.random, got, tc.want)
			}
		})
	}
}

// scriptedLeases answers renewals: each call takes the next behaviour
// (fail with an error, or hang until its context ends), then succeeds.
type scriptedLeases struct {
	mu     sync.Mutex
	script []error // errHang: block until the context ends
	calls  []time.Time
}

var errHang = errors.New("hang until the context ends")

func (s *scriptedLeases) next(ctx context.Context) error {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if errors.Is(err, errHang) {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (s *scriptedLeases) Update(ctx context.Context, lease *coordinationv1.Lease, _ metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if err := s.next(ctx); err != nil {
		return nil, err
	}
	return lease, nil
}

func (s *scriptedLeases) Patch(ctx context.Context, name string, _ types.PatchType, _ []byte, _ metav1.PatchOptions, _ ...string) (*coordinationv1.Lease, error) {
	if err := s.next(ctx); err != nil {
		return nil, err
	}
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
}

func (s *scriptedLeases) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

// heartbeatAgent runs an agent's heartbeat alone against leases until the test ends.
func heartbeatAgent(t *testing.T, leases leaseClient, interval time.Duration) {
	t.Helper()
	ns := fleetv1alpha1.ClusterNamespace("edge-1")
	a := &agent{
		opts:    Options{ClusterName: "edge-1", HeartbeatInterval: interval, HeartbeatGrace: 3 * interval},
		log:     logr.Discard(),
		hub:     &hubClient{cluster: "edge-1", namespace: ns, leases: leases},
		member:  newFakeMember(),
		metrics: newMetrics(nil),
		now:     time.Now,
		rand:    func() float64 { return 0.5 },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.heartbeat(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitCalls waits until leases saw n renewals, for at most within.
func waitCalls(t *testing.T, leases *scriptedLeases, n int, within time.Duration) []time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if calls := leases.times(); len(calls) >= n {
			return calls
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d renewals after %s, want %d", len(leases.times()), within, n)
	return nil
}

// While the hub is away the agent retries its renewal within a second or
// so, not a heartbeat interval later: the hub sees it again soon after it
// returns.
func TestHeartbeatRetriesSoonWhileTheHubIsAway(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	leases := &scriptedLeases{script: []error{refused, refused, refused}}
	heartbeatAgent(t, leases, time.Minute)
	// Retries after 0.3 s, 0.6 s and 1.25 s (base 250 ms doubling, +25%).
	calls := waitCalls(t, leases, 4, 5*time.Second)
	if took := calls[3].Sub(calls[0]); took > 3*time.Second {
		t.Errorf("the renewal after three refused ones came %s after the first, want about 2s", took)
	}
	// Then the interval again.
	time.Sleep(time.Second)
	if n := len(leases.times()); n != 4 {
		t.Errorf("%d renewals a second after one succeeded, want 4 (the next is a minute away)", n)
	}
}

// A renewal that hangs (a hub that accepts connections but does not answer
// yet, a dead connection) is given up when the next one is due.
func TestAHangingRenewalDoesNotHoldBackTheNext(t *testing.T) {
	leases := &scriptedLeases{script: []error{errHang}}
	heartbeatAgent(t, leases, time.Second)
	calls := waitCalls(t, leases, 2, 5*time.Second)
	if took := calls[1].Sub(calls[0]); took > 1500*time.Millisecond {
		t.Errorf("the renewal after a hanging one came %s after it, want about 1s", took)
	}
}
