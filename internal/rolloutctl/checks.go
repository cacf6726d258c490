package rolloutctl

import (
	"context"
	"fmt"
	"slices"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// CheckOptions name a verification check of a wave and why it is re-run
// or skipped.
type CheckOptions struct {
	// Check is the check's name.
	Check string
	// Wave is the wave; empty means the current wave.
	Wave string
	// Message is recorded with the action; a skip needs one.
	Message string
}

// RerunCheck re-runs a check of a wave: the hub measures it afresh (its
// states start over, an inconclusive or failed verdict included). It is
// recorded in spec.checkActions under the caller's name; another re-run
// of the same check replaces the record with a new time.
func (c *Client) RerunCheck(ctx context.Context, ns, name string, opts CheckOptions) (*Result, error) {
	return c.checkAction(ctx, ns, name, fleetv1alpha1.CheckRerun, opts)
}

// SkipCheck skips a check for one wave, with a reason: it counts neither
// for nor against the wave. It is recorded in spec.checkActions under the
// caller's name and cannot be taken back.
func (c *Client) SkipCheck(ctx context.Context, ns, name string, opts CheckOptions) (*Result, error) {
	if strings.TrimSpace(opts.Message) == "" {
		return nil, fmt.Errorf("skipping check %s needs a reason: say why with --message", opts.Check)
	}
	return c.checkAction(ctx, ns, name, fleetv1alpha1.CheckSkip, opts)
}

func (c *Client) checkAction(ctx context.Context, ns, name string, action fleetv1alpha1.CheckActionType, opts CheckOptions) (*Result, error) {
	verb := map[fleetv1alpha1.CheckActionType]string{fleetv1alpha1.CheckRerun: "re-running a check of", fleetv1alpha1.CheckSkip: "skipping a check of"}[action]
	return c.edit(ctx, ns, name, verb, func(r *fleetv1alpha1.Rollout, res *Result) (bool, error) {
		if err := refuseTerminal(r, "no check to act on"); err != nil {
			return false, err
		}
		wave := opts.Wave
		if wave == "" {
			if wave = r.Status.CurrentWave; wave == "" {
				return false, fmt.Errorf("rollout %s has no current wave (phase %s); name the wave with --wave", r.Name, or(string(r.Status.Phase), "not started"))
			}
		}
		if names := waveNames(r); len(names) > 0 && !slices.Contains(names, wave) {
			return false, fmt.Errorf("rollout %s has no wave %q; its waves are: %s", r.Name, wave, strings.Join(names, ", "))
		}
		if checks := waveChecks(r, wave); len(checks) > 0 && !slices.Contains(checks, opts.Check) {
			return false, fmt.Errorf("wave %s of rollout %s has no check %q; its checks are: %s", wave, r.Name, opts.Check, strings.Join(checks, ", "))
		}
		if err := refuseActionOver(r, action, wave, opts.Check); err != nil {
			return false, err
		}
		key := func(a fleetv1alpha1.CheckAction) bool {
			return a.Wave == wave && a.Check == opts.Check && a.Action == action
		}
		if action == fleetv1alpha1.CheckSkip {
			if i := slices.IndexFunc(r.Spec.CheckActions, key); i >= 0 {
				res.Summary = fmt.Sprintf("check %s of wave %s is already skipped (%s); nothing changed", opts.Check, wave, describeRecord(r.Spec.CheckActions[i].ChangeRecord))
				return false, nil
			}
		}
		rec := c.record(ctx, opts.Message)
		r.Spec.CheckActions = slices.DeleteFunc(r.Spec.CheckActions, key)
		r.Spec.CheckActions = append(r.Spec.CheckActions, fleetv1alpha1.CheckAction{Wave: wave, Check: opts.Check, Action: action, ChangeRecord: rec})
		if action == fleetv1alpha1.CheckSkip {
			res.Summary = fmt.Sprintf("check %s of wave %s of rollout %s skipped by %s: it counts neither for nor against the wave", opts.Check, wave, r.Name, rec.By)
		} else {
			res.Summary = fmt.Sprintf("check %s of wave %s of rollout %s re-run by %s: the hub measures it afresh at its next look", opts.Check, wave, r.Name, rec.By)
		}
		return true, nil
	})
}

// refuseActionOver refuses to re-run or skip a check of a wave that is
// over or of a rollout rolling back, and to re-run one that runs only while
// clusters progress once the wave bakes: the hub does not apply such an
// action (the check's verdict stands, failures included).
func refuseActionOver(r *fleetv1alpha1.Rollout, action fleetv1alpha1.CheckActionType, wave, check string) error {
	if r.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
		return fmt.Errorf("rollout %s is rolling back; its checks are not measured again, and their verdicts stand", r.Name)
	}
	i := slices.IndexFunc(r.Status.Waves, func(w fleetv1alpha1.WaveStatus) bool { return w.Name == wave })
	if i < 0 {
		return nil
	}
	switch p := r.Status.Waves[i].Phase; p {
	case fleetv1alpha1.WavePhaseSucceeded, fleetv1alpha1.WavePhaseSucceededWithFailures, fleetv1alpha1.WavePhaseSkipped:
		return fmt.Errorf("wave %s of rollout %s is over (%s); its checks are not measured again, and their verdicts stand", wave, r.Name, p)
	case fleetv1alpha1.WavePhaseBaking:
		if action != fleetv1alpha1.CheckRerun {
			return nil
		}
		checks := r.Status.Waves[i].Checks
		if j := slices.IndexFunc(checks, func(c fleetv1alpha1.WaveCheckStatus) bool { return c.Name == check }); j >= 0 && checks[j].When == fleetv1alpha1.CheckDuringProgress {
			return fmt.Errorf("check %s of wave %s runs while clusters progress, and the wave bakes; it is not measured again, and its verdict stands", check, wave)
		}
	}
	return nil
}

// waveChecks lists the checks the status reports for a wave.
func waveChecks(r *fleetv1alpha1.Rollout, wave string) []string {
	for _, w := range r.Status.Waves {
		if w.Name == wave {
			var out []string
			for _, c := range w.Checks {
				out = append(out, c.Name)
			}
			return out
		}
	}
	return nil
}
