//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

type unfreezeOptions struct {
	hubClientOptions
	name string
	all  bool
}

func newUnfreezeCommand() *cobra.Command {
	o := &unfreezeOptions{}
	cmd := &cobra.Command{
		Use:   "unfreeze [NAME]",
		Short: "Lift a fleet freeze",
		Long: `Lift a fleet freeze: delete the FleetFreeze NAME (fleet-freeze by default), or
every FleetFreeze with --all. Rollouts it held resume by themselves once no
freeze is left; halted ones stay halted, and rollbacks it started carry on.`,
		Args: positional(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.name = args[0]
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *unfreezeOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.BoolVar(&o.all, "all", false, "lift every FleetFreeze")
}

func (o *unfreezeOptions) validate() error {
	if o.all && o.name != "" {
		return errors.New("give NAME or --all, not both")
	}
	return nil
}

func (o *unfreezeOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	var removed []fleetv1alpha1.FleetFreeze
	if o.all {
		removed, err = c.UnfreezeAll(cmd.Context())
	} else {
		var f *fleetv1alpha1.FleetFreeze
		if f, err = c.Unfreeze(cmd.Context(), o.name); f != nil {
			removed = append(removed, *f)
		}
	}
	if perr := printUnfreeze(cmd.OutOrStdout(), removed, o.all); perr != nil && err == nil {
		err = perr
	}
	return err
}

// printUnfreeze says which freezes were lifted.
func printUnfreeze(w io.Writer, removed []fleetv1alpha1.FleetFreeze, all bool) error {
	var b strings.Builder
	for _, f := range removed {
		fmt.Fprintf(&b, "FleetFreeze %s removed (%s, by %s: %s)\n", f.Name, f.Spec.Action,
			orDefault(f.Spec.FrozenBy, rolloutctl.UnknownActor), f.Spec.Reason)
	}
	switch {
	case len(removed) > 0:
		b.WriteString("the Rollouts it held resume by themselves once no freeze is left (halted ones stay halted)\n")
		if slices.ContainsFunc(removed, func(f fleetv1alpha1.FleetFreeze) bool { return f.Spec.Action == fleetv1alpha1.FreezeRollback }) {
			b.WriteString("the rollbacks it started carry on until RolledBack\n")
		}
	case all:
		b.WriteString("no FleetFreeze to remove: the fleet is not frozen\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
