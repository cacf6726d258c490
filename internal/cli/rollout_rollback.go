//go:build !agent

package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

type rolloutRollbackOptions struct {
	changeOptions
	toRevision string
}

func newRolloutRollbackCommand() *cobra.Command {
	o := &rolloutRollbackOptions{}
	return rolloutVerb("rollback NAME", "Roll a Rollout back: every cluster on the target returns at once",
		`Request a rollback (spec.rollback {toRevision, by, at, message}): every cluster
whose Work renders the target revision is moved back at once, offline ones
included (they apply it when they return); clusters never admitted are left
alone. The Rollout ends RolledBack.

The revision is --to-revision, or the Rollout's fromRevision. A request cannot be
withdrawn or changed, so it is refused when one exists, when the Rollout is
terminal, when --to-revision is not a revision of the Rollout's subject (the
error lists those it may name), for an instance's Rollout when the revision
never ran on the whole target set (the hub would refuse it: a rollback moves
every cluster at once), and for a first rollout (no fromRevision) without
--to-revision. The hub refuses a revert's fromRevision without --to-revision
too (Stalled, InvalidSpec): only some clusters ran it. It wins over a pause
and over an abort. A request that
names a revision the subject does not have (written with kubectl) holds the
Rollout Stalled: this command replaces it, and an abort ends the Rollout.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutRollbackOptions) addFlags(flags *pflag.FlagSet) {
	o.changeOptions.addFlags(flags)
	flags.StringVar(&o.toRevision, "to-revision", "", "revision to return to (default: the rollout's fromRevision)")
}

func (o *rolloutRollbackOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Rollback(cmd.Context(), o.namespace, o.name, rolloutctl.RollbackOptions{ToRevision: o.toRevision, Message: o.message})
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "follow it with: flotilla rollout status -w "+o.name+namespaceFlag(o.namespace))
}
