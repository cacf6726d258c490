package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/flotilla-dev/flotilla/internal/agent"
)

type agentOptions struct {
	hubKubeconfig    string
	memberKubeconfig string
	agent.Options
}

func newAgentCommand() *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the pull agent of one member cluster",
		Long: `Run the pull agent inside a member cluster. It watches the Work in its own
hub namespace (flotilla-cluster-<name>) and applies it to the member.`,
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

func (o *agentOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.ClusterName, "cluster", "", "this member's cluster name on the hub (required)")
	flags.StringVar(&o.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig for the hub, scoped to this cluster's namespace (required)")
	flags.StringVar(&o.memberKubeconfig, "kubeconfig", "", "member kubeconfig (default: $KUBECONFIG, then in-cluster)")
	flags.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	flags.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	_ = cobra.MarkFlagRequired(flags, "hub-kubeconfig")
}

func (o *agentOptions) run(cmd *cobra.Command) error {
	hub, err := restConfig(o.hubKubeconfig)
	if err != nil {
		return err
	}
	member, err := restConfig(o.memberKubeconfig)
	if err != nil {
		return err
	}
	return agent.Run(ctrl.LoggerInto(cmd.Context(), ctrl.Log), hub, member, o.Options)
}
