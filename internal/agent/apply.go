package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/health"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// resourceResult is the outcome of one manifest, or of one pruned object.
type resourceResult struct {
	ref     objectRef
	result  fleetv1alpha1.ApplyResult
	health  health.Result
	message string
	// permanent marks a failure that retrying will not fix: the manifest
	// needs a change (or a kind the member does not have).
	permanent bool
	// drift the object has now and the agent leaves (Report, or a failed
	// correction); nil when none was found or it was not judged.
	drift *drift.Result
	// corrected is the drift this pass or check undid; nil when none.
	corrected *drift.Result
	// accepted is drift a DriftException accepts, left in place whatever
	// the policy; exception names it. nil when none.
	accepted  *drift.Result
	exception string
	// cause is why the object is not healthy, as seen on the member
	// (explain); nil when healthy or when nothing more specific is known.
	cause *health.Cause
	// unmanaged: Skipped for fleet.flotilla.dev/reconcile: disabled on the
	// live object (not on the manifest): whoever may update the object may
	// have put it there, so the Work's revision is not applied by it.
	unmanaged bool
	// asApplied fingerprints the agent's managedFields entry on the object
	// when it was last known to be as applied (no drift, none accepted):
	// while the live entry is the same, nobody changed a field the agent
	// owns, and check need not judge drift again. "" when not known.
	asApplied string
	// resourceVersion is the live object's when last read (or applied),
	// at readAt (taken before the request): while the drift watch shows no
	// other version since, check need not read it again.
	resourceVersion string
	readAt          time.Time
}

// applyPass is what one apply of a Work did.
type applyPass struct {
	// resources has one result per manifest, in manifest order.
	resources []resourceResult
	// pruned has one result per object that left the Work.
	pruned []resourceResult
	// pruneDeferred is set when invalid manifests made the desired set
	// uncertain, so nothing was pruned.
	pruneDeferred bool
	// inventory after the pass.
	inventory inventory
}

// complete reports whether every manifest is on the member as desired
// (plan.Complete).
func (p *applyPass) complete() bool {
	for _, r := range p.resources {
		if plan.Unapplied(r.result) {
			return false
		}
	}
	return true
}

// acceptedBefore maps objects to the drift DriftExceptions accepted on them
// before a new spec: only those fields, where the new spec sets them as the
// earlier one did, stay accepted through its apply.
type acceptedBefore map[refKey]acceptedEarlier

// acceptedEarlier is the drift accepted on an object before a new spec: its
// fields, and the manifest they were judged against (nil: not known).
type acceptedEarlier struct {
	fields   []string
	manifest *unstructured.Unstructured
}

// crdEstablishTimeout bounds the wait for new CRDs before the objects of
// their kinds are applied; past it those objects fail and are retried.
const crdEstablishTimeout = 30 * time.Second

// applier applies Works to the member and prunes what leaves them.
type applier struct {
	member  member
	metrics *metrics
	// objects serialises the claim and apply of one object across workers.
	objects objectLocks
	// owners knows which Work's inventory records each object: one Work
	// never claims, nor prunes, what another's records.
	owners recordedOwners
	// watch, when set, tells which objects no one changed since they were
	// last read; check does not read those again.
	watch *driftWatch
}

// apply applies a Work: CRDs first (waiting until they are established),
// then Namespaces, then the rest; then prunes what left the Work. saveInv is
// called with the inventory before any object not yet in it is created, so a
// crash never leaves an object the agent cannot prune later. inSync (nil:
// none) names the objects an earlier pass of the same spec left as desired:
// applying one of them changes it only to undo someone else's change, a
// drift correction. prevAccepted (nil: none) is the drift exceptions
// accepted before; at now the Work's exceptions decide what stays accepted.
//
// Objects outside the Work's scope are Refused and never reach the member
// nor the inventory; existing objects the Work did not create are a
// Conflict, left untouched (plan.ApplyObject). The inventory records the UID of each
// object the Work creates or adopts, and prune deletes only those.
func (a *applier) apply(ctx context.Context, work *fleetv1alpha1.Work, inv inventory, saveInv func(inventory) error,
	inSync func(objectRef) bool, prevAccepted acceptedBefore, now time.Time) *applyPass {
	objs := decodeManifests(work.Name, work.Spec.Manifests)
	pass := &applyPass{resources: make([]resourceResult, len(objs))}
	led := &ledger{inv: inv, save: saveInv}
	uncertain := false // some manifest's identity is unknown: do not prune
	for i, d := range objs {
		pass.resources[i] = resourceResult{ref: d.ref}
		if d.err != nil {
			pass.resources[i] = failed(d.ref, "", d.err, true)
			uncertain = true
		}
	}
	definedKinds := crdKinds(objs)
	unscoped := work.Spec.Subject.Instance != nil && work.Spec.Scope == nil

	for _, p := range []phase{phaseCRDs, phaseNamespaces, phaseRest} {
		batch := byPhase(objs, p)
		if len(batch) == 0 {
			continue
		}
		// Resolve scope now: kinds defined by this Work's CRDs exist only after phaseCRDs.
		ready := batch[:0]
		for _, d := range batch {
			if unscoped {
				pass.resources[d.index] = a.refused(d.ref, errUnscopedInstance.Error())
				continue
			}
			namespaced, err := a.place(d, work.Spec.Scope)
			switch {
			case err != nil && work.Spec.Scope != nil && meta.IsNoMatchError(err) && !kindAllowed(work.Spec.Scope, d.ref):
				// Unknown here, and not a kind the Work may have anyway.
				pass.resources[d.index] = a.refused(d.ref, violationMessage(confine(work.Spec.Scope, d.ref, true, false, false)))
				continue
			case err != nil:
				permanent := !definedKinds[d.ref.gvk().GroupKind()]
				pass.resources[d.index] = failed(d.ref, "", err, permanent)
				uncertain = true
				continue
			}
			pass.resources[d.index].ref = d.ref
			if err := confine(work.Spec.Scope, d.ref, namespaced, scope.HasItems(d.obj.Object), len(d.obj.GetFinalizers()) > 0); err != nil {
				pass.resources[d.index] = a.refused(d.ref, violationMessage(err))
				continue
			}
			if !namespaced {
				d.obj.SetNamespace("") // a stray namespace on an allowed cluster-scoped object
				d.ref = refOf(d.obj)
				pass.resources[d.index].ref = d.ref
			}
			ready = append(ready, d)
		}
		refs := make([]objectRef, 0, len(ready))
		for _, d := range ready {
			refs = append(refs, d.ref)
		}
		if err := led.add(refs...); err != nil {
			for _, d := range ready {
				pass.resources[d.index] = failed(d.ref, "recording the inventory", err, false)
			}
			continue
		}
		var crds []*desiredObject
		for _, d := range ready {
			pass.resources[d.index] = a.applyOne(ctx, work, d, led, inSync != nil && inSync(d.ref), prevAccepted[d.ref.key()], now)
			if d.ref.isCRD() && pass.resources[d.index].result == fleetv1alpha1.ApplyResultApplied {
				crds = append(crds, d)
			}
		}
		// The UIDs of what this phase created; should this fail, the
		// objects' labels still tell the agent they are the Work's.
		if err := led.flush(); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "recording the UIDs of created objects")
		}
		if len(crds) > 0 {
			a.waitEstablished(ctx, crds, pass.resources)
			a.member.resetKinds()
		}
	}

	desired := make([]objectRef, 0, len(objs))
	for _, r := range pass.resources {
		if r.ref.Name != "" {
			desired = append(desired, r.ref)
		}
	}
	inv = led.inv
	if uncertain {
		pass.pruneDeferred = true
		pass.inventory = inv
		return pass
	}
	gone := inv.without(desired...)
	results, keep := a.prune(ctx, work.Name, gone, work.Spec.PrunePolicy == fleetv1alpha1.PruneOrphan)
	pass.pruned = results
	pass.inventory = newInventory(inv.without(gone...)...)
	pass.inventory = pass.inventory.union(keep...)
	return pass
}

// errUnscopedInstance refuses every object of an instance's Work without a
// scope: only a hub older than the agent writes one.
var errUnscopedInstance = errors.New("this instance's Work has no spec.scope (written by a hub older than the agent); " +
	"the agent applies no object of an instance without one: upgrade the hub")

// place settles the object's namespace by the kind's scope and reports
// whether the kind is namespaced: a namespaced object without a namespace
// goes to "default" (as with kubectl). Without a Work scope a cluster-scoped
// object loses a stray namespace here; with one it keeps it until the scope
// has judged it, so that a namespace does not make it look allowed.
func (a *applier) place(d *desiredObject, sc *fleetv1alpha1.WorkScope) (bool, error) {
	namespaced, err := a.member.namespaced(d.ref.gvk())
	if err != nil {
		return false, err
	}
	switch {
	case namespaced && d.obj.GetNamespace() == "":
		d.obj.SetNamespace("default")
	case !namespaced && d.obj.GetNamespace() != "" && sc == nil:
		d.obj.SetNamespace("")
	}
	d.ref = refOf(d.obj)
	return namespaced, nil
}

// normalize settles the object's namespace by the kind's scope: namespaced
// objects without one go to "default" (as with kubectl), cluster-scoped ones
// lose a stray namespace.
func (a *applier) normalize(d *desiredObject) error {
	namespaced, err := a.place(d, nil)
	if err == nil && !namespaced && d.obj.GetNamespace() != "" {
		d.obj.SetNamespace("")
		d.ref = refOf(d.obj)
	}
	return err
}

// confine checks an object against the Work's scope (nil: anything goes).
func confine(sc *fleetv1alpha1.WorkScope, ref objectRef, namespaced, list, finalizers bool) error {
	return scope.Check(sc, scope.Object{Group: ref.Group, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name,
		ClusterScoped: !namespaced, List: list, Finalizers: finalizers})
}

// kindAllowed reports whether the scope lists ref's kind.
func kindAllowed(sc *fleetv1alpha1.WorkScope, ref objectRef) bool {
	for _, k := range sc.Kinds {
		if k.Group == ref.Group && k.Kind == ref.Kind {
			return true
		}
	}
	return false
}

// violationMessage is the resource message for a scope violation: the rule
// broken (the resource status names the object already).
func violationMessage(err error) string {
	var v *scope.Violation
	if errors.As(err, &v) {
		return "outside the Work's scope: " + v.Rule
	}
	return err.Error()
}

// refused is the result of an object the agent will not apply: Failed
// health, permanent (the Work must change).
func (a *applier) refused(ref objectRef, msg string) resourceResult {
	a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultRefused)).Inc()
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultRefused, message: msg, permanent: true,
		health: health.Result{Status: fleetv1alpha1.HealthFailed, Message: msg}}
}

// conflict is the result of an existing object that is not the Work's.
func (a *applier) conflict(ref objectRef, msg string) resourceResult {
	a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultConflict)).Inc()
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultConflict, message: msg, permanent: true,
		health: health.Result{Status: fleetv1alpha1.HealthFailed, Message: msg}}
}

// applyOne applies one object, unless it (as written or as live) turns
// reconciliation off. inSync says an earlier pass of the same spec applied
// it, so a change now is a drift correction; under the Report drift policy
// such an object is not applied again, only judged.
//
// Drift a DriftException accepts is never undone: the object is judged first
// and applied without the accepted fields, so server-side apply leaves them
// as whoever changed them set them. With a new spec (not inSync) only fields
// accepted before (prevAccepted) and that the new spec sets as the earlier
// one did stay accepted: a field the new spec changes is not drift.
func (a *applier) applyOne(ctx context.Context, work *fleetv1alpha1.Work, d *desiredObject, led *ledger, inSync bool, prevAccepted acceptedEarlier, now time.Time) resourceResult {
	look := plan.ApplyLook{
		ManifestReconcileDisabled: d.obj.GetAnnotations()[fleetv1alpha1.AnnotationReconcile] == fleetv1alpha1.ReconcileDisabled,
		WorkLabel:                 fleetv1alpha1.WorkLabelValue(work.Name), Adoption: work.Spec.Adoption,
		InSync: inSync, Policy: work.Spec.DriftPolicy,
	}
	if dec := plan.ApplyObject(look); dec.Step == plan.Skip {
		a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultSkipped)).Inc()
		return resourceResult{ref: d.ref, result: fleetv1alpha1.ApplyResultSkipped, message: dec.Message}
	}
	defer a.objects.lock(d.ref.key())()
	readAt := time.Now()
	live, err := a.member.get(ctx, d.ref)
	if err != nil && !apierrors.IsNotFound(err) {
		a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultFailed)).Inc()
		return failed(d.ref, "reading the live object", err, permanentError(err))
	}
	existed := err == nil
	if !existed {
		live = nil
	}
	look.Read, look.Live, look.RecordedUID = true, a.liveOf(work.Name, live), led.uid(d.ref)
	dec := plan.ApplyObject(look)
	if dec.RecordLiveUID {
		led.setUID(d.ref, live.GetUID()) // known already, or recognised by its label
		a.owners.add(work.Name, live.GetUID())
	}
	switch dec.Step {
	case plan.LeaveConflict:
		led.forget(d.ref) // not the Work's: never pruned by it
		return a.conflict(d.ref, dec.Message)
	case plan.SkipLive:
		a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultSkipped)).Inc()
		return skippedLive(d.ref, live)
	}
	if dec.ForgetUID {
		led.setUID(d.ref, "")
		if err := led.flush(); err != nil {
			a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultFailed)).Inc()
			return failed(d.ref, "recording the inventory", err, false)
		}
	}
	ref := d.ref
	if existed {
		ref.UID = live.GetUID()
	}
	if dec.Step == plan.Judge {
		r := resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
		if live != nil {
			r.resourceVersion, r.readAt = live.GetResourceVersion(), readAt
		}
		if res, ok := a.judge(ctx, d, live); ok && res.Drifted() {
			r.setDrift(drift.Accept(res, resourceOf(d.ref), work.Spec.DriftExceptions, now))
		}
		return r
	}
	note := dec.Message
	obj := d.obj
	var accepted drift.Split
	if excs := matchingExceptions(work.Spec.DriftExceptions, d.ref, now); len(excs) > 0 && (existed || inSync) {
		if res, ok := a.judge(ctx, d, live); ok && res.Drifted() {
			accepted = drift.Accept(res, resourceOf(d.ref), excs, now)
			if !inSync {
				accepted.Accepted = drift.KeepUnchanged(drift.Restrict(accepted.Accepted, prevAccepted.fields),
					prevAccepted.manifest, d.obj)
			}
		}
	}
	if accepted.Accepted.Deleted {
		// Someone deleted it, and an exception accepts that: not created again.
		return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(nil),
			accepted: &accepted.Accepted, exception: accepted.Exception}
	}
	obj = drift.Strip(obj, accepted.Accepted)
	out, err := a.member.apply(ctx, obj)
	if err != nil {
		a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultFailed)).Inc()
		return failed(d.ref, "", err, permanentError(err))
	}
	a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultApplied)).Inc()
	if dec.RecordNewUID {
		// Created (or adopted) by this apply: the Work's from now on.
		led.setUID(d.ref, out.GetUID())
		a.owners.add(work.Name, out.GetUID())
	}
	ref.UID = out.GetUID()
	r := resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(out), message: note,
		resourceVersion: out.GetResourceVersion(), readAt: readAt}
	if accepted.Accepted.Drifted() {
		r.accepted, r.exception = &accepted.Accepted, accepted.Exception
	} else {
		r.asApplied = appliedFingerprint(out)
	}
	if inSync && (!existed || changed(live, out)) {
		// The apply response is what was applied: judge the object as it
		// was against it, to say what was corrected and who changed it.
		res, err := drift.Judge(out, live, fleetv1alpha1.FieldManager)
		if err != nil {
			res = drift.Result{Deleted: live == nil}
		}
		a.countCorrection(ctx, d.ref, res)
		r.corrected = &res
	}
	return r
}

// setDrift records a judged drift divided by the exceptions: the unexplained
// part as drift, the accepted part as accepted.
func (r *resourceResult) setDrift(s drift.Split) {
	r.drift, r.accepted, r.exception = nil, nil, ""
	if s.Unexplained.Drifted() {
		r.drift = &s.Unexplained
	}
	if s.Accepted.Drifted() {
		r.accepted, r.exception = &s.Accepted, s.Exception
	}
}

// resourceOf is the identity exceptions match an object by.
func resourceOf(ref objectRef) drift.Resource {
	return drift.Resource{Group: ref.Group, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
}

// matchingExceptions returns the exceptions in force at now whose resource
// selectors match ref.
func matchingExceptions(excs []fleetv1alpha1.WorkDriftException, ref objectRef, now time.Time) []fleetv1alpha1.WorkDriftException {
	var out []fleetv1alpha1.WorkDriftException
	r := resourceOf(ref)
	for _, e := range excs {
		if !drift.Active(e, now) {
			continue
		}
		for _, sel := range e.Resources {
			if drift.SelectorMatches(sel, r) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// skippedLive is the result for a live object that turns reconciliation off.
func skippedLive(ref objectRef, live *unstructured.Unstructured) resourceResult {
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultSkipped, health: health.Of(live), unmanaged: true,
		message: fleetv1alpha1.AnnotationReconcile + "=" + fleetv1alpha1.ReconcileDisabled + " on the live object"}
}

// judge compares a live object (nil: gone) with what applying d would
// store, by a dry run of the apply. It reports false when the member cannot
// dry-run or the judgement failed (logged): nothing is known then.
func (a *applier) judge(ctx context.Context, d *desiredObject, live *unstructured.Unstructured) (drift.Result, bool) {
	dr, ok := a.member.(dryRunner)
	if !ok {
		return drift.Result{}, false
	}
	log := logr.FromContextOrDiscard(ctx)
	applied, err := dr.dryRunApply(ctx, d.obj)
	if err != nil {
		log.V(1).Info("judging drift: dry-run apply failed", "resource", d.ref.String(), "error", errorMessage(err))
		return drift.Result{}, false
	}
	res, err := drift.Judge(applied, live, fleetv1alpha1.FieldManager)
	if err != nil {
		log.V(1).Info("judging drift", "resource", d.ref.String(), "error", err.Error())
		return drift.Result{}, false
	}
	return res, true
}

func (a *applier) countCorrection(ctx context.Context, ref objectRef, res drift.Result) {
	a.metrics.driftCorrections.Inc()
	logr.FromContextOrDiscard(ctx).Info("corrected drift", "resource", ref.String(),
		"fields", res.Fields, "by", res.By, "deleted", res.Deleted)
}

// check looks at the live objects of the last pass again: the health of
// each, and the drift of those applied. Under the Correct drift policy a
// drifted object is applied again; under Report it is left as it is and its
// drift recorded. It returns the corrections made. Drift is judged only on
// members that can dry-run an apply; elsewhere check judges health alone.
// Drift the Work's DriftExceptions accept at now is recorded as accepted and
// left alone under either policy; a correction of other fields leaves it too.
//
// check never creates an object nor touches one that is not the one the
// last pass applied (its UID): it reports reapply instead, and the caller
// applies the Work in full, which records what it creates and judges who
// owns what (apply).
func (a *applier) check(ctx context.Context, work *fleetv1alpha1.Work, results []resourceResult, now time.Time) (corrected []resourceResult, reapply bool) {
	_, canJudge := a.member.(dryRunner)
	var desired map[refKey]*desiredObject
	if canJudge {
		desired = a.desiredByRef(work)
	}
	for i := range results {
		r := &results[i]
		look := plan.CheckLook{Applied: appliedOf(r), Policy: work.Spec.DriftPolicy, CanJudge: canJudge}
		if plan.CheckObject(look) == plan.Leave {
			continue // neither applied nor skipped: nothing on the member to look at
		}
		r.corrected = nil
		if plan.MaySkipRead(look.Applied) && a.unchangedSinceRead(r) {
			continue // healthy and as applied when read, and not changed since
		}
		r.cause = nil
		readAt := time.Now()
		live, err := a.member.get(ctx, r.ref)
		r.resourceVersion, r.readAt = "", time.Time{}
		if err == nil {
			r.resourceVersion, r.readAt = live.GetResourceVersion(), readAt
		}
		gone := apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
		if gone {
			live = nil
		}
		d := desired[r.ref.key()]
		look.Read, look.ReadFailed, look.Live, look.Desired = true, err != nil && !gone, liveOf(live), d != nil
		if live != nil {
			look.LiveFingerprint = appliedFingerprint(live)
		}
		step := plan.CheckObject(look)
		switch {
		case step == plan.Unknown:
			r.health = health.Result{Status: fleetv1alpha1.HealthUnknown, Message: "reading the live object: " + errorMessage(err)}
			continue
		case step == plan.Reapply:
			reapply = true
			continue
		case live == nil:
			r.health = health.Of(nil)
		default:
			r.health = health.Of(live)
			a.explain(ctx, r, live)
		}
		switch step {
		case plan.SkipLive:
			// No longer managed: no correction, no prune; its drift is
			// reported, as under the Report policy.
			*r = skippedLive(r.ref, live)
			if d == nil || !canJudge {
				continue
			}
			if res, ok := a.judge(ctx, d, live); ok {
				r.setDrift(drift.Accept(res, resourceOf(r.ref), work.Spec.DriftExceptions, now))
			}
			continue
		case plan.Leave:
			continue
		}
		r.asApplied = ""
		res, ok := a.judge(ctx, d, live)
		if !ok {
			continue
		}
		split := drift.Accept(res, resourceOf(r.ref), work.Spec.DriftExceptions, now)
		r.setDrift(split)
		if r.drift == nil && r.accepted == nil && live != nil {
			r.asApplied = appliedFingerprint(live)
		}
		look.Judged, look.Drift = true, r.drift != nil
		switch plan.CheckObject(look) {
		case plan.Reapply:
			reapply = true
			continue
		case plan.Leave:
			continue
		}
		res = split.Unexplained
		r.drift = nil
		out, err := a.member.apply(ctx, drift.Strip(d.obj, split.Accepted))
		if err != nil {
			a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultFailed)).Inc()
			r.drift = &res
			r.message = truncate("correcting drift: " + errorMessage(err))
			continue
		}
		a.metrics.applies.WithLabelValues(resultLabel(fleetv1alpha1.ApplyResultApplied)).Inc()
		a.countCorrection(ctx, r.ref, res)
		r.health = health.Of(out)
		r.resourceVersion = out.GetResourceVersion()
		if r.accepted == nil {
			r.asApplied = appliedFingerprint(out)
		}
		if r.cause != nil {
			r.health = withCause(r.health, *r.cause)
		}
		r.corrected = &res
		if strings.HasPrefix(r.message, "correcting drift: ") {
			r.message = ""
		}
		corrected = append(corrected, *r)
	}
	return corrected, reapply
}

// unchangedSinceRead reports whether the drift watch has seen no other
// version of an object since it was last read (plan.MaySkipRead says
// whether that lets check skip reading it).
func (a *applier) unchangedSinceRead(r *resourceResult) bool {
	if a.watch == nil {
		return false
	}
	mw, ok := a.member.(metadataWatcher)
	if !ok {
		return false
	}
	gvr, err := mw.resourceOf(r.ref.gvk())
	if err != nil {
		return false
	}
	return a.watch.unchanged(gvr, r.ref.Namespace, r.ref.Name, r.resourceVersion, r.readAt)
}

// desiredByRef decodes a Work's valid manifests, as apply would apply them.
func (a *applier) desiredByRef(work *fleetv1alpha1.Work) map[refKey]*desiredObject {
	return a.manifestsByRef(work.Name, work.Spec.Manifests)
}

// manifestsByRef decodes a Work's manifests as desiredByRef does.
func (a *applier) manifestsByRef(workName string, manifests []fleetv1alpha1.Manifest) map[refKey]*desiredObject {
	objs := decodeManifests(workName, manifests)
	out := make(map[refKey]*desiredObject, len(objs))
	for i := range objs {
		d := &objs[i]
		if d.err != nil || a.normalize(d) != nil {
			continue
		}
		out[d.ref.key()] = d
	}
	return out
}

// appliedFingerprint identifies the agent's server-side apply entry in an
// object's managedFields (the fields it owns, as of when) and the object's
// content, status and bookkeeping metadata aside: "" when it has no such
// entry. An unchanged fingerprint means nobody changed the object but its
// status since. The entry alone does not say so: whoever may update the
// object may also write its managedFields back as they were after changing
// a value, and the API server keeps managedFields written in an update as
// they are.
func appliedFingerprint(u *unstructured.Unstructured) string {
	for _, e := range u.GetManagedFields() {
		if e.Manager != fleetv1alpha1.FieldManager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		h := sha256.New()
		h.Write([]byte(e.APIVersion))
		h.Write([]byte{0})
		if e.Time != nil {
			h.Write([]byte(e.Time.UTC().Format(time.RFC3339)))
		}
		h.Write([]byte{0})
		if e.FieldsV1 != nil {
			h.Write(e.FieldsV1.GetRawBytes())
		}
		h.Write([]byte{0})
		content, err := json.Marshal(contentOf(u))
		if err != nil {
			return "" // not known: judged again
		}
		h.Write(content)
		return string(u.GetUID()) + "/" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	return ""
}

// contentOf is an object's content, status and bookkeeping metadata
// (resourceVersion, managedFields, generation) aside: a view sharing u's
// maps but the top-level and metadata ones, to read, never to change.
func contentOf(u *unstructured.Unstructured) map[string]any {
	c := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		if k != "status" {
			c[k] = v
		}
	}
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		m := make(map[string]any, len(md))
		for k, v := range md {
			switch k {
			case "resourceVersion", "managedFields", "generation":
			default:
				m[k] = v
			}
		}
		c["metadata"] = m
	}
	return c
}

// changed reports whether an apply changed the live object: the result has
// a new resourceVersion and differs from what was read, status and
// bookkeeping metadata aside (a status write between the read and the apply
// also moves the resourceVersion, and changes nothing the agent applies).
func changed(live, out *unstructured.Unstructured) bool {
	if live.GetResourceVersion() == out.GetResourceVersion() {
		return false
	}
	return !equality.Semantic.DeepEqual(contentOf(live), contentOf(out))
}

// waitEstablished waits, bounded, until the applied CRDs are established,
// updating their health; those that are not yet stay InProgress.
func (a *applier) waitEstablished(ctx context.Context, crds []*desiredObject, results []resourceResult) {
	ctx, cancel := context.WithTimeout(ctx, crdEstablishTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		pending := 0
		for _, d := range crds {
			r := &results[d.index]
			if r.health.Status == fleetv1alpha1.HealthCurrent || r.health.Status == fleetv1alpha1.HealthFailed {
				continue
			}
			live, err := a.member.get(ctx, d.ref)
			if err != nil {
				pending++
				continue
			}
			r.health = health.Of(live)
			if r.health.Status != fleetv1alpha1.HealthCurrent && r.health.Status != fleetv1alpha1.HealthFailed {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// prune deletes the objects that left a Work (all of them when the Work is
// deleted), unless orphan is set. It only deletes objects the Work created
// or adopted (their live UID is the one the inventory recorded), that still
// carry this Work's label and do not opt out by annotation; a Namespace or
// CRD is kept when deleting it would take along objects the Work did not
// create. It returns a result per object and the refs to try again later.
func (a *applier) prune(ctx context.Context, workName string, refs []objectRef, orphan bool) ([]resourceResult, []objectRef) {
	var results []resourceResult
	var retry []objectRef
	label := fleetv1alpha1.WorkLabelValue(workName)
	for _, ref := range pruneOrder(refs) {
		r := a.pruneOne(ctx, workName, ref, label, orphan)
		if r.result == fleetv1alpha1.ApplyResultFailed {
			retry = append(retry, ref)
		}
		a.metrics.prunes.WithLabelValues(resultLabel(r.result)).Inc()
		results = append(results, r)
	}
	return results, retry
}

func (a *applier) pruneOne(ctx context.Context, workName string, ref objectRef, label string, orphan bool) resourceResult {
	look := plan.PruneLook{Orphan: orphan, RecordedUID: ref.UID, WorkLabel: label, Container: ref.isNamespace() || ref.isCRD()}
	for {
		step, msg := plan.PruneObject(look)
		switch step {
		case plan.Keep:
			return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultSkipped, message: msg}
		case plan.Gone:
			return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultPruned, message: msg}
		case plan.Read:
			live, err := a.member.get(ctx, ref)
			switch {
			case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
				live = nil
			case err != nil:
				return failed(ref, "reading the live object before pruning", err, false)
			}
			look.Read, look.Live = true, a.liveOf(workName, live)
		case plan.CheckForeign:
			const shown = 5
			others, err := a.member.foreign(ctx, ref, label, shown)
			if err != nil {
				return failed(ref, "checking what deleting it would take along", err, false)
			}
			look.ForeignChecked, look.Foreign = true, others
		default: // plan.Delete
			if err := a.member.delete(ctx, ref, ref.UID); err != nil {
				switch {
				case apierrors.IsNotFound(err):
					return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultPruned, message: "already gone"}
				case apierrors.IsConflict(err):
					// The UID precondition failed: someone recreated it meanwhile.
					return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultSkipped, message: "left in place: it was recreated by someone else"}
				}
				return failed(ref, "deleting", err, false)
			}
			return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultPruned}
		}
	}
}

// liveOf is what plan's decisions need of a live object met by Work work:
// liveOf's, and another Work whose inventory records it.
func (a *applier) liveOf(work string, u *unstructured.Unstructured) *plan.Live {
	l := liveOf(u)
	if l != nil {
		l.RecordedBy = a.owners.other(work, l.UID)
	}
	return l
}

// liveOf is what plan's decisions need of a live object; nil when it does
// not exist.
func liveOf(u *unstructured.Unstructured) *plan.Live {
	if u == nil {
		return nil
	}
	ann := u.GetAnnotations()
	var controller string
	if ref := metav1.GetControllerOfNoCopy(u); ref != nil {
		controller = ref.Kind + " " + ref.Name
	}
	return &plan.Live{
		UID: u.GetUID(), WorkLabel: u.GetLabels()[fleetv1alpha1.LabelWork], Controller: controller,
		ReconcileDisabled: ann[fleetv1alpha1.AnnotationReconcile] == fleetv1alpha1.ReconcileDisabled,
		PruneDisabled:     ann[fleetv1alpha1.AnnotationPrune] == fleetv1alpha1.PruneDisabled,
		Deleting:          u.GetDeletionTimestamp() != nil,
	}
}

// appliedOf is what a check decides on of an object's last result.
func appliedOf(r *resourceResult) plan.Applied {
	return plan.Applied{Result: r.result, UID: r.ref.UID,
		Healthy: r.health.Status == fleetv1alpha1.HealthCurrent && r.cause == nil,
		Drifted: r.drift != nil, Accepted: r.accepted != nil, Fingerprint: r.asApplied, Unmanaged: r.unmanaged}
}

// failed is a Failed result; doing says what the agent was doing, if the
// error does not say it already.
func failed(ref objectRef, doing string, err error, permanent bool) resourceResult {
	msg := errorMessage(err)
	if doing != "" {
		msg = doing + ": " + msg
	}
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultFailed, message: msg, permanent: permanent}
}

// permanentError: failures retrying will not fix without a new manifest.
func permanentError(err error) bool {
	return meta.IsNoMatchError(err) || errors.Is(err, errInvalidManifest) ||
		apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsMethodNotSupported(err) ||
		apierrors.IsUnsupportedMediaType(err) || apierrors.IsRequestEntityTooLargeError(err)
}

// crdKinds returns the kinds the Work's own CRDs define.
func crdKinds(objs []desiredObject) map[schema.GroupKind]bool {
	kinds := map[schema.GroupKind]bool{}
	for _, d := range objs {
		if d.err != nil || !d.ref.isCRD() {
			continue
		}
		group, _, _ := unstructured.NestedString(d.obj.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(d.obj.Object, "spec", "names", "kind")
		kinds[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	return kinds
}
