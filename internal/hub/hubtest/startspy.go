package hubtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartSpy is a hub's testing.TB (for Start) that notes when one of its
// controllers started its workers, which a controller does once every
// watch of it has handled its informer's first list: a hub restart's cost.
type StartSpy struct {
	testing.TB
	line    string
	mu      sync.Mutex
	started time.Time
}

// NewStartSpy spies, for tb, on the start of the workers of controller.
func NewStartSpy(tb testing.TB, controller string) *StartSpy {
	return &StartSpy{TB: tb, line: fmt.Sprintf(`"Starting workers" "controller"=%q`, controller)}
}

// Log notes the start of the workers; the hub's log itself is dropped.
func (s *StartSpy) Log(args ...any) {
	if strings.Contains(fmt.Sprint(args...), s.line) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.started = time.Now()
	}
}

// StartedAt is when the workers started, or zero.
func (s *StartSpy) StartedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// WaitStarted waits up to limit for the workers and returns how long after
// begin they started.
func (s *StartSpy) WaitStarted(begin time.Time, limit time.Duration) time.Duration {
	s.Helper()
	for s.StartedAt().IsZero() {
		if time.Since(begin) > limit {
			s.Fatalf("no %s within %s", s.line, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s.StartedAt().Sub(begin)
}
