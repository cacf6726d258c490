//go:build !agent

package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

// rolloutCheckOptions name a verification check of a wave.
type rolloutCheckOptions struct {
	changeOptions
	check, wave string
	skip        bool
}

func newRolloutRerunCheckCommand() *cobra.Command {
	o := &rolloutCheckOptions{}
	return rolloutVerb("rerun-check NAME", "Re-run a verification check of a wave",
		`Re-run a verification check: add {wave, check, action: Rerun, by, at, message}
to the Rollout's spec.checkActions. The hub measures the check afresh for that
wave: its states start over, so an Inconclusive check that holds the wave (the
endpoint was unreachable) or a Failed one is judged again from new measurements.
Failed clusters it had failed recover when it passes; a halted Rollout still
needs flotilla rollout resume.

Without --wave, the current wave. The record is under your name (the hub's
admission policy refuses any other) and shows in the history and Events.`,
		&o.rolloutOptions, o, o.run)
}

func newRolloutSkipCheckCommand() *cobra.Command {
	o := &rolloutCheckOptions{skip: true}
	return rolloutVerb("skip-check NAME", "Skip a verification check for one wave, with a reason",
		`Skip a verification check for one wave: add {wave, check, action: Skip, by,
at, message} to the Rollout's spec.checkActions. The check counts neither for nor
against that wave (its verdict is Skipped): a wave it held carries on. The reason
(--message) is required; the record is under your name (the hub's admission
policy refuses any other), is kept in the wave's status and cannot be taken back.
A wave that is over, or a Rollout rolling back or over, keeps its checks'
verdicts: a skip there is refused.

Without --wave, the current wave.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutCheckOptions) addFlags(flags *pflag.FlagSet) {
	o.changeOptions.addFlags(flags)
	flags.StringVar(&o.check, "check", "", "the check, by name (required)")
	flags.StringVar(&o.wave, "wave", "", "the wave (default: the current wave)")
}

func (o *rolloutCheckOptions) validate() error {
	err := o.changeOptions.validate()
	if o.check == "" {
		err = errors.Join(err, errors.New("--check is required"))
	}
	if o.skip && strings.TrimSpace(o.message) == "" {
		err = errors.Join(err, errors.New("--message is required: say why the check is skipped"))
	}
	return err
}

func (o *rolloutCheckOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	opts := rolloutctl.CheckOptions{Check: o.check, Wave: o.wave, Message: o.message}
	act := c.RerunCheck
	if o.skip {
		act = c.SkipCheck
	}
	res, err := act(cmd.Context(), o.namespace, o.name, opts)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "follow it with: flotilla rollout status -w "+o.name+namespaceFlag(o.namespace))
}
