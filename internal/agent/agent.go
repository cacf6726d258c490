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
	"k8s.io/client-go/util/workqueue"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
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
	// when off (--drift-watch=false, report-only). On the fleet
	// simulator's member it runs no watch: the member tells it of status
	// changes (statusNotifier).
	driftWatch *driftWatch
	// events records drift Events on Works in the hub; nil records none.
	events *eventRecorder
	// checker measures verification checks; nil where the agent does not
	// (report-only, the fleet simulator's in-memory member).
	checker *checker
	// codeRelease drops the binary's pages from resident memory after
	// looks at Works; nil when off (Options.ReleaseCodePagesEvery).
	codeRelease *codeRelease
	now         func() time.Time
	rand        func() float64

	mu    sync.Mutex
	works map[string]*workState
}

// workState is what the agent knows about one Work. Only the worker holding
// the Work's key touches its fields (the queue never hands a key to two
// workers); the map itself is guarded by agent.mu.
type workState struct {
	// State is what decisions depend on: the spec and exceptions last
	// applied and judged, the backoff, the next look, the status hold.
	plan.State
	// record mirrors the Work's file in the state directory.
	record *workRecord
	// last is the last pass, with the health seen since.
	last *passRecord
	// written is the status last written, and the resourceVersion it was
	// written over: while the informer still shows that version, it has not
	// caught up with the write yet.
	written       *fleetv1alpha1.WorkStatus
	writtenOverRV string
	// writtenRV is the resourceVersion the last write produced: a write
	// that follows before the informer caught up goes over it, not over
	// the informer's older one (a sure conflict, and a second's delay).
	writtenRV string
	// checksLoaded: the check states were taken over (from the record, or
	// from the hub's status when the record has none).
	checksLoaded bool
	// restoredHash is the hash of the spec the record held when the agent
	// started: the last one it took up before a restart. The record's Work
	// is overwritten with the hub's spec before that spec is applied, so
	// only this says what the agent had begun to apply (inSync).
	restoredHash string
	// restoredManifests are that spec's manifests: what drift accepted
	// before the restart (in the hub's status) was judged against.
	restoredManifests []fleetv1alpha1.Manifest
}

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
	defer a.codeRelease.busy()
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
// state and reports status: it observes (the hub's Work, the local record,
// the drift watch), asks plan.Begin what to do, does it (apply, check,
// prune), then asks plan.End when to look again and whether to report now.
// The decisions, and why, are in internal/agent/plan.
func (a *agent) sync(ctx context.Context, name string) error {
	st := a.state(name)
	hubWork, onHub, err := a.hubWork(name)
	if err != nil {
		return err
	}
	look := a.look(name, st, hubWork, onHub)
	start := plan.Begin(stateOf(st), look)
	if start.Action == plan.ConfirmDeletion {
		var unconfirmed error
		look.Deletion, unconfirmed = a.confirmDeleted(ctx, name)
		if unconfirmed != nil {
			logr.FromContextOrDiscard(ctx).Info("work gone from the hub's watch but the hub does not confirm it to the agent; not pruning",
				"error", unconfirmed.Error())
		}
		start = plan.Begin(stateOf(st), look)
	}
	if start.Action == plan.Nothing {
		return nil // never heard of it, or already forgotten
	}
	st, out := a.act(ctx, name, st, hubWork, start, look)
	switch start.Action {
	case plan.Apply, plan.Retry, plan.Check, plan.Idle:
		desired := hubWork
		if !look.OnHub {
			desired = st.record.Work
		}
		var onHub *fleetv1alpha1.Work
		if look.OnHub {
			onHub = hubWork
		}
		look.ChecksDue = a.runChecks(ctx, st, desired, onHub, look.Now)
	}
	return a.finish(ctx, name, st, hubWork, start, look, out, plan.End(start, look, out.Outcome))
}

// acted is what act did, for plan.End and for the status.
type acted struct {
	plan.Outcome
	// pruned are the results of a prune action.
	pruned []resourceResult
}

// act executes what plan.Begin decided, and returns the Work's state (new
// when the Work is new to the agent) and what the action did.
func (a *agent) act(ctx context.Context, name string, st *workState, hubWork *fleetv1alpha1.Work, start plan.Start, look plan.Look) (*workState, acted) {
	out := acted{Outcome: plan.Outcome{PruneDone: true}}
	switch start.Action {
	case plan.Wait:
	case plan.PruneDeleting, plan.PruneDeleted:
		if st == nil { // PruneDeleting a Work the agent never applied: only report
			st = &workState{record: &workRecord{Work: stripForRecord(hubWork)}}
			a.setState(name, st)
		}
		a.cleanupChecks(ctx, st)
		out.pruned, out.PruneDone = a.pruneAll(ctx, name, st)
	default: // Apply, Retry, Check, Idle
		desired := hubWork
		if !look.OnHub {
			desired = st.record.Work // hub not seen yet: keep the member as it was
		}
		if st == nil {
			st = &workState{record: &workRecord{}}
			a.setState(name, st)
		}
		st.State = start.State
		if start.SaveRecord {
			st.record.Work = stripForRecord(desired)
			if err := a.store.save(st.record); err != nil {
				// Without the record a restart would not know this Work; carry on
				// applying (the hub is the source of truth) and try again soon.
				logr.FromContextOrDiscard(ctx).Error(err, "saving desired state")
				a.queue.AddAfter(name, plan.MaxRecheck)
			}
		}
		if start.ObserveGeneration {
			st.last.generation = desired.Generation
		}
		out.Applied = a.execute(ctx, start.Action, st, desired, look)
		out.Pass = &plan.Pass{Generation: st.last.generation, Complete: st.last.pass.complete(), Settled: settled(st.last.pass)}
		out.QueueIdle = a.queue.Len() == 0
		a.driftWatch.track(name, st.record.Inventory)
	}
	return st, out
}

// finish carries out what plan.End decided: the next look, the drift
// watch's attention, forgetting the Work, the status report.
func (a *agent) finish(ctx context.Context, name string, st *workState, hubWork *fleetv1alpha1.Work,
	start plan.Start, look plan.Look, out acted, end plan.Finish) error {
	if st != nil && start.Action != plan.Wait {
		st.State = end.State
	}
	if end.Rescheduled {
		// While it converges, a status update of one of its objects on the
		// member (a Deployment becoming available) asks for a look at once.
		a.driftWatch.setConverging(name, end.Converging)
	}
	if end.Again {
		a.queue.AddAfter(name, end.LookAfter)
	}
	if end.HoldFor > 0 {
		a.queue.AddAfter(name, end.HoldFor)
	}
	switch {
	case end.Forget:
		if err := a.store.remove(name); err != nil {
			return err
		}
		a.setState(name, nil)
		a.applier.owners.set(name, nil)
		a.driftWatch.track(name, nil)
		logr.FromContextOrDiscard(ctx).Info("forgot deleted work")
		return nil
	case !end.Report:
		return nil
	case start.Action == plan.PruneDeleting:
		_, err := a.writeStatus(ctx, st, hubWork, deletingStatus(hubWork.Status, hubWork.Generation, out.pruned, a.now()))
		return err
	}
	prev := hubWork.Status
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion {
		// The informer has not caught up with the last write: it is newer.
		prev = *st.written
	}
	status := computeStatus(prev, st.last, look.Now)
	if a.checker != nil {
		status.Checks = nil
		if len(st.record.Checks) > 0 {
			status.Checks = append([]fleetv1alpha1.WorkCheckStatus(nil), st.record.Checks...)
		}
	}
	written, err := a.writeStatus(ctx, st, hubWork, status)
	if written {
		st.last.corrected = nil // counted in the status now
		a.recordDriftTransitions(hubWork, prev, status, look.Now)
	}
	return err
}

// look observes what plan.Begin decides on: the hub's Work, the local
// record and the last pass, the drift watch, the time.
func (a *agent) look(name string, st *workState, hubWork *fleetv1alpha1.Work, onHub bool) plan.Look {
	l := plan.Look{
		Now: a.now(), Resync: a.opts.ResyncInterval, Jitter: a.rand(),
		Known: st != nil, OnHub: onHub, Deleting: onHub && hubWork.DeletionTimestamp != nil,
		InformerSynced: a.informer.HasSynced(),
	}
	desired := hubWork
	if !onHub && st != nil {
		desired = st.record.Work
	}
	if desired != nil {
		l.Desired = identityOf(desired)
		l.Exceptions = desired.Spec.DriftExceptions
	}
	if st != nil {
		if st.record.Work != nil {
			rec := identityOf(st.record.Work)
			l.Recorded = &rec
		}
		if st.last != nil {
			l.Last = &plan.Pass{Generation: st.last.generation, Complete: st.last.pass.complete(), Settled: settled(st.last.pass)}
		}
	}
	if (onHub || st != nil) && !l.Deleting && (onHub || !l.InformerSynced) {
		l.WatchDue = a.driftWatch.takeDue(name)
	}
	return l
}

// execute runs an apply, retry or check of a Work; it reports whether an
// apply pass ran.
func (a *agent) execute(ctx context.Context, action plan.Action, st *workState, desired *fleetv1alpha1.Work, look plan.Look) bool {
	hash := look.Desired.SpecHash
	switch action {
	case plan.Apply, plan.Retry:
		a.applyWork(ctx, st, desired, hash, look.Now)
		return true
	case plan.Check:
		corrected, reapply := a.applier.check(ctx, desired, st.last.pass.resources, look.Now)
		a.recordCorrections(desired, corrected)
		st.last.corrected = append(st.last.corrected, corrected...)
		if reapply {
			// An object was deleted or replaced: only a full apply creates
			// objects (recording their UIDs) and judges who owns them.
			a.applyWork(ctx, st, desired, hash, look.Now)
			return true
		}
	}
	return false
}

func stateOf(st *workState) plan.State {
	if st == nil {
		return plan.State{}
	}
	return st.State
}

func identityOf(w *fleetv1alpha1.Work) plan.Identity {
	return plan.Identity{UID: string(w.UID), Generation: w.Generation, SpecHash: specHash(w), ExceptionsHash: exceptionsHash(w)}
}

// applyWork runs an apply pass and records its result and inventory.
func (a *agent) applyWork(ctx context.Context, st *workState, work *fleetv1alpha1.Work, hash string, now time.Time) {
	log := logr.FromContextOrDiscard(ctx)
	saveInv := func(inv inventory) error {
		st.record.Inventory = inv
		a.applier.owners.set(work.Name, inv)
		return a.store.save(st.record)
	}
	pass := a.applier.apply(ctx, work, st.record.Inventory, saveInv, inSync(st, hash), a.acceptedDrift(st, work), now)
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
		instanceRevision: work.Spec.InstanceRevision, manifests: work.Spec.Manifests, at: now, pass: pass,
		corrected: corrected, driftJudged: canJudge}
	logPass(log, work, pass)
}

// acceptedDrift returns the fields DriftExceptions accepted on each object
// before this apply, with the manifest they were judged against: in the last
// pass and its checks, or, for the first pass in this process, in the status
// the hub holds, judged against the spec the local record held at the start.
func (a *agent) acceptedDrift(st *workState, work *fleetv1alpha1.Work) acceptedBefore {
	out := acceptedBefore{}
	var earlier []fleetv1alpha1.Manifest
	if st.last != nil {
		earlier = st.last.manifests
		for _, r := range st.last.pass.resources {
			if r.accepted != nil {
				out[r.ref.key()] = acceptedEarlier{fields: r.accepted.Fields}
			}
		}
	} else {
		earlier = st.restoredManifests
		for _, rs := range work.Status.Resources {
			d := rs.Drift
			switch {
			case d == nil:
			case d.State == fleetv1alpha1.DriftAccepted:
				out[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = acceptedEarlier{fields: d.Fields}
			case len(d.AcceptedFields) > 0:
				out[refKey{rs.Group, rs.Kind, rs.Namespace, rs.Name}] = acceptedEarlier{fields: d.AcceptedFields}
			}
		}
	}
	if len(out) == 0 || earlier == nil {
		return out
	}
	manifests := a.applier.manifestsByRef(work.Name, earlier)
	for k, acc := range out {
		if d := manifests[k]; d != nil {
			acc.manifest = d.obj
			out[k] = acc
		}
	}
	return out
}

// inSync returns the objects an apply of spec hash should find as an
// earlier pass left them: for a retry of the same spec, those it applied;
// for the first pass after a restart, every object, if the spec was applied
// in full before and no other spec was taken up since. A record that held
// another spec at the restart (restoredHash) says the agent had begun
// applying it (a revision that failed half-way, then rolled back while the
// agent was down): what is on the member may be that spec's, written by
// the agent itself, and an apply of the earlier spec is a new desired
// state, not a correction (under Report it must not be judged and left as
// drift).
func inSync(st *workState, hash string) func(objectRef) bool {
	switch {
	case st.AppliedHash == hash && st.last != nil:
		applied := map[refKey]bool{}
		for _, r := range st.last.pass.resources {
			if r.result == fleetv1alpha1.ApplyResultApplied {
				applied[r.ref.key()] = true
			}
		}
		return func(ref objectRef) bool { return applied[ref.key()] }
	case st.AppliedHash == "" && st.record.AppliedHash == hash && st.restoredHash == hash:
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
	a.applier.owners.set(name, st.record.Inventory)
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
	held := hubWork.Status
	behind := st.written != nil && st.writtenOverRV == hubWork.ResourceVersion
	if behind {
		// The informer has not caught up with our own last write: the hub
		// holds that one. Compared with the informer's older status, a
		// status that went back to it would not be written.
		held = *st.written
	}
	if equality.Semantic.DeepEqual(status, held) {
		return true, nil
	}
	// The status subresource keeps the stored spec whatever a status
	// update sends: sent, the manifests would only be decoded, coerced and
	// thrown away by the API server (a quarter of its CPU for a status
	// write of a one-Deployment Work).
	update := &fleetv1alpha1.Work{TypeMeta: hubWork.TypeMeta, ObjectMeta: *hubWork.ObjectMeta.DeepCopy(), Status: status}
	if behind && st.writtenRV != "" {
		update.ResourceVersion = st.writtenRV // over our own last write, not the informer's older version
	}
	out, err := a.hub.updateWorkStatus(ctx, update)
	a.metrics.statusWrites.WithLabelValues(outcome(err)).Inc()
	if err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// The informer brings the newer Work (or its deletion) shortly.
			a.queue.AddAfter(hubWork.Name, plan.MinRecheck)
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
func (a *agent) confirmDeleted(ctx context.Context, name string) (plan.Confirmation, error) {
	w, err := a.hub.getWork(ctx, name)
	switch {
	case apierrors.IsNotFound(err):
		return plan.Confirmed, nil
	case err != nil:
		return plan.Unreachable, err
	case w.DeletionTimestamp != nil:
		return plan.Confirmed, nil
	default:
		return plan.NotConfirmed, nil
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
// DriftExceptions and Checks re-applies. Exceptions change what drift is
// accepted, not what is desired: the agent judges drift again instead (see
// exceptionsHash). Checks change what is measured (a re-run, the next
// wave's checks), which the next look at the Work picks up.
func specHash(work *fleetv1alpha1.Work) string {
	spec := work.Spec
	spec.DriftExceptions = nil
	spec.Checks = nil
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
