package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// codeRelease drops the agent binary's pages from its resident memory
// (Options.ReleaseCodePagesEvery): start-up maps nearly all of the binary,
// and so can a burst of applies, while an agent at rest runs a small part of
// it. It releases at most once a period, and only when the agent looked at a
// Work since the last release: an agent at rest is not woken to map again
// what it runs between looks (its heartbeat, the runtime).
type codeRelease struct {
	every   time.Duration
	release func() (uint64, error)
	log     logr.Logger
	// results counts the releases by result (released, failed, unsupported).
	results *prometheus.CounterVec
	// looked is set by every look at a Work, and at start-up.
	looked atomic.Bool
}

// busy says a Work was looked at.
func (c *codeRelease) busy() {
	if c != nil {
		c.looked.Store(true)
	}
}

// run releases until ctx is done or a release fails.
func (c *codeRelease) run(ctx context.Context) {
	c.looked.Store(true) // start-up
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !c.looked.Swap(false) {
			continue
		}
		released, err := c.release()
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			c.results.WithLabelValues("unsupported").Inc()
			c.log.V(1).Info("releasing the binary's pages is not supported here")
			return
		case err != nil:
			// Harmless: the pages stay resident, as they would without it.
			c.results.WithLabelValues("failed").Inc()
			c.log.Info("could not release the binary's pages; they stay resident", "error", err.Error())
			return
		}
		c.results.WithLabelValues("released").Inc()
		c.log.V(2).Info("released the binary's pages from resident memory", "addressSpaceMiB", released>>20)
	}
}
