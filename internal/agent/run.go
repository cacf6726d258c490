// Package agent is Flotilla's pull agent: it runs in a member cluster, reads
// the Work in its own hub namespace and applies it to the member.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Options configure one agent.
type Options struct {
	// ClusterName is the member's name on the hub (its Cluster object).
	ClusterName string
	// MetricsAddr serves Prometheus metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz.
	ProbeAddr string
}

// Validate checks the options before anything connects anywhere.
func (o Options) Validate() error {
	if o.ClusterName == "" {
		return errors.New("--cluster is required")
	}
	if errs := validation.IsDNS1123Label(o.ClusterName); len(errs) > 0 {
		return fmt.Errorf("--cluster %q: %s", o.ClusterName, errs[0])
	}
	return nil
}

// Run starts the agent and blocks until ctx is cancelled. hub is scoped by RBAC
// to the cluster's own namespace; member is the cluster the agent manages.
func Run(ctx context.Context, hub, member *rest.Config, opts Options) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	namespace := fleetv1alpha1.ClusterNamespace(opts.ClusterName)
	memberClient, err := kubernetes.NewForConfig(member)
	if err != nil {
		return fmt.Errorf("creating member client: %w", err)
	}

	mgr, err := ctrl.NewManager(hub, ctrl.Options{
		Scheme:                 kube.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress: opts.ProbeAddr,
		// The agent may only read its own namespace on the hub; a cluster-wide
		// cache would fail on RBAC.
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{namespace: {}}},
	})
	if err != nil {
		return fmt.Errorf("creating agent manager: %w", err)
	}
	// Healthy means the member's API server answers: the agent's reason to exist.
	if err := mgr.AddHealthzCheck("member", func(*http.Request) error {
		_, err := memberClient.Discovery().ServerVersion()
		return err
	}); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("hub-cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("hub cache not synced")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}
	ctrl.LoggerFrom(ctx).Info("starting agent", "cluster", opts.ClusterName, "namespace", namespace)
	return mgr.Start(ctx)
}
