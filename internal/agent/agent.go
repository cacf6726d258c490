package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/drift"
)

// workers is how many Works are applied at once.
const workers = 4

// agent is one running agent. All mutable state hangs off it: several
// agents run side by side in one process.
type agent struct {
	opts     Options
	log      logr.Logger
	hub      *hubClient
	member   member
	applier  *applier
	store    *store
	metrics  *metrics
	informer cache.SharedIndexInformer
	rotator  *tokenRotator // nil unless the hub credentials are a rotatable token
	queue    workqueue.TypedRateLimitingInterface[string]
	// driftWatch watches the member for changes to applied objects; nil
	// when off (--drift-watch=false, report-only, the fleet simulator).
	driftWatch *driftWatch
	// events records drift Events on Works in the hub; nil records none.
	events record.EventRecorder
	now    func() time.Time
	rand   func() float64

	mu    sync.Mutex
	works map[string]*workState
}

// workState is what the agent knows about one Work. Only the worker holding
// the Work's key touches its fields (the queue never hands a key to two
// workers); the map itself is guarded by agent.mu.
type workState struct {
	// record mirrors the Work's file in the state directory.
	record *workRecord
	// appliedHash is the spec hash of the last apply pass in this process.
	appliedHash string
	// exceptionsHash identifies the DriftExceptions that pass or a later
	// check judged with.
	exceptionsHash string
	// last is that pass, with the health seen since.
	last *passRecord
	// attempt counts unsettled looks since the last change, for backoff.
	attempt int
	// nextCheck is when the Work is due for another look at the member.
	nextCheck time.Time
	// written is the status last written, and the resourceVersion it was
	// written over: while the informer still shows that version, it has not
	// caught up with the write yet.
	written       *fleetv1alpha1.WorkStatus
	writtenOverRV string
	// writtenRV is the resourceVersion the last write produced: a write
	// that follows before the informer caught up goes over it, not over
	// the informer's older one (a sure conflict, and a second's delay).
	writtenRV string
	// statusHeldUntil holds back the status of a new spec, applied in full
	// but still converging, until it settles or its first re-check, whichever
	// is first: most workloads are ready by then, and one write (Ready)
	// replaces two (InProgress, then Ready). See statusHold.
	statusHeldUntil time.Time
}

// statusHold bounds how long a fresh apply's status may wait for its first
// re-check (minRecheck plus its jitter): at 10,000 clusters the agents'
// status writes are a third of a rollout's load on the API server.
const statusHold = 2 * minRecheck

func (a *agent) state(name string) *workState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.works[name]
}

func (a *agent) setState(name string, st *workState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st == nil {
		delete(a.works, name)
	} else {
		a.works[name] = st
	}
	a.metrics.worksManaged.Set(float64(len(a.works)))
}

func (a *agent) workNames() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	names := make([]string, 0, len(a.works))
	for n := range a.works {
		names = append(names, n)
	}
	return names
}

// runWorkers processes the queue until it shuts down.
func (a *agent) runWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	wg.Wait()
}

func (a *agent) processNext(ctx context.Context) bool {
	name, shutdown := a.queue.Get()
	if shutdown {
		return false
	}
	defer a.queue.Done(name)
	log := a.log.WithValues("work", name)
	syncWork := a.sync
	if a.opts.ReportOnly {
		syncWork = a.reportSync
	}
	err := syncWork(logr.NewContext(ctx, log), name)
	switch {
	case err == nil:
		a.queue.Forget(name)
		a.metrics.lastSync.SetToCurrentTime()
	case ctx.Err() != nil:
		// Shutting down.
	default:
		log.V(1).Info("sync failed; retrying with backoff", "error", err.Error())
		a.queue.AddRateLimited(name)
	}
	return true
}

// sync brings one Work's objects on the member in line with its desired
// state and reports status. The desired state comes from the hub when the
// informer has synced, from the local record until then: a Work missing from
// an unsynced informer is never pruned.
func (a *agent) sync(ctx context.Context, name string) error {
	log := logr.FromContextOrDiscard(ctx)
	now := a.now()
	st := a.state(name)
	hubWork, onHub, err := a.hubWork(name)
	if err != nil {
		return err
	}
	synced := a.informer.HasSynced()

	deleting := onHub && hubWork.DeletionTimestamp != nil
	deleted := !onHub && synced && st != nil
	if deleting || deleted {
		// Prune only when the hub itself confirms the deletion to the agent.
		// A Work that vanishes because the cluster is being unjoined (its
		// namespace deleted after the agent's access was revoked) must not
		// take the member's workloads with it.
		confirmed, err := a.confirmDeleted(ctx, name)
		switch {
		case err != nil:
			log.Info("work gone from the hub's watch but the hub does not confirm it to the agent; not pruning", "error", err.Error())
			a.queue.AddAfter(name, recheckAfter(true, 0, a.opts.ResyncInterval, a.rand))
			return nil
		case !confirmed:
			a.queue.AddAfter(name, minRecheck) // the informer is behind
			return nil
		case deleting:
			return a.syncDeleting(ctx, name, st, hubWork)
		default:
			return a.syncDeleted(ctx, name, st)
		}
	}
	if !onHub && st == nil {
		return nil // never heard of it, or already forgotten
	}

	desired := hubWork
	if !onHub {
		desired = st.record.Work // hub not seen yet: keep the member as it was
	}
	if st == nil {
		st = &workState{record: &workRecord{}}
		a.setState(name, st)
	}
	if a.driftWatch.takeDue(name) {
		st.nextCheck = time.Time{} // a watch event: look now
	}
	hash := specHash(desired)
	if st.record.Work == nil || st.record.Work.UID != desired.UID || st.record.Work.Generation != desired.Generation || specHash(st.record.Work) != hash {
		st.record.Work = stripForRecord(desired)
		if err := a.store.save(st.record); err != nil {
			// Without the record a restart would not know this Work; carry on
			// applying (the hub is the source of truth) and try again soon.
			log.Error(err, "saving desired state")
			a.queue.AddAfter(name, maxRecheck)
		}
	}

	if hash == st.appliedHash && st.last.generation != desired.Generation {
		// The spec came back to what was applied (an edit reverted), or only
		// its DriftExceptions changed: nothing to apply, but this generation
		// is observed.
		st.last.generation = desired.Generation
	}
	if excHash := exceptionsHash(desired); hash == st.appliedHash && excHash != st.exceptionsHash {
		// Other exceptions: judge drift again now (and correct what they no
		// longer accept), rather than apply the same manifests again.
		st.exceptionsHash = excHash
		st.nextCheck = time.Time{}
	}
	freshApply := false
	switch {
	case hash != st.appliedHash:
		st.attempt = 0
		a.applyWork(ctx, st, desired, hash, now)
		freshApply = true
	case !now.Before(st.nextCheck) && !st.last.pass.complete():
		a.applyWork(ctx, st, desired, hash, now) // retry what failed
	case !now.Before(st.nextCheck):
		corrected, reapply := a.applier.check(ctx, desired, st.last.pass.resources, now)
		a.recordCorrections(desired, corrected)
		st.last.corrected = append(st.last.corrected, corrected...)
		if reapply {
			// An object was deleted or replaced: only a full apply creates
			// objects (recording their UIDs) and judges who owns them.
			a.applyWork(ctx, st, desired, hash, now)
		}
	}
	a.driftWatch.track(name, st.record.Inventory)
	if !now.Before(st.nextCheck) {
		isSettled := settled(st.last.pass)
		if isSettled {
			st.attempt = 0
		}
		// While it converges, a status update of one of its objects on the
		// member (a Deployment becoming available) asks for a look at once.
		a.driftWatch.setConverging(name, !isSettled)
		st.nextCheck = now.Add(recheckAfter(isSettled, st.attempt, a.opts.ResyncInterval, a.rand))
		if !isSettled {
			st.attempt++
		}
	}
	if exp := drift.NextExpiry(desired.Spec.DriftExceptions, now); !exp.IsZero() && exp.Before(st.nextCheck) {
		// Judge again as an exception expires, hub or not: its drift turns
		// unexplained and the policy applies.
		st.nextCheck = exp.Add(expiryMargin)
	}
	a.queue.AddAfter(name, st.nextCheck.Sub(now))

	if !onHub {
		return nil // status waits for the hub
	}
	// No hold while other Works wait for a worker: the re-check would wait
	// behind them, and the Work's report with it.
	if freshApply && st.last.pass.complete() && !settled(st.last.pass) && st.nextCheck.Sub(now) <= statusHold && a.queue.Len() == 0 {
		st.statusHeldUntil = st.nextCheck
	}
	if now.Before(st.statusHeldUntil) && !settled(st.last.pass) {
		// Reported when it settles (a look the drift watch asks for when an
		// object's status changes) or at the hold's end, whichever is first.
		a.queue.AddAfter(name, st.statusHeldUntil.Sub(now))
		return nil
	}
	prev := hubWork.Status
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion {
		// The informer has not caught up with the last write: it is newer.
		prev = *st.written
	}
	status := computeStatus(prev, st.last, now)
	written, err := a.writeStatus(ctx, st, hubWork, status)
	if written {
		st.last.corrected = nil // counted in the status now
		a.recordDriftTransitions(hubWork, prev, status, now)
	}
	return err
}

// expiryMargin is how long after an exception's expiresAt the agent looks
// again, so that the look sees it expired.
const expiryMargin = 10 * time.Millisecond

// applyWork runs an apply pass and records its result and inventory.
func (a *agent) applyWork(ctx context.Context, st *workState, work *fleetv1alpha1.Work, hash string, now time.Time) {
	log := logr.FromContextOrDiscard(ctx)
	saveInv := func(inv inventory) error {
		st.record.Inventory = inv
		return a.store.save(st.record)
	}
	pass := a.applier.apply(ctx, work, st.record.Inventory, saveInv, inSync(st, hash), acceptedDrift(st, work), now)
	st.exceptionsHash = exceptionsHash(work)
	// A spec applied in full is recorded, so that after a restart its
	// re-apply counts what it changes as drift corrections.
	appliedInFull := pass.complete() && st.record.AppliedHash != hash
	if appliedInFull {
		st.record.AppliedHash = hash
	}
	if appliedInFull || !pass.inventory.equal(st.record.Inventory) {
		if err := saveInv(pass.inventory); err != nil {
			log.Error(err, "saving inventory")
		}
	}
	st.appliedHash = hash
	// Corrections not yet reported carry over to the new pass.
	var corrected []resourceResult
	if st.last != nil {
		corrected = st.last.corrected
	}
	var correctedNow []resourceResult
	for _, r := range pass.resources {
		if r.corrected != nil {
			correctedNow = append(correctedNow, r)
		}
	}
	a.recordCorrections(work, correctedNow)
	corrected = append(corrected, correctedNow...)
	_, canJudge := a.member.(dryRunner)
	st.last = &passRecord{generation: work.Generation, revision: work.Spec.Revision,
		instanceRevision: work.Spec.InstanceRevision, at: now, pass: pass,
		corrected: corrected, driftJudged: canJudge}
	st.nextCheck = time.Time{} // judge it now
	logPass(log, work, pass)
}

// acceptedDrift returns the fields DriftExceptions accepted on each object
// before this apply: in the last pass and its checks, or, for the first pass
// in this process, in the status the hub holds.
func acceptedDrift(st *workState, work *fleetv1alpha1.Work) acceptedBefore {
	out := acceptedBefore{}
	if st.last != nil {
		for _, r := range st.last.pass.resources {
			if r.accepted != nil {
				out[r.ref.key()] = r.accepted.Fields
			}
		}
		return out
	}
	for _, rs := range work.Status.Resources {
		d := rs.Drift
		switch {
		case d == nil:
		case d.State == fleetv1alpha1.DriftAccepted:
			out[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = d.Fields
		case len(d.AcceptedFields) > 0:
			out[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = d.AcceptedFields
		}
	}
	return out
}

// inSync returns the objects an apply of spec hash should find as an
// earlier pass left them: for a retry of the same spec, those it applied;
// for the first pass after a restart, every object, if the spec was applied
// in full before.
func inSync(st *workState, hash string) func(objectRef) bool {
	switch {
	case st.appliedHash == hash && st.last != nil:
		applied := map[refKey]bool{}
		for _, r := range st.last.pass.resources {
			if r.result == fleetv1alpha1.ApplyResultApplied {
				applied[r.ref.key()] = true
			}
		}
		return func(ref objectRef) bool { return applied[ref.key()] }
	case st.appliedHash == "" && st.record.AppliedHash == hash:
		return func(objectRef) bool { return true }
	}
	return nil
}

func logPass(log logr.Logger, work *fleetv1alpha1.Work, pass *applyPass) {
	failedCount := 0
	for _, r := range pass.resources {
		switch r.result {
		case fleetv1alpha1.ApplyResultFailed:
			failedCount++
			log.V(1).Info("resource failed", "resource", r.ref.String(), "message", r.message)
		case fleetv1alpha1.ApplyResultConflict, fleetv1alpha1.ApplyResultRefused:
			failedCount++
			log.Info("resource not applied", "resource", r.ref.String(), "result", r.result, "message", r.message)
		}
	}
	for _, r := range pass.pruned {
		log.Info("pruned", "resource", r.ref.String(), "result", r.result, "message", r.message)
	}
	log.Info("applied", "revision", work.Spec.Revision, "generation", work.Generation,
		"resources", len(pass.resources), "failed", failedCount, "pruned", len(pass.pruned), "pruneDeferred", pass.pruneDeferred)
}

// syncDeleting prunes a Work that is being deleted on the hub (a finalizer
// holds it) and reports what pruning did.
func (a *agent) syncDeleting(ctx context.Context, name string, st *workState, hubWork *fleetv1alpha1.Work) error {
	var pruned []resourceResult
	if st != nil {
		var done bool
		pruned, done = a.pruneAll(ctx, name, st)
		if !done {
			a.queue.AddAfter(name, recheckAfter(false, st.attempt, a.opts.ResyncInterval, a.rand))
			st.attempt++
		}
	} else {
		st = &workState{record: &workRecord{Work: stripForRecord(hubWork)}}
		a.setState(name, st)
	}
	_, err := a.writeStatus(ctx, st, hubWork, deletingStatus(hubWork.Status, hubWork.Generation, pruned, a.now()))
	return err
}

// syncDeleted prunes a Work the hub no longer has and forgets it.
func (a *agent) syncDeleted(ctx context.Context, name string, st *workState) error {
	if st == nil {
		return nil
	}
	if _, done := a.pruneAll(ctx, name, st); !done {
		a.queue.AddAfter(name, recheckAfter(false, st.attempt, a.opts.ResyncInterval, a.rand))
		st.attempt++
		return nil
	}
	if err := a.store.remove(name); err != nil {
		return err
	}
	a.setState(name, nil)
	a.driftWatch.track(name, nil)
	logr.FromContextOrDiscard(ctx).Info("forgot deleted work")
	return nil
}

// pruneAll prunes every object of a Work's inventory, by its last known
// prunePolicy. It reports whether nothing is left to retry.
func (a *agent) pruneAll(ctx context.Context, name string, st *workState) ([]resourceResult, bool) {
	if len(st.record.Inventory) == 0 {
		return nil, true
	}
	orphan := st.record.Work != nil && st.record.Work.Spec.PrunePolicy == fleetv1alpha1.PruneOrphan
	results, retry := a.applier.prune(ctx, name, st.record.Inventory, orphan)
	for _, r := range results {
		logr.FromContextOrDiscard(ctx).Info("pruned", "resource", r.ref.String(), "result", r.result, "message", r.message)
	}
	st.record.Inventory = newInventory(retry...)
	if st.record.Work != nil {
		if err := a.store.save(st.record); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "saving inventory")
		}
	}
	return results, len(retry) == 0
}

// writeStatus writes status when it differs from what the hub holds, and
// not again while the informer has not caught up with the last write. It
// reports whether the hub holds status now.
func (a *agent) writeStatus(ctx context.Context, st *workState, hubWork *fleetv1alpha1.Work, status fleetv1alpha1.WorkStatus) (bool, error) {
	if equality.Semantic.DeepEqual(status, hubWork.Status) {
		return true, nil
	}
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion && equality.Semantic.DeepEqual(status, *st.written) {
		return true, nil
	}
	update := hubWork.DeepCopy()
	update.Status = status
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion && st.writtenRV != "" {
		update.ResourceVersion = st.writtenRV // the informer is behind our own last write
	}
	out, err := a.hub.updateWorkStatus(ctx, update)
	a.metrics.statusWrites.WithLabelValues(outcome(err)).Inc()
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// The informer brings the newer Work (or its deletion) shortly.
			a.queue.AddAfter(hubWork.Name, minRecheck)
			return false, nil
		}
		a.metrics.hubConnected.Set(0)
		return false, err
	}
	a.metrics.hubConnected.Set(1)
	st.written, st.writtenOverRV, st.writtenRV = &status, hubWork.ResourceVersion, out.ResourceVersion
	return true, nil
}

// confirmDeleted asks the hub whether a Work is gone or being deleted.
func (a *agent) confirmDeleted(ctx context.Context, name string) (bool, error) {
	w, err := a.hub.getWork(ctx, name)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, err
	default:
		return w.DeletionTimestamp != nil, nil
	}
}

func (a *agent) hubWork(name string) (*fleetv1alpha1.Work, bool, error) {
	obj, exists, err := a.informer.GetStore().GetByKey(a.hub.namespace + "/" + name)
	if err != nil || !exists {
		return nil, false, err
	}
	work, ok := obj.(*fleetv1alpha1.Work)
	if !ok {
		return nil, false, fmt.Errorf("unexpected %T in the work informer", obj)
	}
	return work, true, nil
}

// specHash identifies a desired state: any change to the spec but its
// DriftExceptions re-applies. Exceptions change what drift is accepted, not
// what is desired: the agent judges drift again instead (see exceptionsHash).
func specHash(work *fleetv1alpha1.Work) string {
	spec := work.Spec
	spec.DriftExceptions = nil
	return hashOf(spec)
}

// exceptionsHash identifies a Work's DriftExceptions.
func exceptionsHash(work *fleetv1alpha1.Work) string {
	if len(work.Spec.DriftExceptions) == 0 {
		return ""
	}
	return hashOf(work.Spec.DriftExceptions)
}

func hashOf(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// stripForRecord keeps what the local record needs: identity and spec.
func stripForRecord(work *fleetv1alpha1.Work) *fleetv1alpha1.Work {
	w := work.DeepCopy()
	w.Status = fleetv1alpha1.WorkStatus{}
	w.ManagedFields = nil
	w.ResourceVersion = ""
	return w
}
