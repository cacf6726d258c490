//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
)

type rolloutHistoryOptions struct {
	rolloutOptions
}

func newRolloutHistoryCommand() *cobra.Command {
	o := &rolloutHistoryOptions{}
	return rolloutVerb("history NAME", "Show a Rollout's history: every transition, who caused it and why",
		`Show a Rollout's status.history, oldest first: the time, the phase left and
entered, the wave, the actor (a person, "hub" for automatic steps, "unknown"
for a change that did not say who made it) and the message. The Rollout keeps
the newest 50 entries.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutHistoryOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	r, err := c.Get(cmd.Context(), o.namespace, o.name)
	if err != nil {
		return err
	}
	printRolloutHistory(cmd.OutOrStdout(), r)
	return nil
}
