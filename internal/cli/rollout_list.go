//go:build !agent

package cli

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

type rolloutListOptions struct {
	rolloutOptions
	allNamespaces bool
	output        string
}

func newRolloutListCommand() *cobra.Command {
	o := &rolloutListOptions{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List Rollouts",
		Long: `List the Rollouts of a namespace (flotilla-system, where Promise rollouts live,
by default), or of every namespace with -A: name, subject, target revision,
update mode, phase, current wave, share of clusters healthy on the target,
failed clusters and age.`,
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

func (o *rolloutListOptions) addFlags(flags *pflag.FlagSet) {
	o.rolloutOptions.addFlags(flags)
	flags.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the Rollouts of every namespace")
	flags.StringVarP(&o.output, "output", "o", "", "print the list as yaml or json instead")
}

func (o *rolloutListOptions) validate() error {
	return errors.Join(o.rolloutOptions.validate(), validateOutput(o.output))
}

func (o *rolloutListOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ns := o.namespace
	if o.allNamespaces {
		ns = ""
	}
	items, err := c.List(cmd.Context(), ns)
	if err != nil {
		return err
	}
	slices.SortFunc(items, func(a, b fleetv1alpha1.Rollout) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	out := cmd.OutOrStdout()
	if o.output != "" {
		list := &fleetv1alpha1.RolloutList{Items: make([]fleetv1alpha1.Rollout, 0, len(items))}
		list.APIVersion, list.Kind = fleetv1alpha1.GroupVersion.String(), "RolloutList"
		for i := range items {
			list.Items = append(list.Items, *forOutput(&items[i]))
		}
		return printObject(out, list, o.output)
	}
	if len(items) == 0 {
		if ns == "" {
			_, err = fmt.Fprintln(out, "no rollouts")
		} else {
			_, err = fmt.Fprintf(out, "no rollouts in namespace %s\n", ns)
		}
		return err
	}
	printRolloutList(out, items, o.allNamespaces, time.Now())
	return nil
}
