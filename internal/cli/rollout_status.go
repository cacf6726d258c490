//go:build !agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

type rolloutStatusOptions struct {
	rolloutOptions
	watch  bool
	output string
}

func newRolloutStatusCommand() *cobra.Command {
	o := &rolloutStatusOptions{}
	cmd := rolloutVerb("status NAME", "Show a Rollout's progress: waves, counts, failures, recent history",
		`Show a Rollout's roll-up: subject, revisions, update mode (an Immediate
rollout's reason; a Deadline one's adoption and time left), phase and current
wave, the share of clusters healthy on the target, counts, one line per wave
(phase, clusters, counts, approval, bake start), the newest failed clusters,
conditions and the last history entries.

With -w it watches the Rollout and prints it again on every change, until it
reaches a terminal phase or you interrupt it. With -o yaml|json it prints the
object itself.`,
		&o.rolloutOptions, o, o.run)
	cmd.Example = `  flotilla rollout status postgres-abcdef0123
  flotilla rollout status -w orders-7d9f -n team-a
  flotilla rollout status postgres-abcdef0123 -o yaml`
	return cmd
}

func (o *rolloutStatusOptions) addFlags(flags *pflag.FlagSet) {
	o.rolloutOptions.addFlags(flags)
	flags.BoolVarP(&o.watch, "watch", "w", false, "print the rollout again on every change until it ends")
	flags.StringVarP(&o.output, "output", "o", "", "print the object as yaml or json instead")
}

func (o *rolloutStatusOptions) validate() error {
	return errors.Join(o.rolloutOptions.validate(), validateOutput(o.output))
}

func (o *rolloutStatusOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	show := func(r *fleetv1alpha1.Rollout) error {
		if o.output != "" {
			return printObject(out, forOutput(r), o.output)
		}
		printRolloutStatus(out, r, time.Now())
		return nil
	}
	ctx := cmd.Context()
	if !o.watch {
		r, err := c.Get(ctx, o.namespace, o.name)
		if err != nil {
			return err
		}
		return show(r)
	}
	first := true
	err = c.Watch(ctx, o.namespace, o.name, func(r *fleetv1alpha1.Rollout) error {
		switch {
		case first:
			first = false
		case o.output == "yaml":
			fmt.Fprintln(out, "---")
		case o.output == "":
			fmt.Fprintf(out, "\n--- %s ---\n", time.Now().Format(time.TimeOnly))
		}
		return show(r)
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: watching ends there
	}
	return err
}
