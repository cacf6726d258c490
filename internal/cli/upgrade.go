//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

type upgradeOptions struct {
	hubClientOptions
	rolloutctl.UpgradeOptions
	ref string
}

func newUpgradeCommand() *cobra.Command {
	o := &upgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade KIND/NAME -n NAMESPACE",
		Short: "Adopt a Deadline-mode rollout's revision for one instance now",
		Long: `Adopt the revision a Deadline-mode rollout is moving to, for one instance, ahead
of the deadline: the instance gets the annotation fleet.flotilla.dev/adopt-revision,
and the rollout admits each of its clusters as soon as every instance of the
Promise there has adopted (a cluster moves as a whole; it does not wait for its wave).

KIND is the instance's kind (any case), its plural, or either followed by
.GROUP. The revision is --to-revision, or else the target of the newest Rollout
in progress for the instance's Promise (in flotilla-system).`,
		Example: `  flotilla upgrade postgres/orders -n team-a
  flotilla upgrade websites.platform.example.com/shop -n web --to-revision website-3f2a9c01de`,
		Args: positional(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ref = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *upgradeOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the instance (required)")
	flags.StringVar(&o.ToRevision, "to-revision", "", "revision to adopt (default: the target of the rollout in progress)")
}

func (o *upgradeOptions) validate() error {
	var errs []error
	kind, name, ok := strings.Cut(o.ref, "/")
	if !ok || kind == "" || name == "" || strings.Contains(name, "/") {
		errs = append(errs, fmt.Errorf("%q: want KIND/NAME, e.g. postgres/orders", o.ref))
	}
	o.Kind, o.Name = kind, name
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace is required: the instance's namespace"))
	}
	return errors.Join(errs...)
}

func (o *upgradeOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.Upgrade(cmd.Context(), o.UpgradeOptions)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), &rolloutctl.Result{Summary: res.Summary, Notes: res.Notes, Changed: res.Changed}, "")
}
