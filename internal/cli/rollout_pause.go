//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
)

type rolloutPauseOptions struct {
	changeOptions
}

func newRolloutPauseCommand() *cobra.Command {
	o := &rolloutPauseOptions{}
	return rolloutVerb("pause NAME", "Pause a Rollout: admit no more clusters",
		`Pause a Rollout (spec.desiredState Paused): nothing new is admitted and no wave
starts; clusters already admitted finish, are observed and counted, and a wave may
still complete. Failures are recorded, but the failure policy waits for the
resume. A rollback is not paused.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutPauseOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Pause(cmd.Context(), o.namespace, o.name, o.message)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "resume it with: flotilla rollout resume "+o.name+namespaceFlag(o.namespace))
}
