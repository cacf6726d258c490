//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

type rolloutApproveOptions struct {
	changeOptions
	wave string
}

func newRolloutApproveCommand() *cobra.Command {
	o := &rolloutApproveOptions{}
	return rolloutVerb("approve NAME", "Approve a wave of a Rollout",
		`Approve a wave: add {wave, by, at, message} to the Rollout's spec.approvals.

Without --wave, the wave the Rollout waits for (phase WaitingForApproval) is
approved. With --wave, any wave may be approved ahead of time; the approval is
used when its turn comes. Once the Rollout has started the wave must be one of
its waves (status.waves; "remaining" is the implicit last one). Approving a wave
already approved changes nothing.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutApproveOptions) addFlags(flags *pflag.FlagSet) {
	o.changeOptions.addFlags(flags)
	flags.StringVar(&o.wave, "wave", "", "wave to approve (default: the wave the rollout waits for)")
}

func (o *rolloutApproveOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Approve(cmd.Context(), o.namespace, o.name, rolloutctl.ApproveOptions{Wave: o.wave, Message: o.message})
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "")
}
