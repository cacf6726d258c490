//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
)

type rolloutAbortOptions struct {
	changeOptions
}

func newRolloutAbortCommand() *cobra.Command {
	o := &rolloutAbortOptions{}
	return rolloutVerb("abort NAME", "Abort a Rollout for good (it does not roll back)",
		`Abort a Rollout (spec.desiredState Aborted). This is terminal and asks for no
confirmation: nothing more is admitted; clusters already admitted stay on the
target revision and the others on the previous one, until a newer Rollout moves
them. Waves that never started are Skipped. An abort does not roll back: to
move clusters back, roll back instead (a rollback requested before or after the
abort wins over it). An aborted Rollout cannot be resumed or paused.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutAbortOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Abort(cmd.Context(), o.namespace, o.name, o.message)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "")
}
