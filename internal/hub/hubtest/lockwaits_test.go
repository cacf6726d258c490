package hubtest

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// A goroutine of Flotilla's code stuck on a mutex is reported, with its
// stack; once it has the lock, nothing is.
func TestLockWaitsReportsAGoroutineStuckOnAMutex(t *testing.T) {
	var mu sync.Mutex
	mu.Lock()
	got := make(chan struct{})
	go waitForTheLock(&mu, got)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(LockWaits(), "waitForTheLock") {
		if time.Now().After(deadline) {
			t.Fatalf("the goroutine waiting on the mutex is not reported:\n%s", LockWaits())
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Unlock()
	<-got
	if w := LockWaits(); strings.Contains(w, "waitForTheLock") {
		t.Errorf("a goroutine that has the lock is still reported:\n%s", w)
	}
}

func waitForTheLock(mu *sync.Mutex, got chan<- struct{}) {
	mu.Lock()
	defer mu.Unlock()
	close(got)
}
