// Package hub runs Flotilla's controller manager on the hub cluster.
package hub

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/cluster"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Options configure the hub controller manager.
type Options struct {
	// MetricsAddr serves Prometheus metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "" or "0" disables it.
	ProbeAddr string
	// LeaderElect makes replicas elect one active leader (HA hubs).
	LeaderElect bool
	// LeaderElectionNamespace holds the leader Lease; defaults to the in-cluster namespace.
	LeaderElectionNamespace string
	// InstallCRDs makes the hub install or upgrade Flotilla's CRDs before starting.
	InstallCRDs bool

	// ClusterOfflineGrace, when positive, is how long a cluster may go without
	// a heartbeat before it is Offline, whatever its agent's lease duration.
	// Zero trusts each agent's Lease (leaseDurationSeconds).
	ClusterOfflineGrace time.Duration
	// HeartbeatStatusResolution is how stale Cluster status.lastHeartbeatTime
	// may get while availability does not change; it bounds the hub's Cluster
	// status writes at one per cluster per resolution. Zero means
	// cluster.DefaultHeartbeatStatusResolution (5m).
	HeartbeatStatusResolution time.Duration
}

// LeaderElectionID names the Lease hub replicas compete for.
const LeaderElectionID = "flotilla-hub.fleet.flotilla.dev"

// Run starts the hub and blocks until ctx is cancelled.
func Run(ctx context.Context, config *rest.Config, opts Options) error {
	log := ctrl.LoggerFrom(ctx).WithName("hub")
	if opts.InstallCRDs {
		crds, err := crd.CRDs()
		if err != nil {
			return fmt.Errorf("loading embedded CRDs: %w", err)
		}
		if err := kube.InstallCRDs(ctx, config, crds); err != nil {
			return err
		}
		log.Info("installed CRDs", "count", len(crds))
	}
	mgr, err := NewManager(ctx, config, opts)
	if err != nil {
		return err
	}
	log.Info("starting hub", "leaderElection", opts.LeaderElect)
	return mgr.Start(ctx)
}

// NewManager returns the hub's controller manager with every index and
// controller registered, not yet started; it logs with the logger in ctx.
// Several may run in one process (tests, `flotilla dev up`): controller names
// are not required to be unique.
func NewManager(ctx context.Context, config *rest.Config, opts Options) (ctrl.Manager, error) {
	probeAddr := opts.ProbeAddr
	if probeAddr == "" {
		probeAddr = "0"
	}
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  kube.NewScheme(),
		Logger:                  ctrl.LoggerFrom(ctx).WithName("hub"),
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          opts.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// A hub that loses its lease stops at once rather than racing the new leader.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating hub manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding ready check: %w", err)
	}
	if err := controller.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	if err := cluster.SetupWithManager(mgr, cluster.Options{
		OfflineGrace:              opts.ClusterOfflineGrace,
		HeartbeatStatusResolution: opts.HeartbeatStatusResolution,
	}); err != nil {
		return nil, fmt.Errorf("setting up the Cluster controller: %w", err)
	}
	return mgr, nil
}
