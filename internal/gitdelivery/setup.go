package gitdelivery

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	hubcontroller "github.com/flotilla-dev/flotilla/internal/controller"
)

// Defaults for Options.
const (
	DefaultBatchWindow    = 2 * time.Second
	DefaultRetryInterval  = 30 * time.Second
	DefaultResyncInterval = 5 * time.Minute
	DefaultWorkers        = 4
)

// Options configure git delivery.
type Options struct {
	// Dir holds the clones; empty means a new temporary directory, removed
	// when the manager stops (on every replica: a standby made one too).
	Dir string
	// BatchWindow is how long a Work change waits for others on the same
	// cluster before the cluster is published: every change in the window
	// goes into one commit. Zero means DefaultBatchWindow.
	BatchWindow time.Duration
	// RetryInterval, ResyncInterval: see Reconciler. Zero means the defaults.
	RetryInterval, ResyncInterval time.Duration
	// Workers is how many clusters are published at once; zero means DefaultWorkers.
	Workers int
}

// EventSource is the reporting controller named on git delivery's Events.
const EventSource = "flotilla-hub"

// SetupWithManager registers the git delivery controller with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.BatchWindow <= 0 {
		opts.BatchWindow = DefaultBatchWindow
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "flotilla-git-")
		if err != nil {
			return fmt.Errorf("creating the git clones' directory: %w", err)
		}
		dir = tmp
		if err := mgr.Add(removeOnStop{dir: tmp}); err != nil {
			return fmt.Errorf("adding the clones' cleanup: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the git clones' directory: %w", err)
	}
	r := &Reconciler{
		Client:         mgr.GetClient(),
		SecretReader:   mgr.GetAPIReader(),
		Recorder:       hubcontroller.EventRecorder(mgr, EventSource),
		Clock:          clock.RealClock{},
		Publisher:      &Publisher{Dir: dir, AuthorName: "Flotilla", AuthorEmail: "flotilla@flotilla.dev"},
		RetryInterval:  opts.RetryInterval,
		ResyncInterval: opts.ResyncInterval,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("gitdelivery").
		For(&fleetv1alpha1.Cluster{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return isGit(e.Object) },
			DeleteFunc: func(e event.DeleteEvent) bool { return isGit(e.Object) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return (isGit(e.ObjectOld) || isGit(e.ObjectNew)) && specOrDeletionChanged(e)
			},
			GenericFunc: func(e event.GenericEvent) bool { return isGit(e.Object) },
		})).
		Watches(&fleetv1alpha1.Cluster{}, peers(mgr.GetClient())).
		Watches(&fleetv1alpha1.Work{}, batched(opts.BatchWindow)).
		WithOptions(hubcontroller.Options(opts.Workers)).
		Complete(hubcontroller.RequeueOnConflict(r))
}

// removeOnStop removes the clones' directory when the manager stops. It
// runs on every hub replica, leader or not, since each made its own; it
// writes nothing but the local disk. Everything that writes (the pushes,
// the Cluster's and the Works' status) is the controller's, which runs on
// the leader only, like every controller (TestOnlyTheLeaderWrites).
type removeOnStop struct{ dir string }

// Start implements manager.Runnable.
func (r removeOnStop) Start(ctx context.Context) error {
	<-ctx.Done()
	return os.RemoveAll(r.dir)
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: false.
func (removeOnStop) NeedLeaderElection() bool { return false }

// specOrDeletionChanged passes a Cluster's update that the publisher reads:
// its spec (the generation) or its deletion. Status writes (the Cluster
// controller's at each change of availability or of the facts its agent
// reports, the publisher's own) are not, or an agent reporting a new node
// count at every renewal of its Lease would make the hub fetch from git at
// every one.
func specOrDeletionChanged(e event.UpdateEvent) bool {
	return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
		e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
}

func isGit(o client.Object) bool {
	c, ok := o.(*fleetv1alpha1.Cluster)
	return ok && c.Spec.Delivery.Mode == fleetv1alpha1.DeliveryGit
}

// batched enqueues a Work's cluster window after a change to the Work's spec
// (or its creation or deletion). A delayed item keeps its earliest time, so
// every change within the window is published by one reconcile. Status
// changes are ignored: the publisher writes them itself.
func batched(window time.Duration) handler.EventHandler {
	enqueue := func(o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		name, ok := fleetv1alpha1.ClusterNameFromNamespace(o.GetNamespace())
		if !ok {
			return
		}
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Name: name}}, window)
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
				enqueue(e.ObjectNew, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}

// peers enqueues, when a git Cluster is created, deleted or its spec
// changes, the other git Clusters on the same repository and branch (before
// and after the change): whether their paths overlap it (checkTarget) may
// have changed with it, and a cluster held by an overlap publishes as soon
// as the other moves away.
func peers(c client.Reader) handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], objs ...client.Object) {
		var targets []Target
		var self string
		for _, o := range objs {
			if cl, ok := o.(*fleetv1alpha1.Cluster); ok && isGitCluster(cl) {
				targets = append(targets, TargetOf(cl))
				self = cl.Name
			}
		}
		if len(targets) == 0 {
			return
		}
		clusters := &fleetv1alpha1.ClusterList{}
		if err := c.List(ctx, clusters, client.UnsafeDisableDeepCopy); err != nil { // read only
			ctrl.LoggerFrom(ctx).Error(err, "listing Clusters to recheck git paths")
			return
		}
		for i := range clusters.Items {
			other := &clusters.Items[i]
			if other.Name == self || !isGitCluster(other) {
				continue
			}
			ot := TargetOf(other)
			for _, t := range targets {
				if t.Branch == ot.Branch && repoKey(t.URL) == repoKey(ot.URL) {
					q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Name: other.Name}})
					break
				}
			}
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() ||
				e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
				enqueue(ctx, q, e.ObjectOld, e.ObjectNew)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q, e.Object)
		},
	}
}
