//go:build !agent

package cli

import (
	"errors"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/demo"
)

type demoOptions struct {
	dir  string
	keep bool
}

func newDemoCommand() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the guided demo: a local fleet, a Promise, a good rollout and a bad one that rolls back",
		Long: `Run Flotilla's guided demo on this machine, narrating each step with the
command that shows the same:

  - a hub and 5 member clusters on loopback (as 'flotilla dev up'), labelled
    into the waves pilot (1), canary (2) and general (2);
  - a Fleet and a RolloutStrategy (pilot → canary → general, failure budgets,
    bake times, an approval before general, short progress deadlines);
  - a Promise (Web) and one instance for each of two teams, on every member;
  - a good image change rolled out wave by wave, approved before the general
    wave by the user of DIR/hub.kubeconfig (recorded in the Rollout's history);
  - a bad image change that breaches the canary's failure budget and rolls
    back automatically.

It exits 0 only if every outcome was as it should be, and stops the fleet
unless --keep is given: then it stays up until Ctrl-C (or
'flotilla dev down --dir DIR') and serves the dashboard on 127.0.0.1:8089
(or a free loopback port when that one is taken). DIR holds the kubeconfigs, the logs and the
demo's manifests. Needs the control-plane binaries ('make tools').`,
		Example: `  flotilla demo
  flotilla demo --dir /tmp/flotilla-demo --keep`,
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

func (o *demoOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.dir, "dir", ".flotilla-demo", "directory for the fleet's kubeconfigs, logs and the demo's manifests")
	flags.BoolVar(&o.keep, "keep", false, "keep the fleet running after the story, until Ctrl-C")
}

func (o *demoOptions) validate() error {
	if o.dir == "" {
		return errors.New("--dir must not be empty")
	}
	return nil
}

func (o *demoOptions) run(cmd *cobra.Command) error {
	return demo.Run(cmd.Context(), demo.Options{Dir: o.dir, Keep: o.keep, Out: cmd.OutOrStdout()})
}
