package gitdelivery

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
)

// Reconciler publishes the Works of each git-delivered Cluster.
type Reconciler struct {
	Client client.Client
	// SecretReader reads credentials from the API server: the hub may only
	// get Secrets, so it must not cache (list and watch) them.
	SecretReader client.Reader
	Recorder     events.EventRecorder
	Clock        clock.PassiveClock
	Publisher    *Publisher
	// RetryInterval is when a failed publish is tried again.
	RetryInterval time.Duration
	// ResyncInterval is when a published cluster is published again, to
	// restore files changed in the repository behind the hub's back.
	ResyncInterval time.Duration

	// clusterWrites and workWrites are each Cluster's and Work's (by
	// cluster namespace) resourceVersion after this controller's last status write
	// (controller.PatchStatus): its own writes to them do not wake it.
	clusterWrites controller.OwnWrites
	workWrites    controller.OwnWritesByOwner
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("cluster", req.Name)
	ctx = ctrl.LoggerInto(ctx, log)

	cluster := &fleetv1alpha1.Cluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, cluster); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.forget(req.Name)
		}
		return ctrl.Result{}, err
	}
	if !isGitCluster(cluster) {
		return ctrl.Result{}, r.forget(cluster.Name)
	}
	git := cluster.Spec.Delivery.Git

	works := &fleetv1alpha1.WorkList{}
	if err := r.Client.List(ctx, works, client.InNamespace(fleetv1alpha1.ClusterNamespace(cluster.Name))); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the Works of cluster %s: %w", cluster.Name, err)
	}
	r.forgetDeletedWorks(cluster.Name, works.Items)
	target := TargetOf(cluster)

	err := r.checkTarget(ctx, cluster, target)
	var res Result
	var conflicts map[string]string
	if err == nil {
		res, conflicts, err = r.publish(ctx, cluster, target, works.Items)
	}
	now := r.Clock.Now()
	var perr *Error
	if errors.As(err, &perr) {
		log.Info("git delivery failed", "reason", perr.Reason, "message", perr.Message, "detail", perr.Detail)
		if err := r.setDelivered(ctx, cluster, metav1.ConditionFalse, perr.Reason, perr.Message, perr.Detail, nil, now); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: r.RetryInterval}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if res.Pushed {
		log.Info("pushed", "commit", res.Commit, "branch", target.Branch, "attempts", res.Attempts)
	}
	msg := fmt.Sprintf("%s of branch %s holds the %d Works under %s", short(res.Commit), target.Branch, len(works.Items), target.Path)
	if res.Commit == "" {
		msg = fmt.Sprintf("no Works to publish; branch %s does not exist yet", target.Branch)
	}
	if err := r.setDelivered(ctx, cluster, metav1.ConditionTrue, fleetv1alpha1.ReasonGitPushed, msg, "", &res, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.markDelivered(ctx, works.Items, conflicts, git.HealthSource, res.Commit, target.Branch, now); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// checkTarget refuses (as *Error) a target whose files are not the
// cluster's alone: its path is the repository's root or inside .git, or
// another git cluster's path on the same repository and branch is the same,
// holds it or is inside it. A publish deletes every file under its path that
// its Works do not account for, so such clusters would delete each other's
// files (and a GitOps tool syncing the outer path would apply the inner
// cluster's objects on its member). Neither is published, whichever came
// first: nothing already on the branch is lost, and both say why.
func (r *Reconciler) checkTarget(ctx context.Context, cluster *fleetv1alpha1.Cluster, t Target) error {
	if err := checkPath(t.Path); err != nil {
		return &Error{Reason: fleetv1alpha1.ReasonGitPathInvalid, Message: err.Error()}
	}
	// Read only: the cache's own copies, not one of every Cluster of the
	// fleet at each publish.
	clusters := &fleetv1alpha1.ClusterList{}
	if err := r.Client.List(ctx, clusters, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing Clusters: %w", err)
	}
	var overlaps []string
	for i := range clusters.Items {
		other := &clusters.Items[i]
		if other.Name == cluster.Name || !isGitCluster(other) {
			continue
		}
		if how := Overlap(t, TargetOf(other)); how != "" {
			overlaps = append(overlaps, fmt.Sprintf("cluster %s has %s", other.Name, how))
		}
	}
	if len(overlaps) == 0 {
		return nil
	}
	sort.Strings(overlaps)
	if len(overlaps) > maxOverlapsNamed {
		overlaps = append(overlaps[:maxOverlapsNamed], fmt.Sprintf("%d more", len(overlaps)-maxOverlapsNamed))
	}
	return &Error{Reason: fleetv1alpha1.ReasonGitPathConflict, Message: fmt.Sprintf(
		"not published: on the same repository and branch, %s; each cluster's publish would delete the other's files: give each a directory of its own",
		strings.Join(overlaps, "; "))}
}

// maxOverlapsNamed bounds the clusters a GitPathConflict message names.
const maxOverlapsNamed = 5

// isGitCluster reports whether c is published to git: delivered by git and
// not being deleted.
func isGitCluster(c *fleetv1alpha1.Cluster) bool {
	return c.Spec.Delivery.Mode == fleetv1alpha1.DeliveryGit && c.Spec.Delivery.Git != nil && c.DeletionTimestamp.IsZero()
}

// publish reads the credentials and writes the Works' files. It returns the
// Works some of whose objects were left out, as another Work holds them or
// they are outside the Work's scope (see Plan). A failure the user must fix comes back as *Error.
func (r *Reconciler) publish(ctx context.Context, cluster *fleetv1alpha1.Cluster, t Target, works []fleetv1alpha1.Work) (Result, map[string]string, error) {
	var data map[string][]byte
	if ref := cluster.Spec.Delivery.Git.SecretRef; ref != nil {
		ns := ref.Namespace
		if ns == "" {
			ns = fleetv1alpha1.PlatformNamespace
		}
		secret := &corev1.Secret{}
		if err := r.SecretReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, secret); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				return Result{}, nil, &Error{Reason: fleetv1alpha1.ReasonSecretNotFound,
					Message: fmt.Sprintf("secret %s/%s cannot be read: %s", ns, ref.Name, apierrors.ReasonForError(err))}
			}
			return Result{}, nil, fmt.Errorf("reading secret %s/%s: %w", ns, ref.Name, err)
		}
		data = secret.Data
	}
	auth, err := NewAuth(data, filepath.Join(r.Publisher.Dir, ".ssh", cluster.Name))
	if err != nil {
		return Result{}, nil, &Error{Reason: fleetv1alpha1.ReasonSecretNotFound, Message: err.Error()}
	}
	var changed []*fleetv1alpha1.Work
	for i := range works {
		if !delivered(&works[i]) {
			changed = append(changed, &works[i])
		}
	}
	// Which Work's file holds each object in the commit the new one follows
	// decides who keeps an object two Works render: the one that wrote it
	// first.
	var layout Layout
	res, err := r.Publisher.PublishPlanned(ctx, cluster.Name, t, auth, func(previous func() (map[string][]byte, error)) (map[string][]byte, error) {
		held, err := previous()
		if err != nil {
			return nil, err
		}
		if layout, err = Plan(t.Path, works, held); err != nil {
			return nil, &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
		}
		return layout.Files, nil
	}, CommitMessage(cluster.Name, changed))
	return res, layout.LeftOut, err
}

// setDelivered writes the Delivered condition and, after a publish, status.git.
// detail (what the remote answered) goes only in the Event, which is in
// namespace default, as every cluster-scoped object's: the condition is
// every team's to read.
// The Cluster controller writes the rest of the status (and reads Delivered
// for Ready); controller.PatchStatus carries the resourceVersion, so neither
// overwrites the other's conditions with a stale copy.
func (r *Reconciler) setDelivered(ctx context.Context, cluster *fleetv1alpha1.Cluster, status metav1.ConditionStatus,
	reason, message, detail string, res *Result, now time.Time) error {
	previous := meta.FindStatusCondition(cluster.Status.Conditions, fleetv1alpha1.ConditionDelivered).DeepCopy()
	if err := controller.PatchStatus(ctx, r.Client, &r.clusterWrites, cluster, func(cluster *fleetv1alpha1.Cluster) {
		fleetv1alpha1.NewConditionSetter(&cluster.Status.Conditions, cluster.Generation, now).Set(fleetv1alpha1.ConditionDelivered, status, reason, message)
		if res != nil && res.Commit != "" {
			g := cluster.Status.Git
			if g == nil {
				g = &fleetv1alpha1.GitDeliveryStatus{}
				cluster.Status.Git = g
			}
			if res.Pushed || g.LastCommit == "" {
				t := metav1.NewTime(now.Truncate(time.Second))
				g.LastCommit, g.LastPushTime = res.Commit, &t
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case res != nil && res.Pushed:
		r.Recorder.Eventf(cluster, nil, corev1.EventTypeNormal, reason, "Push", "pushed %s: %s", short(res.Commit), message)
	case previous == nil || previous.Status != status || previous.Reason != reason:
		eventType := corev1.EventTypeNormal
		if status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		note := message
		if detail != "" {
			note = detail
		}
		r.Recorder.Eventf(cluster, nil, eventType, reason, "Push", "%s", note)
	}
	return nil
}

// markDelivered writes, on each Work whose files are at commit, the status an
// agent would after applying it, so Rollouts count git clusters unchanged:
// Applied (admitted) once pushed, and Healthy at once with healthSource
// None. With healthSource Agent, health is the report-only agent's: a Healthy
// it reported for an earlier generation is replaced by InProgress until it
// reports on this one, so a Rollout never counts the new revision healthy on
// the old revision's report.
//
// The agent writes the same status (Healthy, Ready, resources), so every
// patch carries the resourceVersion and is retried on a conflict from a fresh
// read: neither writer drops the other's conditions.
func (r *Reconciler) markDelivered(ctx context.Context, works []fleetv1alpha1.Work, conflicts map[string]string,
	source fleetv1alpha1.GitHealthSource, commit, branch string, now time.Time) error {
	for i := range works {
		w := &works[i]
		conflict := conflicts[w.Name]
		if !w.DeletionTimestamp.IsZero() || (delivered(w) && conflict == "") {
			continue
		}
		published, cur, reread := w.Generation, w, false
		err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
			if reread {
				cur = &fleetv1alpha1.Work{}
				if err := r.Client.Get(ctx, client.ObjectKeyFromObject(w), cur); err != nil {
					return err
				}
			}
			reread = true
			if cur.Generation != published || !cur.DeletionTimestamp.IsZero() || (delivered(cur) && conflict == "") {
				return nil // changed since the publish: the next publish marks it
			}
			return controller.PatchStatus(ctx, r.Client, r.workWrites.Of(cur.Namespace), cur, func(w *fleetv1alpha1.Work) {
				if conflict != "" {
					markConflict(w, conflict, now)
					return
				}
				markWork(w, source, commit, branch, now)
			})
		})
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("marking Work %s/%s delivered: %w", w.Namespace, w.Name, err)
		}
	}
	return nil
}

// markWork sets the status of a Work whose files were pushed at commit.
func markWork(w *fleetv1alpha1.Work, source fleetv1alpha1.GitHealthSource, commit, branch string, now time.Time) {
	at := metav1.NewTime(now.Truncate(time.Second))
	w.Status.ObservedGeneration = w.Generation
	w.Status.AppliedRevision = w.Spec.Revision
	w.Status.AppliedInstanceRevision = w.Spec.InstanceRevision
	w.Status.LastAppliedTime = &at
	msg := fmt.Sprintf("committed to branch %s at %s", branch, short(commit))
	set := fleetv1alpha1.NewConditionSetter(&w.Status.Conditions, w.Generation, now).Set
	set(fleetv1alpha1.ConditionApplied, metav1.ConditionTrue, fleetv1alpha1.ReasonApplied, msg)
	if source == fleetv1alpha1.GitHealthNone {
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, "healthSource None: healthy once pushed")
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonHealthy, msg)
		return
	}
	if h := meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionHealthy); h == nil || h.ObservedGeneration != w.Generation {
		waiting := fmt.Sprintf("waiting for the agent in report-only mode to report revision %s", w.Spec.Revision)
		set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, waiting)
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress, msg+"; "+waiting)
	}
}

// markConflict sets the status of a Work some of whose objects were left out
// of its file (another Work holds them, or they are outside its scope): not
// Applied and failed, as the agent reports a Work with a Conflict or Refused
// resource.
func markConflict(w *fleetv1alpha1.Work, msg string, now time.Time) {
	w.Status.ObservedGeneration = w.Generation
	set := fleetv1alpha1.NewConditionSetter(&w.Status.Conditions, w.Generation, now).Set
	set(fleetv1alpha1.ConditionApplied, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, msg)
	set(fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, msg)
	set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonApplyFailed, msg)
}

// delivered reports whether w's current spec was already published.
func delivered(w *fleetv1alpha1.Work) bool {
	return w.Status.ObservedGeneration == w.Generation && w.Status.AppliedRevision == w.Spec.Revision &&
		meta.IsStatusConditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionApplied)
}

func (r *Reconciler) forget(cluster string) error {
	r.clusterWrites.Forget(client.ObjectKey{Name: cluster})
	r.workWrites.Forget(fleetv1alpha1.ClusterNamespace(cluster))
	if err := r.Publisher.Forget(cluster); err != nil {
		return fmt.Errorf("removing the clone of cluster %s: %w", cluster, err)
	}
	return nil
}

// forgetDeletedWorks drops what workWrites holds of the Works of cluster
// not in works: Works have no finalizer, so none is seen going.
func (r *Reconciler) forgetDeletedWorks(cluster string, works []fleetv1alpha1.Work) {
	listed := make(map[string]bool, len(works))
	for i := range works {
		listed[works[i].Name] = true
	}
	r.workWrites.Of(fleetv1alpha1.ClusterNamespace(cluster)).Retain(func(key client.ObjectKey) bool { return listed[key.Name] })
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
