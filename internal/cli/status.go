//go:build !agent

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/fleetview/hubread"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// statusInterval is how often `flotilla status -w` reads the hub again.
const statusInterval = 2 * time.Second

type statusOptions struct {
	hubClientOptions
	namespace string
	output    string
	watch     bool

	// Injected by tests; nil means the real ones.
	terminal terminalInfo
	interval time.Duration
}

func newStatusCommand() *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the fleet: revisions per Promise, rollouts by wave, failures, offline clusters, freezes",
		Long: `Show the fleet roll-up: how many clusters are available, offline or unknown;
per Promise, the share of its clusters healthy on each revision (the latest
marked), those that applied it but are not healthy apart;
the rollouts in flight with one progress bar per wave, the verification checks
of the current wave that have not passed and the command that approves a
waiting wave; the failing Works with their reasons; a line
counting drifted resources, when there are any (flotilla drift lists them);
the offline clusters with the age of their last heartbeat; the FleetFreezes
in force.

It reads with your credentials: what they may not list is left out and named
at the end, so a team member sees their slice of the fleet (-n names the
namespace to read Rollouts from when you may not list them everywhere).

With -w it reads the hub again every 2 seconds: on a terminal it redraws in
place, otherwise it prints the roll-up again, under a time line, whenever it
changed. With -o yaml|json it prints the roll-up as data (the same the
dashboard shows).`,
		Example: `  flotilla status
  flotilla status -w
  flotilla status -n team-a -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *statusOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVarP(&o.namespace, "namespace", "n", "", "read Rollouts and DriftExceptions from this namespace when you may not list them in every namespace")
	flags.StringVarP(&o.output, "output", "o", "", "print the roll-up as yaml or json instead")
	flags.BoolVarP(&o.watch, "watch", "w", false, "read the hub every 2s and show the roll-up again until interrupted")
}

func (o *statusOptions) validate() error {
	return validateOutput(o.output)
}

func (o *statusOptions) run(cmd *cobra.Command) error {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return fmt.Errorf("creating hub client: %w", err)
	}
	read := func(ctx context.Context) (fleetview.View, error) {
		s, err := hubread.Read(ctx, c, time.Now(), hubread.Options{Namespace: o.namespace})
		if err != nil {
			return fleetview.View{}, fmt.Errorf("reading the fleet: %w", err)
		}
		return fleetview.Build(s), nil
	}
	return o.show(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.Root().DisplayName(), read)
}

// show prints the roll-up read, and with -w keeps reading and showing it
// until ctx ends. Only the first read's error ends a watch; later ones are
// warnings, as the hub may come back.
func (o *statusOptions) show(ctx context.Context, out, stderr io.Writer, command string, read func(context.Context) (fleetview.View, error)) error {
	v, err := read(ctx)
	if err != nil {
		return err
	}
	if !o.watch {
		return o.print(out, &v, command)
	}
	terminal, interval := o.terminal, o.interval
	if terminal == nil {
		terminal = detectTerminal
	}
	if interval <= 0 {
		interval = statusInterval
	}
	var (
		frames   *frameWriter
		last     *fleetview.View
		snapshot int
		warning  string // the last read's error, shown in the frame on a terminal
	)
	if o.output == "" {
		frames = newFrameWriter(out, terminal)
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		switch {
		case frames != nil:
			var b bytes.Buffer
			fmt.Fprintf(&b, "Every %s: %s status    %s\n", interval, command, v.GeneratedAt.Format(time.TimeOnly))
			if warning != "" {
				fmt.Fprintf(&b, "warning: %s\n", display.Printable(warning))
			}
			b.WriteString("\n")
			printFleetStatus(&b, &v, command)
			if err := frames.draw(b.String()); err != nil {
				return err
			}
		case last == nil || !sameView(last, &v):
			if err := o.printSnapshot(out, &v, command, snapshot); err != nil {
				return err
			}
			snapshot++
			shown := v
			last = &shown
		}
		select {
		case <-ctx.Done():
			return nil // interrupted: watching ends there
		case <-ticker.C:
		}
		next, err := read(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && frames != nil:
			warning = fmt.Sprintf("%v; trying again in %s", err, interval)
		case err != nil:
			fmt.Fprintf(stderr, "warning: %v; trying again in %s\n", err, interval)
		default:
			v, warning = next, ""
		}
	}
}

// printSnapshot prints one of the roll-ups a piped -w shows, after a
// separator from the one before it.
func (o *statusOptions) printSnapshot(out io.Writer, v *fleetview.View, command string, n int) error {
	if n > 0 {
		switch o.output {
		case "yaml":
			fmt.Fprintln(out, "---")
		case "":
			fmt.Fprintf(out, "\n--- %s ---\n", v.GeneratedAt.Format(time.RFC3339))
		}
	}
	return o.print(out, v, command)
}

func (o *statusOptions) print(out io.Writer, v *fleetview.View, command string) error {
	if o.output != "" {
		return printObject(out, v, o.output)
	}
	var b bytes.Buffer
	printFleetStatus(&b, v, command)
	_, err := out.Write(b.Bytes())
	return err
}

// sameView reports whether a and b show the same fleet, whenever read.
func sameView(a, b *fleetview.View) bool {
	a2, b2 := *a, *b
	a2.GeneratedAt, b2.GeneratedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a2, b2)
}
