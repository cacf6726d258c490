package cli

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flotilla-dev/flotilla/internal/agent"
	"github.com/flotilla-dev/flotilla/internal/version"
)

// DefaultAgentStateDir is where the agent keeps desired state and inventory
// unless told otherwise (a volume in the agent's Deployment).
const DefaultAgentStateDir = "/var/lib/flotilla-agent"

type agentOptions struct {
	hubKubeconfig    string
	memberKubeconfig string
	driftWatch       bool
	logs             *logSettings
	agent.Options
}

func newAgentCommand(logs *logSettings) *cobra.Command {
	o := &agentOptions{logs: logs}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the pull agent of one member cluster",
		Long: `Run the pull agent of one member cluster. It watches the Works in its own hub
namespace (flotilla-cluster-<name>), server-side-applies them to the member,
prunes what leaves them, reports health and status back to the hub, renews its
Lease as a heartbeat, and keeps the last desired state in --state-dir so that
it keeps the member as it was while the hub is unreachable.`,
		Example: `  flotilla agent --cluster edge-1 --hub-kubeconfig /etc/flotilla/hub.kubeconfig`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *agentOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.ClusterName, "cluster", "", "this member's cluster name on the hub (required)")
	flags.StringVar(&o.hubKubeconfig, "hub-kubeconfig", "", "kubeconfig for the hub, scoped to this cluster's namespace (required; `flotilla join --write-kubeconfig` writes one)")
	flags.StringVar(&o.memberKubeconfig, "kubeconfig", "", "member kubeconfig (default: $KUBECONFIG, then in-cluster)")
	flags.StringVar(&o.StateDir, "state-dir", DefaultAgentStateDir, "directory for the last desired state and the inventory of applied objects")
	flags.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", agent.DefaultHeartbeatInterval, "how often the agent renews its Lease on the hub")
	flags.DurationVar(&o.HeartbeatGrace, "heartbeat-grace", 0, "how long the hub waits after a renewal before marking the cluster Offline (whole seconds; default 3 × --heartbeat-interval)")
	flags.DurationVar(&o.ResyncInterval, "resync-interval", agent.DefaultResyncInterval, "how often settled Works are checked again on the member")
	flags.DurationVar(&o.ReleaseCodePagesEvery, "release-code-pages-every", 10*time.Second,
		"at most this often, when it looked at a Work since, drop the pages of the agent's own binary from its resident memory (start-up and bursts map most of them; those used again are mapped again from the page cache); 0 keeps them")
	flags.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	flags.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables it)`)
	flags.BoolVar(&o.driftWatch, "drift-watch", true, "watch the metadata of applied objects on the member, to find drift as it happens rather than on the next resync")
	flags.StringVar(&o.ClaimNamespace, "claim-namespace", "",
		"member namespace where the agent records which cluster the member is (ConfigMap "+agent.ClaimConfigMap+
			"), refusing to run as another; the install manifests set the agent's own (default: no claim)")
	flags.BoolVar(&o.ReportOnly, "report-only", false, "only report health, never write to the member: for git-delivered clusters, whose Works a GitOps tool applies")
}

func (o *agentOptions) validate() error {
	if o.hubKubeconfig == "" {
		return errors.New("--hub-kubeconfig is required")
	}
	o.Version = version.String()
	o.DisableDriftWatch = !o.driftWatch
	return o.Validate()
}

// agentGCPercent is the agent process's garbage-collection target unless
// GOGC is set: the agent is idle nearly all the time, so collecting more often
// costs little CPU and keeps its resident memory small (docs/agent.md).
const agentGCPercent = 50

func (o *agentOptions) run(ctx context.Context) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(agentGCPercent)
	}
	hub, err := restConfig(o.hubKubeconfig)
	if err != nil {
		return err
	}
	member, err := restConfig(o.memberKubeconfig)
	if err != nil {
		return err
	}
	log := logr.Discard()
	if o.logs != nil {
		log = o.logs.log
	}
	return agent.Run(logr.NewContext(ctx, log), hub, member, o.Options)
}
