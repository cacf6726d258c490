// Package hub runs Flotilla's controller manager on the hub cluster.
package hub

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Options configure the hub controller manager.
type Options struct {
	// MetricsAddr serves Prometheus metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
	// LeaderElect makes replicas elect one active leader (HA hubs).
	LeaderElect bool
	// LeaderElectionNamespace holds the leader Lease; defaults to the in-cluster namespace.
	LeaderElectionNamespace string
	// InstallCRDs makes the hub install or upgrade Flotilla's CRDs before starting.
	InstallCRDs bool
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

	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                  kube.NewScheme(),
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:  opts.ProbeAddr,
		LeaderElection:          opts.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// A hub that loses its lease stops at once rather than racing the new leader.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating hub manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	log.Info("starting hub", "leaderElection", opts.LeaderElect)
	return mgr.Start(ctx)
}
