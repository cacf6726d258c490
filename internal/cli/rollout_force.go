//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
)

type rolloutForceOptions struct {
	changeOptions
}

func newRolloutForceCommand() *cobra.Command {
	o := &rolloutForceOptions{}
	return rolloutVerb("force NAME", "Force a Deadline-mode Rollout now (platform only)",
		`Move the deadline of a Deadline-mode Rollout to now: the adoption window
closes, and the instances not adopted yet go through the waves. It records you
in spec.policyChange, and the history's DeadlineReached entry names you.

Only the platform may: the hub's admission policy refuses the change from
anyone who may not update RolloutStrategies.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutForceOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.ForceDeadline(cmd.Context(), o.namespace, o.name, o.message)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "watch it with: flotilla rollout status -w "+o.name+namespaceFlag(o.namespace))
}
