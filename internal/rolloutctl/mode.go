package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The update policy of a running Rollout is the platform's: the admission
// policy flotilla-rollout-actors lets only a user who may update
// RolloutStrategies change it, and only with a new policyChange naming the
// caller, which these operations record.

// SwitchToImmediate sets updatePolicy Immediate with reason: the Rollout's
// frozen waves merge into one wave, admitted under the strategy's immediate
// limits. A Rollout already in Immediate mode, or rolling back, is left as
// it is.
func (c *Client) SwitchToImmediate(ctx context.Context, ns, name, reason string) (*Result, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, errors.New("switching to Immediate: a reason is required")
	}
	return c.edit(ctx, ns, name, "switching to Immediate", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseTerminal(r, "nothing to switch"); err != nil {
			return false, err
		}
		if r.Spec.UpdatePolicy.Mode == fleetv1alpha1.UpdateModeImmediate {
			res.Summary = fmt.Sprintf("rollout %s is already in Immediate mode (%s); nothing changed", r.Name, describeRecordPtr(r.Spec.PolicyChange))
			return false, nil
		}
		if r.Spec.Rollback != nil || r.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
			return false, fmt.Errorf("rollout %s is rolling back; a rollback is not switched to Immediate", r.Name)
		}
		rec := c.record(ctx, reason)
		r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: reason}
		r.Spec.PolicyChange = &rec
		res.Summary = fmt.Sprintf("rollout %s switched to Immediate by %s: every remaining target moves in one wave under the strategy's immediate limits", r.Name, rec.By)
		if r.Status.Phase == fleetv1alpha1.RolloutPhaseHalted {
			res.Notes = append(res.Notes, "it is Halted, and stays halted until resumed")
		}
		return true, nil
	})
}

// ForceDeadline moves the deadline of a Deadline-mode Rollout to now: the
// adoption window closes and the rest go through the waves.
func (c *Client) ForceDeadline(ctx context.Context, ns, name, message string) (*Result, error) {
	return c.edit(ctx, ns, name, "forcing the deadline", func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseTerminal(r, "nothing to force"); err != nil {
			return false, err
		}
		p := r.Spec.UpdatePolicy
		if p.Mode != fleetv1alpha1.UpdateModeDeadline || p.Deadline == nil {
			return false, fmt.Errorf("rollout %s is in %s mode, not Deadline: there is no deadline to force", r.Name, or(p.Mode, fleetv1alpha1.UpdateModeProgressive))
		}
		now := c.now()
		if !p.Deadline.After(now) {
			res.Summary = fmt.Sprintf("the deadline of rollout %s passed at %s; nothing changed", r.Name, p.Deadline.UTC().Format(time.RFC3339))
			return false, nil
		}
		rec := c.record(ctx, message)
		r.Spec.UpdatePolicy.Deadline = ptrTime(now)
		r.Spec.PolicyChange = &rec
		res.Summary = fmt.Sprintf("deadline of rollout %s moved to now by %s: the adoption window closes and the rest go through the waves", r.Name, rec.By)
		return true, nil
	})
}
