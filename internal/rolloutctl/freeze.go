package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultFreezeName names the FleetFreeze that freeze and unfreeze use
// unless told otherwise.
const DefaultFreezeName = "fleet-freeze"

// FreezeOptions describe a FleetFreeze.
type FreezeOptions struct {
	// Name of the FleetFreeze; DefaultFreezeName when empty.
	Name string
	// Reason is shown on every held Rollout; required.
	Reason string
	// Action is Halt (hold every rollout) or Rollback (also roll back every
	// rollout in flight); Halt when empty.
	Action fleetv1alpha1.FreezeAction
	// Until ends the freeze automatically; zero freezes until it is deleted.
	Until time.Time
}

// Freeze creates a FleetFreeze, recording the caller as frozenBy. It refuses
// when a FleetFreeze of that name exists.
func (c *Client) Freeze(ctx context.Context, opts FreezeOptions) (*fleetv1alpha1.FleetFreeze, error) {
	name := or(opts.Name, DefaultFreezeName)
	if strings.TrimSpace(opts.Reason) == "" {
		return nil, errors.New("freezing the fleet: a reason is required")
	}
	if !opts.Until.IsZero() && !opts.Until.After(c.clock.Now()) {
		return nil, fmt.Errorf("freezing the fleet: until %s is not in the future", opts.Until.UTC().Format(time.RFC3339))
	}
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.FleetFreezeSpec{
			Reason:   opts.Reason,
			Action:   or(opts.Action, fleetv1alpha1.FreezeHalt),
			FrozenBy: c.actor(ctx),
		},
	}
	if !opts.Until.IsZero() {
		// Rounded up, so the freeze lasts at least as long as asked.
		until := opts.Until.Truncate(time.Second)
		if until.Before(opts.Until) {
			until = until.Add(time.Second)
		}
		f.Spec.Until = ptrTime(until)
	}
	if err := c.c.Create(ctx, f); err != nil {
		if apierrors.IsAlreadyExists(err) {
			existing := &fleetv1alpha1.FleetFreeze{}
			detail := ""
			if c.c.Get(ctx, client.ObjectKey{Name: name}, existing) == nil {
				detail = fmt.Sprintf(" (%s, by %s: %s)", existing.Spec.Action, or(existing.Spec.FrozenBy, UnknownActor), existing.Spec.Reason)
			}
			return nil, fmt.Errorf("freezing the fleet: FleetFreeze %s already exists%s; the fleet is already frozen by it. "+
				"Remove it with `flotilla unfreeze %s`, or give this freeze another name", name, detail, name)
		}
		return nil, fmt.Errorf("freezing the fleet: creating FleetFreeze %s: %w", name, err)
	}
	return f, nil
}

// Unfreeze deletes the FleetFreeze name (DefaultFreezeName when empty) and
// returns it as it was.
func (c *Client) Unfreeze(ctx context.Context, name string) (*fleetv1alpha1.FleetFreeze, error) {
	name = or(name, DefaultFreezeName)
	f := &fleetv1alpha1.FleetFreeze{}
	if err := c.c.Get(ctx, client.ObjectKey{Name: name}, f); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("unfreezing: reading FleetFreeze %s: %w", name, err)
		}
		names, lerr := c.freezeNames(ctx)
		switch {
		case lerr != nil:
			return nil, fmt.Errorf("unfreezing: no FleetFreeze named %s", name)
		case len(names) == 0:
			return nil, fmt.Errorf("unfreezing: no FleetFreeze named %s; the fleet is not frozen", name)
		default:
			return nil, fmt.Errorf("unfreezing: no FleetFreeze named %s; the fleet is frozen by: %s", name, strings.Join(names, ", "))
		}
	}
	if err := c.c.Delete(ctx, f, client.Preconditions{UID: &f.UID}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("unfreezing: deleting FleetFreeze %s: %w", name, err)
	}
	return f, nil
}

// UnfreezeAll deletes every FleetFreeze and returns them as they were, by name.
func (c *Client) UnfreezeAll(ctx context.Context) ([]fleetv1alpha1.FleetFreeze, error) {
	var list fleetv1alpha1.FleetFreezeList
	if err := c.c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("unfreezing: listing FleetFreezes: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b fleetv1alpha1.FleetFreeze) int { return strings.Compare(a.Name, b.Name) })
	removed := make([]fleetv1alpha1.FleetFreeze, 0, len(list.Items))
	var errs []error
	for i := range list.Items {
		f := &list.Items[i]
		if err := c.c.Delete(ctx, f); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("unfreezing: deleting FleetFreeze %s: %w", f.Name, err))
			continue
		}
		removed = append(removed, *f)
	}
	return removed, errors.Join(errs...)
}

// ListFreezes returns every FleetFreeze, by name.
func (c *Client) ListFreezes(ctx context.Context) ([]fleetv1alpha1.FleetFreeze, error) {
	var list fleetv1alpha1.FleetFreezeList
	if err := c.c.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing FleetFreezes: %w", err)
	}
	slices.SortFunc(list.Items, func(a, b fleetv1alpha1.FleetFreeze) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, nil
}

func (c *Client) freezeNames(ctx context.Context) ([]string, error) {
	list, err := c.ListFreezes(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list))
	for _, f := range list {
		names = append(names, f.Name)
	}
	return names, nil
}
