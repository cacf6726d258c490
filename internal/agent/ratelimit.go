package agent

import (
	"sync"
	"time"
)

// jitterRateLimiter is the queue's per-Work backoff after errors (the hub
// refusing a status write, say): exponential from base to max, each delay
// stretched by up to 50% at random so that agents that lost the hub together
// do not come back in step.
type jitterRateLimiter struct {
	base, max time.Duration
	rand      func() float64

	mu       sync.Mutex
	failures map[string]int
}

func newJitterRateLimiter(base, max time.Duration) *jitterRateLimiter {
	return &jitterRateLimiter{base: base, max: max, rand: jitterRand, failures: map[string]int{}}
}

func (r *jitterRateLimiter) When(item string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.failures[item]
	r.failures[item] = n + 1
	d := r.base
	for i := 0; i < n && d < r.max; i++ {
		d *= 2
	}
	d = min(d, r.max)
	return time.Duration(float64(d) * (1 + 0.5*r.rand()))
}

func (r *jitterRateLimiter) Forget(item string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, item)
}

func (r *jitterRateLimiter) NumRequeues(item string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures[item]
}
