//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

type freezeOptions struct {
	hubClientOptions
	name             string
	reason           string
	rollbackInFlight bool
	until            string

	// untilFor or untilAt is --until, parsed.
	untilFor time.Duration
	untilAt  time.Time
}

func newFreezeCommand() *cobra.Command {
	o := &freezeOptions{}
	cmd := &cobra.Command{
		Use:   "freeze --reason REASON",
		Short: "Freeze the fleet: no Rollout admits any cluster",
		Long: `Freeze the fleet: create a FleetFreeze (cluster-scoped, named fleet-freeze
unless --name says otherwise). Within one reconcile every Rollout is held: phase
Paused, condition Frozen with your reason, nothing admitted, no wave started.
Without --rollback-in-flight (action Halt), clusters already admitted stay as
they are.

With --rollback-in-flight (action Rollback), every Rollout in flight (one with a
cluster rendering or running its target) rolls back instead: the clusters it
admitted return to its fromRevision at once, and it ends RolledBack, even if the
freeze is lifted meanwhile. Rollouts that admitted no cluster yet, first
rollouts (no fromRevision) and reverts (whose fromRevision, the change they
undo, only some clusters ran) are held as with Halt.

The freeze lasts until 'flotilla unfreeze', or until --until: a duration from now
(90m, 2h) or an RFC 3339 time. Rollouts it held then resume by themselves
(halted ones stay halted).`,
		Example: `  flotilla freeze --reason "incident 42: bad node image in eu-west"
  flotilla freeze --reason "incident 42" --rollback-in-flight
  flotilla freeze --reason "release freeze" --until 2031-12-27T08:00:00Z --name holidays`,
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

func (o *freezeOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVar(&o.name, "name", rolloutctl.DefaultFreezeName, "name of the FleetFreeze")
	flags.StringVar(&o.reason, "reason", "", "why the fleet is frozen, shown on every held Rollout (required)")
	flags.BoolVar(&o.rollbackInFlight, "rollback-in-flight", false, "also roll back every Rollout in flight (action Rollback)")
	flags.StringVar(&o.until, "until", "", "end the freeze automatically: a duration from now (90m) or an RFC 3339 time")
}

func (o *freezeOptions) validate() error {
	var errs []error
	if strings.TrimSpace(o.reason) == "" {
		errs = append(errs, errors.New("--reason is required: it is shown on every Rollout the freeze holds"))
	} else if len(o.reason) > maxMessageLength {
		errs = append(errs, fmt.Errorf("--reason is %d bytes, at most %d are allowed", len(o.reason), maxMessageLength))
	}
	if msgs := validation.IsDNS1123Subdomain(o.name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--name %q: %s", o.name, strings.Join(msgs, "; ")))
	}
	if o.until != "" {
		if d, err := time.ParseDuration(o.until); err == nil {
			if d <= 0 {
				errs = append(errs, fmt.Errorf("--until %s: the duration must be positive", o.until))
			}
			o.untilFor = d
		} else if t, err := time.Parse(time.RFC3339, o.until); err == nil {
			o.untilAt = t
		} else {
			errs = append(errs, fmt.Errorf("--until %q: want a duration (90m, 2h) or an RFC 3339 time (2031-12-27T08:00:00Z)", o.until))
		}
	}
	return errors.Join(errs...)
}

// action is the FleetFreeze's spec.action.
func (o *freezeOptions) action() fleetv1alpha1.FreezeAction {
	if o.rollbackInFlight {
		return fleetv1alpha1.FreezeRollback
	}
	return fleetv1alpha1.FreezeHalt
}

// untilTime is when the freeze ends; zero for never.
func (o *freezeOptions) untilTime(now time.Time) time.Time {
	if o.untilFor > 0 {
		return now.Add(o.untilFor)
	}
	return o.untilAt
}

func (o *freezeOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	now := time.Now()
	f, err := c.Freeze(cmd.Context(), rolloutctl.FreezeOptions{Name: o.name, Reason: o.reason, Action: o.action(), Until: o.untilTime(now)})
	if err != nil {
		return err
	}
	return printFreeze(cmd.OutOrStdout(), f, now)
}

// printFreeze says what a new FleetFreeze does.
func printFreeze(w io.Writer, f *fleetv1alpha1.FleetFreeze, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "fleet frozen by %s (FleetFreeze %s, action %s): no Rollout admits any cluster", f.Spec.FrozenBy, f.Name, f.Spec.Action)
	if f.Spec.Action == fleetv1alpha1.FreezeRollback {
		// Say what happens, and only that: the clusters admitted do not stay.
		b.WriteString(" except to roll it back\n" +
			"every Rollout in flight rolls back: the clusters it admitted return to its fromRevision at once, " +
			"and it ends RolledBack, even if the freeze is lifted meanwhile\n" +
			"Rollouts that admitted no cluster yet, first rollouts (no fromRevision) and reverts are held as with Halt\n")
	} else {
		b.WriteString("; clusters already admitted stay as they are\n")
	}
	if u := f.Spec.Until; u != nil {
		fmt.Fprintf(&b, "the freeze ends at %s (in %s)\n", u.UTC().Format(time.RFC3339), duration.HumanDuration(u.Sub(now)))
	}
	fmt.Fprintf(&b, "lift it with: flotilla unfreeze %s\n", f.Name)
	_, err := io.WriteString(w, b.String())
	return err
}
