//go:build !agent

package cli

import (
	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

type hubOptions struct {
	kubeconfig string
	hub.Options
}

func newHubCommand() *cobra.Command {
	o := &hubOptions{}
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub controller manager against the hub cluster",
		Long: `Run the hub controller manager. It reconciles Clusters, Fleets, Promises,
instances, Works and Rollouts held in the hub cluster's API; several replicas
elect a leader when --leader-elect is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *hubOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "hub kubeconfig (default: $KUBECONFIG, then in-cluster)")
	flags.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	flags.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flags.StringVar(&o.PprofAddr, "pprof-bind-address", "0", `address of Go's /debug/pprof/ profiles ("0" disables it)`)
	flags.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader among hub replicas")
	flags.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader Lease (default: the pod's namespace)")
	flags.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", hub.DefaultLeaseDuration,
		"how long a standby waits after the leader's last renewal before it takes over (a leader that stops cleanly hands over at once)")
	flags.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", hub.DefaultRenewDeadline,
		"how long the leader retries renewing before it stops leading and exits; shorter than the lease duration")
	flags.DurationVar(&o.RetryPeriod, "leader-election-retry-period", hub.DefaultRetryPeriod,
		"how often replicas try to acquire or renew the leader Lease")
	flags.BoolVar(&o.InstallCRDs, "install-crds", true, "install or upgrade Flotilla's CRDs at start")
	flags.DurationVar(&o.ClusterOfflineGrace, "cluster-offline-grace", 0,
		"time without a heartbeat after which a cluster is Offline (0: each agent's lease duration)")
	flags.DurationVar(&o.ClusterMinAgentGrace, "min-agent-grace", liveness.DefaultMinAgentGrace,
		"the least an agent's own lease duration counts for: a shorter one would flip its cluster Available and Offline every second (0: no floor)")
	flags.DurationVar(&o.HeartbeatStatusResolution, "heartbeat-status-resolution", liveness.DefaultHeartbeatStatusResolution,
		"how stale a Cluster's status.lastHeartbeatTime may get while its availability holds (bounds status writes); "+
			"also how often a cluster's recorded Kubernetes version may change")
}

func (o *hubOptions) run(cmd *cobra.Command) error {
	config, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("hub")
	switch limit, err := setMemoryLimit(memlimit.FromCgroup); {
	case err != nil:
		log.Error(err, "no Go memory limit from the container's (set GOMEMLIMIT to give one)")
	case limit > 0:
		log.Info("Go memory limit", "bytes", limit)
	}
	return hub.Run(ctrl.LoggerInto(cmd.Context(), ctrl.Log), config, o.Options)
}
