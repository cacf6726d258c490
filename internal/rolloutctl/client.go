// Package rolloutctl holds the operations people run on Rollouts,
// FleetFreezes and instances through the hub API: approve, pause, resume,
// abort and roll back a Rollout, read and watch it, freeze and unfreeze the
// fleet, and adopt a Deadline-mode rollout's target early (upgrade).
//
// Every operation on a Rollout is a plain spec edit (the controller reads only
// the spec), made with optimistic concurrency and retried on conflict, so two
// operators never lose each other's approvals. Each records who made it (the
// caller's username from a SelfSubjectReview, or "unknown") and when (to the
// second). Nothing here writes a status.
package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// UnknownActor is recorded as "by" when the caller's identity cannot be
// found out; the hub records the same for changes without one.
const UnknownActor = "unknown"

// Client runs the operations against one hub.
type Client struct {
	c     client.WithWatch
	clock clock.PassiveClock
	// warn receives warnings that do not stop an operation (an unknown
	// identity); nil discards them.
	warn func(string)

	mu       sync.Mutex
	identity string
}

// New returns a Client of the hub that cfg reaches. warn, if not nil,
// receives warnings that do not stop an operation, such as an identity that
// could not be found out.
func New(cfg *rest.Config, warn func(string)) (*Client, error) {
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return nil, fmt.Errorf("creating hub client: %w", err)
	}
	return NewForClient(c, clock.RealClock{}, warn), nil
}

// NewForClient returns a Client over c (its scheme must know Flotilla's
// API) that reads the time from clk.
func NewForClient(c client.WithWatch, clk clock.PassiveClock, warn func(string)) *Client {
	return &Client{c: c, clock: clk, warn: warn}
}

// Identity returns the username the hub authenticates the caller as, from a
// SelfSubjectReview (authentication.k8s.io/v1).
func (c *Client) Identity(ctx context.Context) (string, error) {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.c.Create(ctx, review); err != nil {
		return "", fmt.Errorf("asking the hub who the caller is (SelfSubjectReview): %w", err)
	}
	if review.Status.UserInfo.Username == "" {
		return "", errors.New("asking the hub who the caller is (SelfSubjectReview): no username in the answer")
	}
	return review.Status.UserInfo.Username, nil
}

// actor is the identity recorded as "by": the caller's username, or
// UnknownActor with a warning when it cannot be found out. It never fails,
// so that no emergency operation is blocked by it. The username is kept for
// the Client's later operations; UnknownActor is not: a Client that lives
// long (the dashboard's) asks again at its next operation, rather than
// record every later one as unknown (which the hub's admission policy
// refuses, as it wants the user's name).
func (c *Client) actor(ctx context.Context) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.identity != "" {
		return c.identity
	}
	id, err := c.Identity(ctx)
	if err != nil {
		c.warnf("%v; recording the change as made by %q", err, UnknownActor)
		return UnknownActor
	}
	c.identity = id
	return id
}

func (c *Client) warnf(format string, args ...any) {
	if c.warn != nil {
		c.warn(fmt.Sprintf(format, args...))
	}
}

// now is the time of a change as the API stores it: to the second.
func (c *Client) now() time.Time { return c.clock.Now().Truncate(time.Second) }

// record is a ChangeRecord by the caller, now.
func (c *Client) record(ctx context.Context, message string) fleetv1alpha1.ChangeRecord {
	return fleetv1alpha1.ChangeRecord{By: c.actor(ctx), At: ptrTime(c.now()), Message: message}
}

// Get returns the Rollout ns/name.
func (c *Client) Get(ctx context.Context, ns, name string) (*fleetv1alpha1.Rollout, error) {
	r := &fleetv1alpha1.Rollout{}
	if err := c.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		return nil, notFound(err, ns, name)
	}
	return r, nil
}

// List returns the Rollouts of namespace ns, or of every namespace when ns
// is empty.
func (c *Client) List(ctx context.Context, ns string) ([]fleetv1alpha1.Rollout, error) {
	var list fleetv1alpha1.RolloutList
	if err := c.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		if ns == "" {
			return nil, fmt.Errorf("listing rollouts in every namespace: %w", err)
		}
		return nil, fmt.Errorf("listing rollouts in namespace %s: %w", ns, err)
	}
	return list.Items, nil
}

// NotFoundError is returned when a Rollout does not exist.
type NotFoundError struct{ Namespace, Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("rollout %s not found in namespace %s", e.Name, e.Namespace)
}

// notFound turns a NotFound into a NotFoundError, naming the rollout and namespace.
func notFound(err error, ns, name string) error {
	if apierrors.IsNotFound(err) {
		return &NotFoundError{Namespace: ns, Name: name}
	}
	return fmt.Errorf("reading rollout %s/%s: %w", ns, name, err)
}

// conflictBackoff spaces the retries of a spec edit that conflicted with
// another writer (the controller does not write the spec, so these are other
// operators): up to 10 tries over about 10s, jittered so that writers that
// collided do not collide again.
func conflictBackoff() wait.Backoff {
	return wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 1, Cap: 2 * time.Second}
}

// edit reads the Rollout ns/name, lets fn change its spec and describe the
// change in res, and patches the change with optimistic concurrency, starting
// again from a fresh read (and an empty res) on a conflict. fn reports
// whether it changed anything; when it did not, nothing is written. res ends
// with the Rollout as last read or written. what names the operation in
// errors ("approving").
func (c *Client) edit(ctx context.Context, ns, name, what string, fn func(*fleetv1alpha1.Rollout, *Result) (bool, error)) (*Result, error) {
	var (
		res *Result
		// refused is an error of the read or of fn: complete as it is.
		refused error
	)
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		r, err := c.Get(ctx, ns, name)
		if err != nil {
			refused = err
			return err
		}
		before := r.DeepCopy()
		res = &Result{Rollout: r}
		if res.Changed, err = fn(r, res); err != nil {
			refused = err
			return err
		}
		if !res.Changed {
			return nil
		}
		return c.c.Patch(ctx, r, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
	switch {
	case refused != nil:
		return nil, refused
	case err != nil:
		return nil, explainPatchError(err, ns, name, what)
	}
	return res, nil
}

// explainPatchError says what the API's refusal of a spec edit means; the
// CEL rules of the Rollout spec stand behind the messages matched here.
func explainPatchError(err error, ns, name, what string) error {
	if !apierrors.IsInvalid(err) {
		return fmt.Errorf("%s rollout %s/%s: %w", what, ns, name, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "an aborted rollout cannot be resumed or paused"):
		return fmt.Errorf("%s rollout %s/%s: it was aborted, and an aborted rollout cannot be resumed or paused "+
			"(create a new Rollout to move its clusters on): %w", what, ns, name, err)
	case strings.Contains(msg, "a requested rollback cannot be withdrawn"):
		return fmt.Errorf("%s rollout %s/%s: a requested rollback cannot be withdrawn: %w", what, ns, name, err)
	case strings.Contains(msg, "rollback.toRevision must differ from targetRevision"):
		return fmt.Errorf("%s rollout %s/%s: the rollback revision must differ from the target revision: %w", what, ns, name, err)
	}
	return fmt.Errorf("%s rollout %s/%s: the hub refused the change: %w", what, ns, name, err)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
