// Package rollout is the hub's Rollout controller. For each Rollout it
// observes the subject's Works, the clusters, the strategy and any
// FleetFreeze, asks the pure engine (internal/rollout.Plan) for the next
// step and writes the status. That status records which cluster is admitted
// to which revision (status.waves[].admitted): writing it is the admission.
// The instance controller, watching Rollouts, renders each Work from it
// (rollout.RevisionFor); the two share no memory. It never applies anything
// itself.
//
// It also starts Rollouts: the Promise controller calls Starter when a
// Promise's latest revision changes, before it publishes that revision.
package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// blockedRetry is how often a Rollout that cannot be planned looks again.
const blockedRetry = 10 * time.Second

// progressInterval is how often, at most, a Rollout's status is written
// for progress alone (rollout.ProgressOnly: clusters admitted earlier
// turning healthy). Each agent's report brings the Rollout back; writing
// each one would re-encode the whole status (every cluster of its waves)
// for every cluster of the fleet. A decision (an admission, a wave or
// phase moving, a failure, an Event) is written at once.
const progressInterval = time.Second

// adoptionPoll is how often a Deadline rollout looks for new adopters while
// owners may adopt: adoption is an annotation on an instance, which this
// controller does not watch.
const adoptionPoll = 5 * time.Second

// Reconciler plans and executes Rollouts.
type Reconciler struct {
	// Client reads typed objects from the hub's cache and writes.
	Client client.Client
	// Cache reads instances (unstructured) for Deadline-mode adoption.
	Cache    client.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Metrics counts transitions and rollbacks; nil counts nothing.
	Metrics *metrics.Hub
	// APIReader reads the Secrets that hold checks' credentials (nil:
	// Client), and, before a target set is frozen, which clusters hold the
	// subject's Works (targets.go; nil: the cache alone), uncached.
	APIReader client.Reader
	// CheckHTTPClient sends the hub's check queries (nil: one with a
	// timeout).
	CheckHTTPClient *http.Client

	// written holds, by Rollout, when its status was last written
	// (progressInterval).
	written sync.Map
	// statusWrites is each Rollout's resourceVersion after this
	// controller's last status write (controller.PatchStatus).
	statusWrites controller.OwnWrites
	// targetsChecked holds, by Rollout not yet frozen, when the cache last
	// held every target the API server has (waitForTargets).
	targetsChecked sync.Map
	// leading is the time of this reconciler's first observation: when
	// this hub began to lead (rollout.Input.LeadingSince).
	leading     time.Time
	leadingOnce sync.Once
}

// leadingSince is when this hub began to run its controllers: the time of
// its first observation of a Rollout (controllers run on the leader only,
// and a replica that loses the lead exits).
func (r *Reconciler) leadingSince(now time.Time) time.Time {
	r.leadingOnce.Do(func() { r.leading = now })
	return r.leading
}

// blocked is a reason a Rollout cannot be planned yet.
type blocked struct {
	reason, message string
}

func (b *blocked) Error() string { return b.message }

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx).WithValues("rollout", req.String())
	ctx = ctrl.LoggerInto(ctx, log)

	ro := &fleetv1alpha1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Delete(req.NamespacedName)
			r.statusWrites.Forget(req.NamespacedName)
			r.targetsChecked.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	if ro.Status.Phase.IsTerminal() {
		r.written.Delete(req.NamespacedName)
		r.targetsChecked.Delete(req.NamespacedName)
		// Its outcome is in its status: the instance controller settles
		// the subject's Works on it (rollout.RevisionFor). Nothing is
		// observed; the status only follows the generation (a spec edited
		// after the end), so that kstatus keeps reading the outcome, and
		// nothing is written while it does. Every watch event (a Cluster,
		// a freeze) reaches every Rollout, and the ended ones far
		// outnumber the others: one whose status and Ready already
		// observed this generation is left at once.
		if endSettled(ro) {
			return ctrl.Result{}, r.collectHistory(ctx, ro)
		}
		d := rollout.Ended(rollout.Input{Now: now, Generation: ro.Generation, Spec: ro.Spec, Status: ro.Status})
		return ctrl.Result{}, controller.PatchStatus(ctx, r.Client, &r.statusWrites, ro, setStatus(d.Status))
	}
	o, err := r.observe(ctx, ro, now)
	var b *blocked
	if errors.As(err, &b) {
		// Strategies and PromiseRevisions are watched; the rest (a Promise
		// or an instance revision that appears) is looked for again.
		return ctrl.Result{RequeueAfter: blockedRetry}, r.block(ctx, ro, o.in, b, o.observed)
	}
	var behind *cacheBehind
	if errors.As(err, &behind) {
		log.V(1).Info("waiting for the hub's cache before freezing the target set", "reason", behind.Error())
		return ctrl.Result{RequeueAfter: cacheCatchUpRetry}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	d, err := rollout.Plan(o.in)
	if err == nil && len(d.Measure) > 0 {
		// The hub's checks that are due: measured now, and planned again
		// with what was measured (see checks.go).
		o.in.Measurements = r.measureChecks(ctx, ro, d.Measure, now)
		d, err = rollout.Plan(o.in)
	}
	if err != nil {
		reason := fleetv1alpha1.ReasonInvalidSpec
		if ce := (*rollout.CheckError)(nil); errors.As(err, &ce) {
			reason = fleetv1alpha1.ReasonInvalidCheck
		}
		return ctrl.Result{}, r.block(ctx, ro, o.in, &blocked{reason, err.Error()}, true)
	}
	status := d.Status
	old := ro.Status
	if status.Adoption != nil && o.adoption != nil && !rollout.AdoptionFrozen(&old) {
		// The engine counts clusters; owners adopt instances. After the
		// deadline the counts stay as they were when it passed.
		status.Adoption.Instances, status.Adoption.Adopted = o.adoption.Instances, o.adoption.Adopted
	}
	if wait := r.progressWait(req.NamespacedName, &old, &status, d, now); wait > 0 {
		// Progress alone, written a moment ago: it goes with the next
		// write, at the latest after wait. The next plan starts from the
		// stored status again and counts the same clusters.
		after := requeue(o, d)
		if after == 0 || wait < after {
			after = wait
		}
		return ctrl.Result{RequeueAfter: after}, nil
	}
	changed := !equality.Semantic.DeepEqual(old, status)
	// The status write is the admission: it stores, with the plan that
	// decided them, which clusters are admitted to which revision (Plan
	// derives them from the observations, so a conflict or a crash before
	// the write plans the same ones again). The instance controller sees
	// the new status through its Rollout watch and renders the admitted
	// clusters' Works; nothing else is to be done here, so nothing is left
	// half-done by a crash after it. controller.PatchStatus sends nothing
	// when the plan changed nothing, and guards the write with the
	// resourceVersion the plan was made from: a plan from a stale status
	// (a lagging cache, another replica) is refused with a conflict and
	// made again from the new one, never written over it.
	if err := controller.PatchStatus(ctx, r.Client, &r.statusWrites, ro, setStatus(status)); err != nil {
		if tooLarge(err) {
			// No status write can say so: every one carries the whole
			// status. An Event is an object of its own.
			r.Recorder.Eventf(ro, nil, corev1.EventTypeWarning, ReasonStatusTooLarge, eventAction,
				"the Rollout's status is more than the API server stores in one object, so no plan of it is written "+
					"(its phase and verdict stay as they were, a freeze is not acted on): %v", err)
		}
		return ctrl.Result{}, err
	}
	if changed {
		r.written.Store(req.NamespacedName, now)
	}
	r.record(ctx, ro, old, d)
	return ctrl.Result{RequeueAfter: requeue(o, d)}, nil
}

// progressWait is how long the write of status cur, planned by d from old,
// may wait: while it is progress alone (rollout.ProgressOnly) with no
// Event, until progressInterval after the Rollout's last status write;
// zero when it is to be written now. (d.Admit may list clusters: those
// admitted earlier whose Works the instance controller has not rewritten
// yet; a new admission changes the waves' admitted fields, which is no
// progress.)
func (r *Reconciler) progressWait(key types.NamespacedName, old, cur *fleetv1alpha1.RolloutStatus, d rollout.Decision, now time.Time) time.Duration {
	if len(d.Events) > 0 || cur.Phase.IsTerminal() || !rollout.ProgressOnly(old, cur) {
		return 0
	}
	last, ok := r.written.Load(key)
	if !ok {
		return 0
	}
	t, _ := last.(time.Time)
	if since := now.Sub(t); since >= 0 && since < progressInterval {
		return progressInterval - since
	}
	return 0
}

// observation is what one reconcile saw.
type observation struct {
	in rollout.Input
	// freezeLifts is when an active freeze first lifts by itself; zero if none does.
	freezeLifts time.Time
	// adoption counts the instances whose owners adopted the target (Deadline
	// mode of a Promise change); nil otherwise.
	adoption *fleetv1alpha1.AdoptionStatus
	// observed: in.Clusters is complete though the Rollout is blocked (its
	// strategy cannot be read), so a rollback can proceed (rollout.Blocked).
	observed bool
}

// observe gathers Plan's input.
func (r *Reconciler) observe(ctx context.Context, ro *fleetv1alpha1.Rollout, now time.Time) (observation, error) {
	o := observation{in: rollout.Input{Now: now, LeadingSince: r.leadingSince(now), Generation: ro.Generation,
		Spec: ro.Spec, Status: *ro.Status.DeepCopy()}}
	in := &o.in
	sub := subjectOf(ro)
	if sub.instance == nil && ro.Namespace != fleetv1alpha1.PlatformNamespace {
		return o, &blocked{fleetv1alpha1.ReasonInvalidSpec,
			fmt.Sprintf("a Rollout of a Promise's revision must live in namespace %s", fleetv1alpha1.PlatformNamespace)}
	}
	p := &fleetv1alpha1.Promise{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: ro.Spec.Subject.Promise}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return o, &blocked{fleetv1alpha1.ReasonNotFound, fmt.Sprintf("promise %s not found", ro.Spec.Subject.Promise)}
		}
		return o, fmt.Errorf("reading promise: %w", err)
	}
	for _, rev := range []string{ro.Spec.TargetRevision, ro.Spec.FromRevision} {
		if err := checkRevision(ctx, r.Client, sub, rev); err != nil {
			return o, err
		}
	}
	// A rollback to a revision that cannot be used holds the rollout, not
	// the subject: the engine stalls it until it is replaced or aborted.
	if rb := ro.Spec.Rollback; rb != nil && rb.ToRevision != "" {
		var b *blocked
		if err := checkRevision(ctx, r.Client, sub, rb.ToRevision); errors.As(err, &b) {
			in.RollbackBlocked = &rollout.Blocked{Reason: b.reason, Message: b.message}
		} else if err != nil {
			return o, err
		}
	}
	strategy, err := r.strategy(ctx, ro, p)
	// Without its strategy a Rollout that started cannot move forward, but
	// it can move back (a rollback under way, requested, or the kill
	// switch's): it is observed in full, and blocked at the end.
	var noStrategy *blocked
	if errors.As(err, &noStrategy) && len(ro.Status.Waves) > 0 {
		o.observed, err = true, nil
	}
	if err != nil {
		return o, err
	}
	in.Strategy = strategy
	in.PromiseChecks, in.SkipChecks = p.Spec.Checks, p.Spec.SkipChecks

	rollouts, err := sub.rollouts(ctx, r.Client)
	if err != nil {
		return o, err
	}
	in.SupersededBy = rollout.SupersededBy(ro, rollouts)
	// A revert runs from the target it undoes, which only some clusters
	// took: rolling back to it would move all the others to it. An
	// instance's Rollout (the team's) must show its fromRevision ran.
	in.PartialFrom = rollout.FromIsPartial(ro, rollouts)
	in.Unsettled = rollout.Unsettled(ro, rollouts)
	// The team that owns an instance may ask its Rollouts for a rollback,
	// which admits every cluster at once: only to a revision the fleet ran.
	// Nor does anyone's rollback without toRevision return to a revert's
	// fromRevision.
	if rb := ro.Spec.Rollback; rb != nil && in.RollbackBlocked == nil && ro.Status.RollbackRevision == "" {
		rev := cmp.Or(rb.ToRevision, ro.Spec.FromRevision)
		if rev != "" && (sub.instance != nil && !rollout.RanInFull(rev, ro, rollouts) || rb.ToRevision == "" && in.PartialFrom) {
			in.RollbackBlocked = &rollout.Blocked{Reason: fleetv1alpha1.ReasonInvalidSpec, Message: fmt.Sprintf(
				"revision %s never ran on the whole target set (no Rollout succeeded to it, and no Rollout the hub started started from it "+
					"other than a revert of it): a rollback, which moves every cluster at once, may only return to one that did; "+
					"change the subject to roll it out instead", rev)}
		}
	}
	in.StartedBy = ro.Annotations[fleetv1alpha1.AnnotationStartedBy]
	if in.StartedBy == "" {
		in.StartedBy = rollout.ActorUnknown
	}
	if sub.instance != nil && ro.Status.StartedAt == nil && ro.Spec.FromRevision != "" {
		if in.Change, err = instanceChange(ctx, r.Client, sub.instance.Namespace, ro.Spec.FromRevision, ro.Spec.TargetRevision,
			metadataRead(ctx, r.Client, p)); err != nil {
			return o, err
		}
	}
	if in.Freeze, o.freezeLifts, err = r.activeFreeze(ctx, now); err != nil {
		return o, err
	}

	works, err := r.works(ctx, sub)
	if err != nil {
		return o, err
	}
	var adopted func(*fleetv1alpha1.Work) bool
	if ro.Spec.UpdatePolicy.Mode == fleetv1alpha1.UpdateModeDeadline && sub.instance == nil {
		adopters, err := r.adopters(ctx, ro, p)
		if err != nil {
			return o, err
		}
		adopted = func(w *fleetv1alpha1.Work) bool {
			i := w.Spec.Subject.Instance
			return i != nil && adopters[types.NamespacedName{Namespace: i.Namespace, Name: i.Name}]
		}
	}
	clusters := &fleetv1alpha1.ClusterList{}
	// Read only, like the Works above (observeCluster keeps the labels map).
	if err := r.Client.List(ctx, clusters, client.UnsafeDisableDeepCopy); err != nil {
		return o, fmt.Errorf("listing clusters: %w", err)
	}
	// The target set is frozen from this observation (see targets.go).
	if err := r.waitForTargets(ctx, ro, sub, works, clusters.Items, now); err != nil {
		return o, err
	}
	if len(ro.Status.Waves) == 0 {
		in.UnmatchedWaves = rollout.WavesMatchingNoCluster(strategy, clusterLabels(clusters.Items))
	}
	var joined func(*fleetv1alpha1.Work) bool
	var listErr error
	if ro.Status.StartedAt != nil {
		// The instances are listed only if a Work is newer than the start.
		joined = joinedSince(ro.Status.StartedAt.Time, func() map[types.NamespacedName]time.Time {
			var created map[types.NamespacedName]time.Time
			created, listErr = r.instancesCreated(ctx, p)
			return created
		})
	}
	in.Clusters = make([]rollout.ClusterObservation, 0, len(works))
	for i := range clusters.Items {
		c := &clusters.Items[i]
		if ws := works[c.Name]; len(ws) > 0 && c.DeletionTimestamp.IsZero() {
			in.Clusters = append(in.Clusters, observeCluster(c, ws, ro.Name, ro.Spec.TargetRevision, joined, sub, adopted))
		}
	}
	if listErr != nil {
		return o, listErr
	}
	if adopted != nil {
		o.adoption = adoptionOf(works, targetClusters(ro, in.Clusters), adopted)
	}
	if noStrategy != nil {
		return o, noStrategy
	}
	return o, nil
}

// clusterLabels are the labels of the hub's Clusters, those being deleted
// aside: what a wave selector may match in the fleet, beyond this Rollout's
// candidates.
func clusterLabels(clusters []fleetv1alpha1.Cluster) []map[string]string {
	out := make([]map[string]string, 0, len(clusters))
	for i := range clusters {
		if clusters[i].DeletionTimestamp.IsZero() {
			out = append(out, clusters[i].Labels)
		}
	}
	return out
}

// targetClusters are the Rollout's target set: its frozen waves' clusters,
// or before its start the clusters observed (which its start freezes).
func targetClusters(ro *fleetv1alpha1.Rollout, observed []rollout.ClusterObservation) []string {
	var out []string
	for _, w := range ro.Status.Waves {
		out = append(out, w.Clusters...)
	}
	if len(ro.Status.Waves) == 0 {
		for _, c := range observed {
			out = append(out, c.Name)
		}
	}
	return out
}

// instanceChange describes what moving an instance from instance revision
// from to to changes (instanceplan.DescribeChange). Both exist: checkRevision
// read them.
func instanceChange(ctx context.Context, c client.Reader, namespace, from, to string, metadataRead bool) (string, error) {
	var contents [2]instanceplan.RevisionContent
	for i, name := range []string{from, to} {
		cr := &appsv1.ControllerRevision{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cr); err != nil {
			return "", fmt.Errorf("reading instance revision %s: %w", name, err)
		}
		team, recorded := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]
		contents[i] = instanceplan.RevisionContent{Spec: cr.Data.Raw, TeamOverrides: team, Recorded: recorded,
			Metadata: cr.Annotations[fleetv1alpha1.AnnotationInstanceMetadata]}
	}
	return instanceplan.DescribeChange(contents[0], contents[1], metadataRead), nil
}

// metadataRead reports whether the templates of Promise p's latest revision
// may read the instance's labels or annotations (render.ReadsInstanceMetadata,
// as the instance controller judges them): a change of them is then named
// to the approvers whatever else changes. It errs towards yes: a revision
// that cannot be read reads them.
func metadataRead(ctx context.Context, c client.Reader, p *fleetv1alpha1.Promise) bool {
	rev := &fleetv1alpha1.PromiseRevision{}
	if p.Status.LatestRevision == "" || c.Get(ctx, types.NamespacedName{Name: p.Status.LatestRevision}, rev) != nil {
		return true
	}
	return render.ReadsInstanceMetadata(&rev.Spec.Content)
}

// checkRevision blocks a Rollout whose revision does not exist (yet): a
// PromiseRevision of its Promise, or a revision of its instance.
func checkRevision(ctx context.Context, c client.Reader, sub subject, name string) error {
	if name == "" {
		return nil
	}
	if sub.instance != nil {
		cr := &appsv1.ControllerRevision{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: sub.instance.Namespace, Name: name}, cr); err != nil {
			if apierrors.IsNotFound(err) {
				return &blocked{fleetv1alpha1.ReasonRevisionNotFound, fmt.Sprintf("instance revision %s not found in namespace %s", name, sub.instance.Namespace)}
			}
			return fmt.Errorf("reading instance revision %s: %w", name, err)
		}
		if cr.Labels[fleetv1alpha1.LabelPromise] != sub.promise || cr.Labels[fleetv1alpha1.LabelInstance] != fleetv1alpha1.WorkLabelValue(sub.instance.Name) {
			return &blocked{fleetv1alpha1.ReasonInvalidSpec, fmt.Sprintf("%s is not a revision of %s %s", name, sub.promise, sub.instance.Name)}
		}
		return nil
	}
	rev := &fleetv1alpha1.PromiseRevision{}
	if err := c.Get(ctx, types.NamespacedName{Name: name}, rev); err != nil {
		if apierrors.IsNotFound(err) {
			return &blocked{fleetv1alpha1.ReasonRevisionNotFound, fmt.Sprintf("PromiseRevision %s not found", name)}
		}
		return fmt.Errorf("reading revision %s: %w", name, err)
	}
	if rev.Spec.Promise != sub.promise {
		return &blocked{fleetv1alpha1.ReasonInvalidSpec, fmt.Sprintf("PromiseRevision %s belongs to promise %s, not %s", name, rev.Spec.Promise, sub.promise)}
	}
	return nil
}

// DefaultStrategyName names the RolloutStrategy used by Promises that name none.
const DefaultStrategyName = rollout.DefaultStrategyName

// strategy resolves the Rollout's strategy (rollout.ResolveStrategy, which
// the instance controller uses too): inline, named, the Promise's, the
// RolloutStrategy "default", or all at once. A named one that is missing
// blocks the Rollout.
func (r *Reconciler) strategy(ctx context.Context, ro *fleetv1alpha1.Rollout, p *fleetv1alpha1.Promise) (fleetv1alpha1.RolloutStrategySpec, error) {
	s, err := rollout.ResolveStrategy(ro, p, controller.StrategyLookup(ctx, r.Client))
	var nf *rollout.StrategyNotFoundError
	if errors.As(err, &nf) {
		return s, &blocked{fleetv1alpha1.ReasonStrategyNotFound, nf.Error()}
	}
	return s, err
}

// activeFreeze returns the FleetFreeze in force, if any, and when the first
// of the active freezes lifts by itself (zero if none does); which freeze
// decides is fleetv1alpha1.ActiveFreezes'.
func (r *Reconciler) activeFreeze(ctx context.Context, now time.Time) (*rollout.FreezeObservation, time.Time, error) {
	list := &fleetv1alpha1.FleetFreezeList{}
	if err := r.Client.List(ctx, list); err != nil {
		return nil, time.Time{}, fmt.Errorf("listing fleet freezes: %w", err)
	}
	active, lifts := fleetv1alpha1.ActiveFreezes(list.Items, now)
	if len(active) == 0 {
		return nil, time.Time{}, nil
	}
	f := &active[0]
	return &rollout.FreezeObservation{Name: f.Name, Action: f.EffectiveAction(), Reason: f.Spec.Reason, By: f.Spec.FrozenBy}, lifts, nil
}

// works returns the hub's Works of the subject (a Promise's instances and
// fleet resources, or one instance) by cluster, leaving out those being deleted.
func (r *Reconciler) works(ctx context.Context, sub subject) (map[string][]*fleetv1alpha1.Work, error) {
	list := &fleetv1alpha1.WorkList{}
	field := client.MatchingFields{controller.IndexWorkByPromise: sub.promise}
	if sub.instance != nil {
		field = client.MatchingFields{controller.IndexWorkByInstance: controller.InstanceKey(sub.instance.Namespace, sub.instance.Name)}
	}
	// The cached Works themselves, not copies: a reconcile only reads them
	// (observe, admit), and copying 10,000 Works with their manifests was a
	// tenth of the hub's CPU during a 10,000-cluster rollout.
	if err := r.Client.List(ctx, list, field, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing works: %w", err)
	}
	out := map[string][]*fleetv1alpha1.Work{}
	for i := range list.Items {
		w := &list.Items[i]
		if w.Labels[fleetv1alpha1.LabelManagedBy] != fleetv1alpha1.ManagedByValue || !w.DeletionTimestamp.IsZero() ||
			w.Spec.Subject.Promise != sub.promise {
			continue
		}
		out[w.Spec.Cluster] = append(out[w.Spec.Cluster], w)
	}
	return out, nil
}

// subject is what a Rollout moves: every instance of a Promise (instance
// nil), or one instance.
type subject struct {
	promise  string
	instance *types.NamespacedName
}

func subjectOf(ro *fleetv1alpha1.Rollout) subject {
	s := subject{promise: ro.Spec.Subject.Promise}
	if i := ro.Spec.Subject.Instance; i != nil {
		s.instance = &types.NamespacedName{Namespace: ro.Namespace, Name: i.Name}
	}
	return s
}

// revisionOf is the revision of the subject's kind a Work renders and last
// applied: a PromiseRevision, or an instance revision.
func (s subject) revisionOf(w *fleetv1alpha1.Work) (rendered, applied string) {
	if s.instance != nil {
		return w.Spec.InstanceRevision, w.Status.AppliedInstanceRevision
	}
	return w.Spec.Revision, w.Status.AppliedRevision
}

// rollouts lists the Rollouts of the subject.
func (s subject) rollouts(ctx context.Context, c client.Reader) ([]fleetv1alpha1.Rollout, error) {
	if s.instance != nil {
		return controller.InstanceRollouts(ctx, c, s.promise, s.instance.Namespace, s.instance.Name)
	}
	return controller.PromiseRollouts(ctx, c, s.promise)
}

// instances lists the Promise's instances from the cache.
func (r *Reconciler) instances(ctx context.Context, p *fleetv1alpha1.Promise) ([]unstructured.Unstructured, error) {
	gvk := instanceapi.GVK(&p.Spec.API)
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.Cache.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing %s instances: %w", gvk.Kind, err)
	}
	return list.Items, nil
}

// instancesCreated returns when each of the Promise's instances was created.
func (r *Reconciler) instancesCreated(ctx context.Context, p *fleetv1alpha1.Promise) (map[types.NamespacedName]time.Time, error) {
	items, err := r.instances(ctx, p)
	if err != nil {
		return map[types.NamespacedName]time.Time{}, err
	}
	created := make(map[types.NamespacedName]time.Time, len(items))
	for _, inst := range items {
		created[types.NamespacedName{Namespace: inst.GetNamespace(), Name: inst.GetName()}] = inst.GetCreationTimestamp().Time
	}
	return created, nil
}

// adopters returns the Promise's instances whose owners adopted the
// Rollout's target.
func (r *Reconciler) adopters(ctx context.Context, ro *fleetv1alpha1.Rollout, p *fleetv1alpha1.Promise) (map[types.NamespacedName]bool, error) {
	items, err := r.instances(ctx, p)
	if err != nil {
		return nil, err
	}
	adopted := map[types.NamespacedName]bool{}
	for _, inst := range items {
		if inst.GetAnnotations()[fleetv1alpha1.AnnotationAdoptRevision] == ro.Spec.TargetRevision {
			adopted[types.NamespacedName{Namespace: inst.GetNamespace(), Name: inst.GetName()}] = true
		}
	}
	return adopted, nil
}

// requeue is when the Rollout must be looked at again by time alone: when
// Plan asks, when a freeze lifts by itself (the FleetFreeze watch sees only
// edits and deletions), and often while Deadline-mode owners may adopt.
func requeue(o observation, d rollout.Decision) time.Duration {
	after := d.RequeueAfter
	sooner := func(t time.Duration) {
		if t > 0 && (after == 0 || t < after) {
			after = t
		}
	}
	if !o.freezeLifts.IsZero() {
		sooner(o.freezeLifts.Sub(o.in.Now) + time.Second)
	}
	if d.Status.Adoption != nil && d.Status.Adoption.ForcedAt == nil && !d.Status.Phase.IsTerminal() {
		sooner(adoptionPoll)
	}
	return after
}

// setStatus is the update controller.PatchStatus applies: the whole status,
// as planned.
func setStatus(status fleetv1alpha1.RolloutStatus) func(*fleetv1alpha1.Rollout) {
	return func(ro *fleetv1alpha1.Rollout) { ro.Status = status }
}

// endSettled reports whether an ended Rollout's status, and its Ready
// condition, observed its generation under the rules of rollout.Ended.
func endSettled(ro *fleetv1alpha1.Rollout) bool {
	ready := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionReady)
	return ro.Status.ObservedGeneration == ro.Generation && ready != nil && ready.ObservedGeneration == ro.Generation
}
