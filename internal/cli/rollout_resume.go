//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
)

type rolloutResumeOptions struct {
	changeOptions
}

func newRolloutResumeCommand() *cobra.Command {
	o := &rolloutResumeOptions{}
	return rolloutVerb("resume NAME", "Resume a paused or halted Rollout",
		`Resume a Rollout (spec.desiredState Running, with a new stateChange): a paused
one carries on where it was; a halted one (its failure budget was exceeded) is
checked again, and stays Halted, with the refused resume in its history, while
the budget is still exceeded.

The hub resumes a halted Rollout only when stateChange.at is later than the
halt; times are stored to the second, so a resume in the second of the halt (or
from a clock behind the hub's) is recorded one second after the halt.

A Rollout held by a FleetFreeze resumes by itself when the freeze ends.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutResumeOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Resume(cmd.Context(), o.namespace, o.name, o.message)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "follow it with: flotilla rollout status -w "+o.name+namespaceFlag(o.namespace))
}
