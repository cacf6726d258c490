package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// watchTimeout bounds one watch request; the loop reads the Rollout again and
// starts a new one after it, so a silently dead connection costs at most this.
const watchTimeout = 60 * time.Second

// maxWatchBackoff bounds the wait between retries when the hub cannot be reached.
const maxWatchBackoff = 10 * time.Second

// Watch calls fn with the Rollout ns/name, then again each time it changes
// (a new resourceVersion), until it reaches a terminal phase (after fn saw
// it), ctx ends (Watch returns ctx.Err()), fn returns an error, or the
// Rollout is deleted. A broken watch is re-established from a fresh read.
func (c *Client) Watch(ctx context.Context, ns, name string, fn func(*fleetv1alpha1.Rollout) error) error {
	var (
		last    string
		backoff = time.Second
	)
	// seen reports the Rollout to fn unless it did already, and whether to stop.
	seen := func(r *fleetv1alpha1.Rollout) (bool, error) {
		if r.ResourceVersion != last {
			last = r.ResourceVersion
			if err := fn(r); err != nil {
				return true, err
			}
		}
		return r.Status.Phase.IsTerminal(), nil
	}
	for {
		r, err := c.Get(ctx, ns, name)
		var nf *NotFoundError
		switch {
		case errors.As(err, &nf) && last != "":
			return fmt.Errorf("rollout %s/%s was deleted", ns, name)
		case err != nil && (ctx.Err() != nil || errors.As(err, &nf)):
			return errors.Join(ctx.Err(), err)
		case err != nil:
			c.warnf("%v; trying again in %s", err, backoff)
			if !sleep(ctx, backoff) {
				return ctx.Err()
			}
			backoff = min(2*backoff, maxWatchBackoff)
			continue
		}
		if stop, err := seen(r); stop || err != nil {
			return err
		}
		started := time.Now()
		stop, err := c.watchFrom(ctx, r, seen)
		if stop || err != nil {
			return err
		}
		// A watch that ended at once (refused, or the hub going away) makes
		// this a poll with a bounded interval rather than a busy loop.
		if time.Since(started) < time.Second {
			if !sleep(ctx, backoff) {
				return ctx.Err()
			}
			backoff = min(2*backoff, maxWatchBackoff)
		} else {
			backoff = time.Second
		}
	}
}

// watchFrom watches the Rollout from r's resourceVersion, passing each new
// version to seen, until seen says stop (true) or the watch ends (false).
func (c *Client) watchFrom(ctx context.Context, r *fleetv1alpha1.Rollout, seen func(*fleetv1alpha1.Rollout) (bool, error)) (bool, error) {
	timeout := int64(watchTimeout / time.Second)
	w, err := c.c.Watch(ctx, &fleetv1alpha1.RolloutList{}, client.InNamespace(r.Namespace),
		client.MatchingFields{"metadata.name": r.Name},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: r.ResourceVersion, TimeoutSeconds: &timeout}})
	if err != nil {
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		// Polling stands in until the next look: the caller reads again.
		return false, nil
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if got, ok := ev.Object.(*fleetv1alpha1.Rollout); ok {
					if stop, err := seen(got); stop || err != nil {
						return true, err
					}
				}
			case watch.Deleted:
				return true, fmt.Errorf("rollout %s/%s was deleted", r.Namespace, r.Name)
			case watch.Error:
				// Typically 410 Gone: start again from a fresh read.
				return false, nil
			}
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
