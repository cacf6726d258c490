//go:build !agent

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func newDevCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local fleet: a hub and member clusters on loopback",
	}
	cmd.AddCommand(newDevUpCommand(), newDevDownCommand())
	return cmd
}

type devUpOptions struct {
	devenv.Options
}

func newDevUpCommand() *cobra.Command {
	o := &devUpOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a hub and N member clusters; stays in the foreground until interrupted",
		Long: `Start a hub (etcd + kube-apiserver) and N member clusters (plus
kube-controller-manager, kube-scheduler and kwok fake nodes) on loopback ports.
It also runs, in this process, the hub controller and one agent per member,
joined with 'flotilla join' credentials. Writes DIR/hub.kubeconfig,
DIR/member-N.kubeconfig (admin), DIR/member-N.agent-hub.kubeconfig (the
agent's scoped hub credentials) and, once everything is ready, DIR/READY.
Ctrl-C or 'flotilla dev down --dir DIR' stops it all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *devUpOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.Dir, "dir", ".flotilla-dev", "directory for kubeconfigs, data and logs")
	flags.IntVar(&o.Members, "members", 3, "number of member clusters")
	flags.IntVar(&o.Nodes, "nodes", testenv.DefaultNodes, "kwok nodes per member")
	flags.BoolVar(&o.NoControllers, "no-controllers", false, "start the control planes only: no hub controller, no agents")
	flags.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", devenv.DefaultHeartbeatInterval, "agent heartbeat period (a member is Offline after 3 missed)")
	flags.DurationVar(&o.ResyncInterval, "resync-interval", devenv.DefaultResyncInterval, "how often agents re-check health without a change")
}

func (o *devUpOptions) run(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	start := time.Now()
	fmt.Fprintf(out, "starting a hub and %d members in %s\n", o.Members, o.Dir)
	env, err := devenv.Up(cmd.Context(), o.Options)
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Fprintf(out, "ready in %s:\n%s", time.Since(start).Round(100*time.Millisecond), env.Summary())
	fmt.Fprintf(out, "try: kubectl --kubeconfig %s/%s get nodes\n", env.Dir, devenv.MemberName(1)+".kubeconfig")
	fmt.Fprintln(out, "press Ctrl-C or run `flotilla dev down` to stop")
	<-cmd.Context().Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

type devDownOptions struct {
	dir   string
	grace time.Duration
}

func newDevDownCommand() *cobra.Command {
	o := &devDownOptions{}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the environment started by `flotilla dev up --dir DIR`",
		Long: `Stop the fleet that 'flotilla dev up --dir DIR' (or 'flotilla demo --keep
--dir DIR') serves: that process is asked to stop (SIGTERM), which stops its
control planes and agents, and is killed after --grace. The logs stay in DIR.
Nothing running in DIR is not an error.`,
		Example: `  flotilla dev down
  flotilla dev down --dir .flotilla-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := devenv.Down(cmd.Context(), o.dir, o.grace); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", ".flotilla-dev", "directory given to `flotilla dev up`")
	cmd.Flags().DurationVar(&o.grace, "grace", 30*time.Second, "how long to wait for an orderly stop before killing")
	return cmd
}
