package cluster

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	hubcontroller "github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/liveness"
)

// Options configure the Cluster controller.
type Options struct {
	// OfflineGrace, when positive, replaces each agent's lease duration as the
	// time without a heartbeat after which a cluster is Offline.
	OfflineGrace time.Duration
	// MinAgentGrace, when positive, is the least an agent's own lease
	// duration counts for (liveness.Grace.AgentMin); zero: no floor.
	MinAgentGrace time.Duration
	// HeartbeatStatusResolution bounds how stale status.lastHeartbeatTime may
	// get; liveness.DefaultHeartbeatStatusResolution when zero.
	HeartbeatStatusResolution time.Duration
	// Workers is how many Clusters are reconciled at once; DefaultWorkers when zero.
	Workers int
}

// DefaultWorkers is how many Clusters are reconciled at once by default. A
// reconcile is mostly a wait for one status write; one at a time, thousands
// of clusters joining (or coming back after a hub outage) would each wait
// for all the writes before theirs, and be seen Available minutes late.
const DefaultWorkers = 8

// EventSource is the reporting controller named on the hub's Events.
const EventSource = "flotilla-hub"

// SetupWithManager registers the Cluster controller with mgr (its gauge,
// flotilla_clusters, is in package metrics).
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.HeartbeatStatusResolution <= 0 {
		opts.HeartbeatStatusResolution = liveness.DefaultHeartbeatStatusResolution
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	r := &Reconciler{
		Client:                    mgr.GetClient(),
		LiveReader:                mgr.GetAPIReader(),
		Recorder:                  hubcontroller.EventRecorder(mgr, EventSource),
		Clock:                     clock.RealClock{},
		OfflineGrace:              opts.OfflineGrace,
		MinAgentGrace:             opts.MinAgentGrace,
		HeartbeatStatusResolution: opts.HeartbeatStatusResolution,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("cluster").
		WithOptions(hubcontroller.Options(opts.Workers)).
		For(&fleetv1alpha1.Cluster{}).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(leaseToCluster)).
		Complete(hubcontroller.RequeueOnConflict(r))
}

// leaseToCluster maps an agent's Lease to its Cluster; every other Lease to nothing.
func leaseToCluster(_ context.Context, lease client.Object) []reconcile.Request {
	if lease.GetName() != fleetv1alpha1.AgentLease {
		return nil
	}
	name, ok := fleetv1alpha1.ClusterNameFromNamespace(lease.GetNamespace())
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
}
