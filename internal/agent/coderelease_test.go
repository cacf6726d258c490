package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// runCountedRelease runs a codeRelease whose release only counts, until the
// test ends.
func runCountedRelease(t *testing.T, every time.Duration, err error) (*codeRelease, *atomic.Int32) {
	var n atomic.Int32
	c := &codeRelease{every: every, log: logr.Discard(), results: newMetrics(nil).codePageReleases, release: func() (uint64, error) {
		n.Add(1)
		return 1 << 20, err
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c, &n
}

// waitCount waits up to 5 s for n to reach want, then checks that it stays
// there for settle.
func waitCount(t *testing.T, n *atomic.Int32, want int32, settle time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); n.Load() < want && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(settle)
	if got := n.Load(); got != want {
		t.Fatalf("releases = %d, want %d", got, want)
	}
}

func TestCodeReleaseFollowsLooksAtWorksAndSleepsAtRest(t *testing.T) {
	c, n := runCountedRelease(t, 20*time.Millisecond, nil)
	waitCount(t, n, 1, 200*time.Millisecond) // start-up's pages, then nothing at rest
	c.busy()
	waitCount(t, n, 2, 200*time.Millisecond) // after a look, once
	c.busy()
	c.busy()
	waitCount(t, n, 3, 200*time.Millisecond) // at most once a period
}

func TestCodeReleaseStopsWhereItCannotRelease(t *testing.T) {
	for _, err := range []error{errors.ErrUnsupported, errors.New("madvise: invalid argument")} {
		c, n := runCountedRelease(t, 20*time.Millisecond, err)
		waitCount(t, n, 1, 100*time.Millisecond)
		c.busy()
		waitCount(t, n, 1, 100*time.Millisecond) // not tried again
	}
}

func TestNoCodeReleaseIgnoresLooks(t *testing.T) {
	var c *codeRelease
	c.busy()
}
