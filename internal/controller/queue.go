package controller

import (
	"sync"

	"k8s.io/client-go/util/workqueue"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// NewQueue is the work queue of every hub controller (controller.Options
// NewQueue): controller-runtime's priority queue, its default, with a stop
// that cannot hang.
//
// controller-runtime v0.24's priority queue can deadlock when it is shut
// down (kubernetes-sigs/controller-runtime#3538, fixed upstream by #3540 in
// a later release): a worker waiting for an item returns on the shutdown
// without taking the item the queue is handing it, and the queue's
// hand-out goroutine then blocks forever holding the lock that Done takes.
// A worker that was still reconciling when the manager stopped then never
// returns from Done, its controller never stops, and the manager gives up
// after its graceful shutdown period (30 s). It showed as a hub that did
// not stop in tests, held by git delivery's workers (whose reconciles, git
// commands, are the longest, so one is most often in flight at a stop). Once
// the queue is shut down nothing is handed out again, so Done has nothing
// left to do, and nothing to get: this queue returns from Done and Get
// rather than wait on the deadlocked lock.
func NewQueue[T comparable](name string, rateLimiter workqueue.TypedRateLimiter[T]) workqueue.TypedRateLimitingInterface[T] {
	return newStoppableQueue(priorityqueue.New(name, func(o *priorityqueue.Opts[T]) { o.RateLimiter = rateLimiter }))
}

// stoppableQueue is a priority queue whose Done and Get return once the
// queue is shut down, even when the queue's own would not. Each call waits
// for the underlying one in a goroutine of its own, which a deadlocked
// queue leaves blocked (one per worker at most, after the queue's end).
type stoppableQueue[T comparable] struct {
	priorityqueue.PriorityQueue[T]
	stopped  chan struct{}
	stopOnce sync.Once
}

func newStoppableQueue[T comparable](q priorityqueue.PriorityQueue[T]) *stoppableQueue[T] {
	return &stoppableQueue[T]{PriorityQueue: q, stopped: make(chan struct{})}
}

// Done marks item as processed; after ShutDown it may return before the
// underlying queue has (which then may never).
func (q *stoppableQueue[T]) Done(item T) {
	select {
	case <-q.stopped:
		return
	default:
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.PriorityQueue.Done(item)
	}()
	select {
	case <-done:
	case <-q.stopped:
	}
}

// GetWithPriority waits for an item; shutdown is true once the queue is shut down.
func (q *stoppableQueue[T]) GetWithPriority() (item T, priority int, shutdown bool) {
	select {
	case <-q.stopped:
		return item, 0, true
	default:
	}
	type got struct {
		item     T
		priority int
		shutdown bool
	}
	ch := make(chan got, 1)
	go func() {
		item, priority, shutdown := q.PriorityQueue.GetWithPriority()
		ch <- got{item, priority, shutdown}
	}()
	select {
	case g := <-ch:
		return g.item, g.priority, g.shutdown
	case <-q.stopped:
		return item, 0, true
	}
}

// Get is GetWithPriority without the priority.
func (q *stoppableQueue[T]) Get() (item T, shutdown bool) {
	item, _, shutdown = q.GetWithPriority()
	return item, shutdown
}

// ShutDown shuts the queue down.
func (q *stoppableQueue[T]) ShutDown() {
	q.stopOnce.Do(func() { close(q.stopped) })
	q.PriorityQueue.ShutDown()
}

// ShutDownWithDrain is ShutDown, as in the priority queue.
func (q *stoppableQueue[T]) ShutDownWithDrain() {
	q.ShutDown()
}

// Options are the options of a hub controller: workers reconciles at once
// (zero: one) and NewQueue's work queue.
func Options(workers int) ctrlcontroller.Options {
	return ctrlcontroller.Options{MaxConcurrentReconciles: workers, NewQueue: NewQueue[reconcile.Request]}
}
