// Package cluster is the hub's Cluster controller: it judges each member's
// availability from its agent's Lease and writes the Cluster's status.
package cluster

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/liveness"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// Reconciler reconciles Clusters.
type Reconciler struct {
	Client client.Client
	// LiveReader reads from the API server, not the cache: a cluster is only
	// declared Offline after its Lease, read live, says so (see reconcile).
	LiveReader client.Reader
	Recorder   events.EventRecorder
	Clock      clock.PassiveClock
	// OfflineGrace, when positive, replaces every agent's own lease duration as
	// the time without a heartbeat after which a cluster is Offline.
	OfflineGrace time.Duration
	// MinAgentGrace, when positive, is the least an agent's own lease
	// duration counts for (liveness.Grace.AgentMin).
	MinAgentGrace time.Duration
	// HeartbeatStatusResolution bounds how stale status.lastHeartbeatTime may
	// get while availability does not change (see newStatus), and how often
	// the recorded kubernetesVersion may change (see versionToRecord).
	HeartbeatStatusResolution time.Duration

	// renewals is when this hub saw each Lease's last renewal (see liveness.Observe).
	renewals liveness.Renewals
	// versionChanges is when this hub last changed each cluster's recorded
	// kubernetesVersion (see versionToRecord).
	versionChanges versionChanges
	// statusWrites is each Cluster's resourceVersion after this hub's last
	// status write (controller.PatchStatus records it; see Reconcile).
	statusWrites controller.OwnWrites
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("cluster", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	cluster := &fleetv1alpha1.Cluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.LiveReader != nil && r.statusWrites.Behind(cluster) {
		// The cache has not seen this hub's own last status write yet (for
		// seconds after the hub's API server was away, while its watches
		// reconnect). Judged from it, a status that is already the cached
		// one is not written, although the stored one differs: a cluster
		// written Offline meanwhile would stay Offline while its agent
		// heartbeats. Judge from the stored Cluster: a heartbeat should
		// not wait for the cache (PatchStatus's conflict would make it).
		if err := r.LiveReader.Get(ctx, req.NamespacedName, cluster); err != nil {
			if apierrors.IsNotFound(err) {
				r.forget(req)
			}
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !cluster.DeletionTimestamp.IsZero() {
		r.forget(req)
		return ctrl.Result{}, r.recordUnjoin(ctx, cluster)
	}

	result, err := r.writeStatus(ctx, cluster)
	if apierrors.IsConflict(err) && r.LiveReader != nil {
		// The cache lags the hub's own last write: for seconds after the
		// hub's API server was away, while its watches reconnect. Judge
		// again from the stored Cluster rather than retry from the stale
		// copy until the cache catches up.
		live := &fleetv1alpha1.Cluster{}
		if err := r.LiveReader.Get(ctx, req.NamespacedName, live); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		result, err = r.writeStatus(ctx, live)
	}
	return result, err
}

// forget drops what this hub remembers of a Cluster that is gone.
func (r *Reconciler) forget(req ctrl.Request) {
	r.renewals.Forget(req.Name)
	r.versionChanges.forget(req.Name)
	r.statusWrites.Forget(req.NamespacedName)
}

// writeStatus judges cluster now, writes its status (optimistically locked
// on cluster's resourceVersion) and records what changed.
func (r *Reconciler) writeStatus(ctx context.Context, cluster *fleetv1alpha1.Cluster) (ctrl.Result, error) {
	now := r.Clock.Now()
	status, requeueAfter, err := r.reconcile(ctx, cluster, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	previous, readyReasonBefore, versionBefore := cluster.Status.Availability, readyReason(cluster.Status), cluster.Status.KubernetesVersion
	factsBefore := meta.FindStatusCondition(cluster.Status.Conditions, fleetv1alpha1.ConditionFactsValid).DeepCopy()
	if previous == "" {
		previous = fleetv1alpha1.ClusterAvailabilityUnknown
	}
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, cluster, func(c *fleetv1alpha1.Cluster) { c.Status = status }); err != nil {
		return ctrl.Result{}, err
	}
	if status.KubernetesVersion != versionBefore {
		r.versionChanges.record(cluster.Name, now)
	}
	if previous != status.Availability {
		r.recordTransition(ctx, cluster, previous)
	}
	if readyReason(status) == fleetv1alpha1.ReasonAgentModeMismatch && readyReasonBefore != fleetv1alpha1.ReasonAgentModeMismatch {
		ready := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionReady)
		ctrl.LoggerFrom(ctx).Info("the agent's mode does not fit the cluster's delivery", "message", ready.Message)
		r.Recorder.Eventf(cluster, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonAgentModeMismatch, "Heartbeat", "%s", ready.Message)
	}
	if c := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionFactsValid); c != nil && c.Status == metav1.ConditionFalse &&
		(factsBefore == nil || factsBefore.Status != c.Status || factsBefore.Message != c.Message) {
		ctrl.LoggerFrom(ctx).Info("the agent reported invalid facts", "message", c.Message)
		r.Recorder.Eventf(cluster, nil, corev1.EventTypeWarning, fleetv1alpha1.ReasonInvalidFacts, "Heartbeat", "%s", c.Message)
	}
	return ctrl.Result{RequeueAfter: requeueAfter}, nil
}

// reconcile returns the status the cluster should have at now and when to look again.
func (r *Reconciler) reconcile(ctx context.Context, cluster *fleetv1alpha1.Cluster, now time.Time) (fleetv1alpha1.ClusterStatus, time.Duration, error) {
	if git := cluster.Spec.Delivery.Git; cluster.Spec.Delivery.Mode == fleetv1alpha1.DeliveryGit && git != nil && git.HealthSource == fleetv1alpha1.GitHealthNone {
		return newStatus(cluster, liveness.WithoutHeartbeat(), nil, now, r.HeartbeatStatusResolution), 0, nil
	}
	hb, err := r.heartbeat(ctx, r.Client, cluster, now)
	if err != nil {
		return fleetv1alpha1.ClusterStatus{}, 0, err
	}
	j := availability(hb, now, liveness.Grace{Override: r.OfflineGrace, AgentMin: r.MinAgentGrace})
	// The cache may be stale: after the hub's own API server was unreachable,
	// its Lease watch takes a while to catch up, and every cluster would look
	// Offline at once. Confirm the transition with a live read (one request,
	// only when a cluster is about to go Offline); if that read fails, retry
	// rather than guess.
	if j.Availability == fleetv1alpha1.ClusterAvailabilityOffline &&
		cluster.Status.Availability != fleetv1alpha1.ClusterAvailabilityOffline && r.LiveReader != nil {
		if hb, err = r.heartbeat(ctx, r.LiveReader, cluster, now); err != nil {
			return fleetv1alpha1.ClusterStatus{}, 0, fmt.Errorf("confirming a missed heartbeat: %w", err)
		}
		j = availability(hb, now, liveness.Grace{Override: r.OfflineGrace, AgentMin: r.MinAgentGrace})
	}
	if j.Availability == fleetv1alpha1.ClusterAvailabilityAvailable && hb != nil {
		if msg := agentModeMismatch(cluster.Spec.Delivery, hb.Facts.AgentMode); msg != "" {
			j = withModeMismatch(j, msg)
		}
	}
	requeueAfter := j.RequeueAfter
	if hb != nil && hb.Facts.KubernetesVersion != nil {
		version, wait := versionToRecord(cluster.Status.KubernetesVersion, *hb.Facts.KubernetesVersion,
			r.versionChanges.last(cluster.Name), now, r.HeartbeatStatusResolution)
		hb.Facts.KubernetesVersion = &version
		if wait > 0 && (requeueAfter == 0 || wait < requeueAfter) {
			requeueAfter = wait
		}
	}
	return newStatus(cluster, j, hb, now, r.HeartbeatStatusResolution), requeueAfter, nil
}

// readyReason is the reason of a cluster status's Ready condition.
func readyReason(status fleetv1alpha1.ClusterStatus) string {
	if c := meta.FindStatusCondition(status.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// heartbeat reads the agent's Lease through reader at now and records its
// renewal as seen (see liveness.Observe); nil when it does not exist. A
// Lease without renewTime after the hub recorded a heartbeat (its agent
// erased it while this hub process had seen none) is judged from that
// record, not as never heartbeated.
func (r *Reconciler) heartbeat(ctx context.Context, reader client.Reader, cl *fleetv1alpha1.Cluster, now time.Time) (*heartbeat, error) {
	cluster := cl.Name
	lease := &coordinationv1.Lease{}
	key := types.NamespacedName{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: fleetv1alpha1.AgentLease}
	if err := reader.Get(ctx, key, lease); err != nil {
		if apierrors.IsNotFound(err) {
			r.renewals.Forget(cluster)
			return nil, nil
		}
		return nil, fmt.Errorf("reading lease %s: %w", key, err)
	}
	hb := &heartbeat{}
	if t := lease.Spec.RenewTime; t != nil {
		hb.Written = t.Time
	}
	hb.Seen = r.renewals.Observe(cluster, hb.Written, now, liveness.Offset(cl.Status.AgentClockOffsetSeconds))
	if recorded := cl.Status.LastHeartbeatTime; hb.Seen.IsZero() && recorded != nil && !recorded.After(now) {
		hb.Seen = recorded.Time
	}
	if d := lease.Spec.LeaseDurationSeconds; d != nil {
		hb.Duration = time.Duration(*d) * time.Second
	}
	hb.Facts = factsFromAnnotations(lease.Annotations)
	return hb, nil
}

// recordTransition logs an availability change and emits an Event for it.
func (r *Reconciler) recordTransition(ctx context.Context, cluster *fleetv1alpha1.Cluster, previous fleetv1alpha1.ClusterAvailability) {
	current := cluster.Status.Availability
	reason, message := "", ""
	// Available, not Ready: Ready may say something else (AgentModeMismatch).
	if available := meta.FindStatusCondition(cluster.Status.Conditions, fleetv1alpha1.ConditionAvailable); available != nil {
		reason, message = available.Reason, available.Message
	}
	ctrl.LoggerFrom(ctx).Info("cluster availability changed", "from", previous, "to", current, "reason", reason)
	eventType := corev1.EventTypeNormal
	if current == fleetv1alpha1.ClusterAvailabilityOffline {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(cluster, nil, eventType, reason, "Heartbeat", "%s -> %s: %s", previous, current, message)
}

// recordUnjoin records the name of a Cluster being deleted as unjoined, as
// `flotilla unjoin` does, and then lets it go: however it was deleted,
// the name is not joined again unasked (membership.UnjoinedClustersConfigMap).
func (r *Reconciler) recordUnjoin(ctx context.Context, cluster *fleetv1alpha1.Cluster) error {
	if !controllerutil.ContainsFinalizer(cluster, fleetv1alpha1.FinalizerRecordUnjoin) {
		return nil
	}
	if err := membership.RecordUnjoined(ctx, r.Client, cluster.Name, r.Clock.Now()); err != nil {
		return err
	}
	base := cluster.DeepCopy()
	controllerutil.RemoveFinalizer(cluster, fleetv1alpha1.FinalizerRecordUnjoin)
	if err := r.Client.Patch(ctx, cluster, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("removing the finalizer %s: %w", fleetv1alpha1.FinalizerRecordUnjoin, err)
	}
	ctrl.LoggerFrom(ctx).Info("deleted cluster recorded as unjoined")
	return nil
}
