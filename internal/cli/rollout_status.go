//go:build !agent

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

type rolloutStatusOptions struct {
	rolloutOptions
	watch  bool
	output string

	// Injected by tests; nil means the real ones.
	terminal terminalInfo
	now      func() time.Time
}

func newRolloutStatusCommand() *cobra.Command {
	o := &rolloutStatusOptions{}
	cmd := rolloutVerb("status NAME", "Show a Rollout's progress: waves, counts, failures, recent history",
		`Show a Rollout's roll-up: subject, revisions, update mode (an Immediate
rollout's reason; a Deadline one's adoption and time left), phase and current
wave, the share of clusters healthy on the target, counts, one line per wave
(phase, clusters, counts, approval, bake start), the newest failed clusters,
conditions and the last history entries.

With -w it watches the Rollout until it reaches a terminal phase or you
interrupt it: on a terminal it redraws the roll-up in place on every change;
otherwise (piped, in CI) it prints one line per change: time, phase, wave,
healthy of total clusters, share on target, failures. With -o yaml|json it
prints the object itself (with -w, once per change).`,
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
	now := o.now
	if now == nil {
		now = time.Now
	}
	ctx := cmd.Context()
	if !o.watch {
		r, err := c.Get(ctx, o.namespace, o.name)
		if err != nil {
			return err
		}
		if o.output != "" {
			return printObject(out, forOutput(r), o.output)
		}
		printRolloutStatus(out, r, now())
		return nil
	}
	err = c.Watch(ctx, o.namespace, o.name, o.watcher(out, cmd.Root().DisplayName(), now))
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // interrupted: watching ends there
	}
	return err
}

// watcher returns what -w does with each version of the Rollout: print the
// object (-o), redraw the roll-up in place (a terminal), or print a line
// when the progress changed (anything else).
func (o *rolloutStatusOptions) watcher(out io.Writer, command string, now func() time.Time) func(*fleetv1alpha1.Rollout) error {
	if o.output != "" {
		first := true
		return func(r *fleetv1alpha1.Rollout) error {
			if !first && o.output == "yaml" {
				fmt.Fprintln(out, "---")
			}
			first = false
			return printObject(out, forOutput(r), o.output)
		}
	}
	terminal := o.terminal
	if terminal == nil {
		terminal = detectTerminal
	}
	if frames := newFrameWriter(out, terminal); frames != nil {
		return func(r *fleetv1alpha1.Rollout) error {
			var b bytes.Buffer
			printRolloutStatus(&b, r, now())
			return frames.draw(b.String())
		}
	}
	lines := &rolloutProgressLog{w: out, command: command}
	return func(r *fleetv1alpha1.Rollout) error { return lines.print(r, now()) }
}
