// Package hub runs Flotilla's controller manager on the hub cluster.
package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/controller/cluster"
	"github.com/flotilla-dev/flotilla/internal/controller/driftexception"
	"github.com/flotilla-dev/flotilla/internal/controller/fleet"
	"github.com/flotilla-dev/flotilla/internal/controller/freeze"
	"github.com/flotilla-dev/flotilla/internal/controller/instance"
	"github.com/flotilla-dev/flotilla/internal/controller/override"
	"github.com/flotilla-dev/flotilla/internal/controller/promise"
	"github.com/flotilla-dev/flotilla/internal/controller/rollout"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery"
	"github.com/flotilla-dev/flotilla/internal/instancekinds"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/reconnect"
)

// Options configure the hub controller manager.
type Options struct {
	// MetricsAddr serves Prometheus metrics on /metrics; "0" disables it
	// and "" means :8080.
	MetricsAddr string
	// MetricsRegistry receives the hub's own metrics (flotilla_*); nil means
	// a new registry. It is served at MetricsAddr with controller-runtime's
	// global registry; tests pass one to gather from the hub they started.
	MetricsRegistry *prometheus.Registry
	// ProbeAddr serves /healthz and /readyz; "" or "0" disables it.
	ProbeAddr string
	// PprofAddr serves Go's /debug/pprof/ profiles; "" or "0" disables it.
	PprofAddr string
	// LeaderElect makes replicas elect one active leader (HA hubs).
	LeaderElect bool
	// LeaderElectionNamespace holds the leader Lease; defaults to the in-cluster namespace.
	LeaderElectionNamespace string
	// LeaseDuration is how long a standby waits, after the leader's last
	// renewal, before it takes the Lease over: the takeover time after a
	// leader dies without releasing it (a crash, SIGKILL, a lost node). A
	// leader that stops cleanly releases it, and a standby takes over at its
	// next retry. Zero means DefaultLeaseDuration.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader keeps trying to renew before it
	// gives up leading (and the process exits); shorter than LeaseDuration.
	// Zero means DefaultRenewDeadline.
	RenewDeadline time.Duration
	// RetryPeriod is how often replicas try to acquire or renew the Lease.
	// Zero means DefaultRetryPeriod.
	RetryPeriod time.Duration
	// InstallCRDs makes the hub install or upgrade Flotilla's CRDs before starting.
	InstallCRDs bool

	// ClusterOfflineGrace, when positive, is how long a cluster may go without
	// a heartbeat before it is Offline, whatever its agent's lease duration.
	// Zero trusts each agent's Lease (leaseDurationSeconds).
	ClusterOfflineGrace time.Duration
	// ClusterMinAgentGrace, when positive, is the least an agent's own
	// lease duration counts for: an agent asking for 1 s would otherwise
	// flip its cluster Available and Offline about twice a second, each
	// flip work for the hub's Rollouts, Fleets and instances. Zero sets no
	// floor (`flotilla hub` defaults it to liveness.DefaultMinAgentGrace).
	ClusterMinAgentGrace time.Duration
	// HeartbeatStatusResolution is how stale Cluster status.lastHeartbeatTime
	// may get while availability does not change; it bounds the hub's Cluster
	// status writes at one per cluster per resolution, and changes of a
	// cluster's recorded Kubernetes version likewise. Zero means
	// liveness.DefaultHeartbeatStatusResolution (5m).
	HeartbeatStatusResolution time.Duration

	// KubeAPIQPS and KubeAPIBurst limit the hub's requests to its API server.
	// Zero means DefaultKubeAPIQPS and DefaultKubeAPIBurst: a Promise change
	// rewrites one Work per instance and cluster, and client-go's own default
	// (5 QPS) would take minutes for a thousand instances.
	KubeAPIQPS   float32
	KubeAPIBurst int
	// InstanceWorkers is how many instances are rendered at once; zero means
	// instance.DefaultWorkers.
	InstanceWorkers int
	// AdmitLatest renders every cluster at the latest revisions at once
	// instead of following Rollouts (tests of rendering alone): no Rollout
	// controller runs and changes start no Rollout.
	AdmitLatest bool
	// NoRolloutController leaves the Rollout controller out: changes still
	// start Rollouts and the instance controller still renders what their
	// status admits, but nothing plans them (tests of what a Rollout's
	// stored admissions do alone, e.g. across a restart).
	NoRolloutController bool
	// GitDelivery configures the publisher of git-delivered clusters.
	GitDelivery gitdelivery.Options
}

// Defaults for the hub's API client (see Options.KubeAPIQPS).
const (
	DefaultKubeAPIQPS   = 500
	DefaultKubeAPIBurst = 1000
)

// LeaderElectionID names the Lease hub replicas compete for.
const LeaderElectionID = "flotilla-hub.fleet.flotilla.dev"

// Defaults of the leader election's timings: controller-runtime's and
// kube-controller-manager's. A standby takes over at most LeaseDuration +
// RetryPeriod after a leader died without releasing the Lease.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// leaderElectionTimings returns the options' timings with defaults, or an
// error when they cannot work: client-go's leader elector wants
// LeaseDuration > RenewDeadline > 1.2 × RetryPeriod.
func (o Options) leaderElectionTimings() (lease, renew, retryPeriod time.Duration, err error) {
	lease, renew, retryPeriod = o.LeaseDuration, o.RenewDeadline, o.RetryPeriod
	if lease == 0 {
		lease = DefaultLeaseDuration
	}
	if renew == 0 {
		renew = DefaultRenewDeadline
	}
	if retryPeriod == 0 {
		retryPeriod = DefaultRetryPeriod
	}
	switch {
	case lease < 0 || renew < 0 || retryPeriod < 0:
		err = fmt.Errorf("leader election timings must not be negative (lease duration %s, renew deadline %s, retry period %s)", lease, renew, retryPeriod)
	case lease <= renew:
		err = fmt.Errorf("the leader election lease duration (%s) must be longer than the renew deadline (%s)", lease, renew)
	case float64(renew) <= 1.2*float64(retryPeriod):
		err = fmt.Errorf("the leader election renew deadline (%s) must be longer than 1.2 × the retry period (%s)", renew, retryPeriod)
	}
	return lease, renew, retryPeriod, err
}

// Run starts the hub and blocks until ctx is cancelled.
func Run(ctx context.Context, config *rest.Config, opts Options) error {
	log := ctrl.LoggerFrom(ctx).WithName("hub")
	if opts.InstallCRDs {
		n, err := installCRDs(ctx, config)
		if err != nil {
			return err
		}
		log.Info("installed CRDs", "count", n)
	}
	if err := ensurePlatformNamespace(ctx, config); err != nil {
		return err
	}
	mgr, err := NewManager(ctx, config, opts)
	if err != nil {
		return err
	}
	log.Info("starting hub", "leaderElection", opts.LeaderElect)
	return mgr.Start(ctx)
}

// installCRDs installs or upgrades Flotilla's CRDs and returns how many.
// Replicas that start together install the same CRDs at once: one that
// loses a create or an update to another reads what the other wrote and
// tries again, rather than exiting (and crash-looping until the other is done).
func installCRDs(ctx context.Context, config *rest.Config) (int, error) {
	crds, err := crd.CRDs()
	if err != nil {
		return 0, fmt.Errorf("loading embedded CRDs: %w", err)
	}
	lost := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	backoff := wait.Backoff{Steps: 6, Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.5}
	if err := retry.OnError(backoff, lost, func() error { return kube.InstallCRDs(ctx, config, crds) }); err != nil {
		return 0, err
	}
	return len(crds), nil
}

// ensurePlatformNamespace creates the platform namespace unless it exists. It
// reads first: a hub installed with its manifests (config/hub) finds the
// namespace there and holds no right to create namespaces.
func ensurePlatformNamespace(ctx context.Context, config *rest.Config) error {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	_, err = client.CoreV1().Namespaces().Get(ctx, fleetv1alpha1.PlatformNamespace, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading namespace %s: %w", fleetv1alpha1.PlatformNamespace, err)
	}
	return kube.EnsureNamespace(ctx, config, fleetv1alpha1.PlatformNamespace)
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
	lease, renew, retryPeriod, err := opts.leaderElectionTimings()
	if err != nil {
		return nil, err
	}
	config = rest.CopyConfig(config)
	config.QPS, config.Burst = opts.KubeAPIQPS, opts.KubeAPIBurst
	if config.QPS == 0 {
		config.QPS = DefaultKubeAPIQPS
	}
	if config.Burst == 0 {
		config.Burst = DefaultKubeAPIBurst
	}
	scheme := kube.NewScheme()
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	// The hub caches only the CRDs it generates for Promises, not every CRD
	// of the hub cluster.
	generated, err := labels.NewRequirement(fleetv1alpha1.LabelPromise, selection.Exists, nil)
	if err != nil {
		return nil, err
	}
	logger := ctrl.LoggerFrom(ctx).WithName("hub")
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme: scheme,
		Cache: cache.Options{
			// No controller reads managedFields, and they were half the
			// time spent copying Clusters and Works out of the cache in a
			// 3,000-cluster profile (and memory in proportion). Updates
			// from cached objects leave the stored managedFields as they
			// are (an absent list is not a reset).
			DefaultTransform: cache.TransformStripManagedFields(),
			// After its API server was away, the hub must see Lease renewals
			// again within seconds, not after client-go's reflector backoff
			// (up to a minute): meanwhile the Cluster controller judges
			// clusters by the last renewals it saw (see reconnect.HubMax).
			NewInformer: reconnect.Informer(reconnect.HubBase, reconnect.HubMax),
			ByObject: map[client.Object]cache.ByObject{
				&apiextensionsv1.CustomResourceDefinition{}: {Label: labels.NewSelector().Add(*generated)},
				// Instance revisions only, not every workload's history.
				&appsv1.ControllerRevision{}: {Label: labels.NewSelector().Add(*generated)},
			}},
		Logger: logger,
		// Controllers' event handlers run in the runnables' context, not a
		// reconcile's. Without the hub's logger there, what they log (a list
		// that failed) went to controller-runtime's global logger: the same
		// one under `flotilla hub`, but discarded where several components
		// share a process, each with its own logger (`flotilla dev up`, the
		// simulator, tests).
		BaseContext: func() context.Context { return ctrl.LoggerInto(context.Background(), logger) },
		// The hub serves metrics itself (see addMetrics).
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          opts.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		LeaseDuration:           &lease,
		RenewDeadline:           &renew,
		RetryPeriod:             &retryPeriod,
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
	if opts.LeaderElect {
		if err := mgr.Add(leading{log: logger, started: time.Now()}); err != nil {
			return nil, fmt.Errorf("adding the leadership log: %w", err)
		}
	}
	if err := controller.SetupIndexes(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	hubMetrics, err := addMetrics(ctx, mgr, opts)
	if err != nil {
		return nil, err
	}
	if err := cluster.SetupWithManager(mgr, cluster.Options{
		OfflineGrace:              opts.ClusterOfflineGrace,
		MinAgentGrace:             opts.ClusterMinAgentGrace,
		HeartbeatStatusResolution: opts.HeartbeatStatusResolution,
	}); err != nil {
		return nil, fmt.Errorf("setting up the Cluster controller: %w", err)
	}
	kinds := &instancekinds.Registry{Cache: mgr.GetCache()}
	chartResolver := charts.NewResolver(mgr, nil)
	var starter *rollout.Starter
	var promiseRollouts promise.RolloutStarter
	var instanceRollouts instance.InstanceRolloutStarter
	if !opts.AdmitLatest {
		starter = &rollout.Starter{Client: mgr.GetClient(), Cache: mgr.GetClient(), Reader: mgr.GetAPIReader()}
		promiseRollouts, instanceRollouts = starter, starter
	}
	if err := promise.SetupWithManager(ctx, mgr, promise.Options{Kinds: kinds, Charts: chartResolver, Rollouts: promiseRollouts}); err != nil {
		return nil, fmt.Errorf("setting up the Promise controller: %w", err)
	}
	// Rollouts decide which revision each cluster renders: the Rollout
	// controller stores its admissions in their status, and the instance
	// controller renders from that. They share nothing else.
	if err := instance.SetupWithManager(mgr, instance.Options{
		Kinds: kinds, Charts: chartResolver, AdmitLatest: opts.AdmitLatest, Workers: opts.InstanceWorkers, InstanceRollouts: instanceRollouts,
		Metrics: hubMetrics,
	}); err != nil {
		return nil, fmt.Errorf("setting up the instance controller: %w", err)
	}
	if !opts.AdmitLatest && !opts.NoRolloutController {
		if err := rollout.SetupWithManager(mgr, hubMetrics); err != nil {
			return nil, fmt.Errorf("setting up the Rollout controller: %w", err)
		}
	}
	if err := fleet.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the fleet controller: %w", err)
	}
	if err := freeze.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the FleetFreeze controller: %w", err)
	}
	if err := driftexception.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the DriftException controller: %w", err)
	}
	if err := override.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the Override controller: %w", err)
	}
	// Git delivery writes (pushes, status) from its controller, on the
	// leader only; its clones' temporary directory, made on every replica,
	// is removed on every replica when it stops.
	if err := gitdelivery.SetupWithManager(mgr, opts.GitDelivery); err != nil {
		return nil, fmt.Errorf("setting up git delivery: %w", err)
	}
	return mgr, nil
}

// addMetrics registers the hub's own metrics in a registry of this manager
// (several hubs run in one process, and each reports its own fleet) and
// serves it, with controller-runtime's global registry, at opts.MetricsAddr.
func addMetrics(ctx context.Context, mgr ctrl.Manager, opts Options) (*metrics.Hub, error) {
	registry := opts.MetricsRegistry
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	m, err := metrics.NewHub(registry, mgr.GetCache(), clock.RealClock{}, mgr.Elected())
	if err != nil {
		return nil, fmt.Errorf("registering the hub's metrics: %w", err)
	}
	// The Promise gauges are read from the cache, which a standby keeps too.
	if err := registry.Register(leaderOnly{Collector: promise.NewCollector(mgr.GetCache()), elected: mgr.Elected()}); err != nil {
		return nil, fmt.Errorf("registering the Promise metrics: %w", err)
	}
	addr := opts.MetricsAddr
	if addr == "" {
		addr = metricsserver.DefaultBindAddress
	}
	if addr == "0" {
		return m, nil
	}
	log := ctrl.LoggerFrom(ctx).WithName("hub").WithName("metrics")
	if err := mgr.Add(&metrics.Server{Addr: addr, Handler: metrics.Handler(registry, log), Log: log}); err != nil {
		return nil, fmt.Errorf("adding the metrics server: %w", err)
	}
	return m, nil
}
