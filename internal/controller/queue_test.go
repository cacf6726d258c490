package controller

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
)

// Workers that add, get and finish items as fast as they can while the
// queue is shut down under them, as a controller's workers are when its
// manager stops: every worker returns. controller-runtime's priority queue
// alone deadlocks here within a few rounds (its #3538).
func TestQueueStopsWithWorkersInFlight(t *testing.T) {
	for round := range 30 {
		q := newStoppableQueue(priorityqueue.New[int]("test"))
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				for {
					q.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(rand.Int())}, rand.Int()) //nolint:gosec // test data
					item, _, shutdown := q.GetWithPriority()
					if shutdown {
						return
					}
					q.Done(item)
				}
			})
		}
		time.Sleep(10 * time.Millisecond)
		q.ShutDown()
		stopped := make(chan struct{})
		go func() { wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: workers still running 10s after the queue was shut down", round)
		}
	}
}
