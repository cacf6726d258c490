package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
	"github.com/flotilla-dev/flotilla/internal/health"
)

// Report-only mode is for git-delivered clusters: the hub commits the Works'
// manifests to git, a GitOps tool (Argo CD, Flux) applies them, and the agent
// only reports. It reads each manifest's live object, tells by the rendered
// hash the publisher stamped on the file (package stamp) whether the GitOps
// tool synced this rendering yet, and reports per-resource health and the
// Healthy and Ready conditions. The publisher owns observedGeneration, the
// applied revision and the Applied condition; the agent keeps them as they
// are, and both write with the resourceVersion (a conflict re-reads).

// errReportOnly is what a write to the member returns in report-only mode.
var errReportOnly = errors.New("the agent is in report-only mode and never writes to the member")

// readOnlyMember is the member of a report-only agent: reads go through,
// writes are refused before any request is made. It is not a dryRunner: a
// dry-run apply is a write request too, and drift is the GitOps tool's job.
type readOnlyMember struct{ m member }

var _ member = readOnlyMember{}

func (r readOnlyMember) namespaced(gvk schema.GroupVersionKind) (bool, error) {
	return r.m.namespaced(gvk)
}

func (r readOnlyMember) get(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	return r.m.get(ctx, ref)
}

func (r readOnlyMember) apply(context.Context, *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return nil, errReportOnly
}

func (r readOnlyMember) delete(context.Context, objectRef, types.UID) error { return errReportOnly }

func (r readOnlyMember) foreign(context.Context, objectRef, string, int) ([]string, error) {
	return nil, errReportOnly
}

func (r readOnlyMember) facts(ctx context.Context) (clusterFacts, error) { return r.m.facts(ctx) }

func (r readOnlyMember) resetKinds() { r.m.resetKinds() }

// listPods is a read: it goes through when the member can list Pods, so
// report-only agents report causes too.
func (r readOnlyMember) listPods(ctx context.Context, namespace, selector string, limit int64) ([]unstructured.Unstructured, error) {
	pl, ok := r.m.(podLister)
	if !ok {
		return nil, nil
	}
	return pl.listPods(ctx, namespace, selector, limit)
}

// reportSync looks at one Work's objects on the member, when due, and
// reports what it saw. It never prunes: a Work gone from the hub is
// forgotten, its objects are the GitOps tool's to delete.
func (a *agent) reportSync(ctx context.Context, name string) error {
	hubWork, onHub, err := a.hubWork(name)
	if err != nil {
		return err
	}
	if !onHub {
		a.setState(name, nil)
		return nil
	}
	if hubWork.DeletionTimestamp != nil {
		return nil // its files leave the repository; nothing to report
	}
	st := a.state(name)
	if st == nil {
		st = &workState{record: &workRecord{}}
		a.setState(name, st)
	}
	now := a.now()
	hash := specHash(hubWork)
	if hash != st.appliedHash {
		st.appliedHash, st.attempt, st.nextCheck = hash, 0, time.Time{}
	}
	if !now.Before(st.nextCheck) {
		results := a.observe(ctx, hubWork)
		st.last = &passRecord{generation: hubWork.Generation, revision: hubWork.Spec.Revision,
			instanceRevision: hubWork.Spec.InstanceRevision, at: now, pass: &applyPass{resources: results}}
		isSettled := settled(st.last.pass)
		if isSettled {
			st.attempt = 0
		}
		st.nextCheck = now.Add(recheckAfter(isSettled, st.attempt, a.opts.ResyncInterval, a.rand))
		if !isSettled {
			st.attempt++
		}
	}
	a.queue.AddAfter(name, st.nextCheck.Sub(now))

	prev := hubWork.Status
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion {
		prev = *st.written // the informer has not caught up with the last write
	}
	_, err = a.writeStatus(ctx, st, hubWork, reportStatus(prev, st.last, now))
	return err
}

// observe reads each manifest's live object and judges it: the rendered
// object's health once the live one carries the manifest's rendered hash,
// InProgress (waiting for the GitOps tool) before.
func (a *agent) observe(ctx context.Context, work *fleetv1alpha1.Work) []resourceResult {
	objs := decodeManifests(work.Name, work.Spec.Manifests)
	out := make([]resourceResult, len(objs))
	waiting := "waiting for the GitOps tool to sync revision " + work.Spec.Revision
	for i := range objs {
		d := &objs[i]
		notSynced := func(why string) resourceResult {
			return resourceResult{ref: d.ref, result: fleetv1alpha1.ApplyResultNotSynced,
				health: health.Result{Status: fleetv1alpha1.HealthInProgress, Message: truncate(waiting + ": " + why)}}
		}
		if d.err != nil {
			r := failed(d.ref, "", d.err, true)
			r.health = health.Result{Status: fleetv1alpha1.HealthFailed, Message: r.message}
			out[i] = r
			continue
		}
		want, err := stamp.Hash(work.Spec.Manifests[i].Raw)
		if err != nil {
			r := failed(d.ref, "hashing the manifest", err, true)
			r.health = health.Result{Status: fleetv1alpha1.HealthFailed, Message: r.message}
			out[i] = r
			continue
		}
		err = a.applier.normalize(d)
		if err == nil {
			var live *unstructured.Unstructured
			live, err = a.member.get(ctx, d.ref)
			if err == nil {
				out[i] = judgeLive(d.ref, live, want, notSynced)
				if out[i].result == fleetv1alpha1.ApplyResultApplied {
					a.applier.explain(ctx, &out[i], live)
				}
				continue
			}
		}
		switch {
		case apierrors.IsNotFound(err):
			out[i] = notSynced("not on the member yet")
		case meta.IsNoMatchError(err):
			out[i] = notSynced("the member does not serve its kind yet")
		default:
			out[i] = resourceResult{ref: d.ref, result: fleetv1alpha1.ApplyResultNotSynced,
				health: health.Result{Status: fleetv1alpha1.HealthUnknown, Message: truncate("reading the live object: " + errorMessage(err))}}
		}
	}
	return out
}

// judgeLive judges a live object against the manifest's rendered hash want.
func judgeLive(ref objectRef, live *unstructured.Unstructured, want string, notSynced func(string) resourceResult) resourceResult {
	switch got := stamp.Of(live.GetAnnotations()); {
	case got == "":
		return notSynced("the live object was not written from Flotilla's files (no " + stamp.Annotation + " annotation)")
	case got != want:
		return notSynced(fmt.Sprintf("the live object is rendering %s, the Work's is %s", got, want))
	}
	// Synced: the rendered object is what is on the member.
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
}

// reportStatus returns the Work status for what a report-only agent saw,
// starting from the status the hub holds (prev): the publisher's fields and
// conditions are kept; Healthy, Ready, Reconciling, Stalled and the
// resources are set. It is pure: now is passed in.
func reportStatus(prev fleetv1alpha1.WorkStatus, rec *passRecord, now time.Time) fleetv1alpha1.WorkStatus {
	st := *prev.DeepCopy()
	resources := rec.pass.resources
	st.Resources = make([]fleetv1alpha1.ResourceStatus, 0, min(len(resources), maxStatusResources))
	var summary health.Summary
	var firstUnhealthy, firstFailed *resourceResult
	for i := range resources {
		r := &resources[i]
		if len(st.Resources) < maxStatusResources {
			st.Resources = append(st.Resources, resourceStatus(*r))
		}
		summary.Add(r.health.Status)
		if r.health.Status == fleetv1alpha1.HealthFailed && (firstFailed == nil || firstFailed.cause == nil && r.cause != nil) {
			firstFailed = r // the first with a cause, else the first
		}
		if r.health.Status != fleetv1alpha1.HealthCurrent && (firstUnhealthy == nil || firstUnhealthy.cause == nil && r.cause != nil) {
			firstUnhealthy = r
		}
	}
	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, rec.generation, now).RefreshingMessages().Set

	healthOK := setHealthy(set, summary, firstFailed, firstUnhealthy)
	healthy := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionHealthy)

	// Ready: committed (the publisher's Applied, for this generation) and healthy.
	applied := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionApplied)
	committed := st.ObservedGeneration == rec.generation && applied != nil &&
		applied.Status == metav1.ConditionTrue && applied.ObservedGeneration == rec.generation
	switch {
	case !committed:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress,
			fmt.Sprintf("waiting for the hub to commit revision %s", rec.revision))
	case healthOK:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionTrue, fleetv1alpha1.ReasonSucceeded,
			fmt.Sprintf("revision %s committed, synced and healthy", rec.revision))
	default:
		set(fleetv1alpha1.ConditionReady, metav1.ConditionFalse, healthy.Reason, healthy.Message)
	}

	if summary.Failed > 0 {
		set(fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, healthy.Reason, healthy.Message)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionStalled)
	}
	if summary.InProgress > 0 || summary.Unknown > 0 {
		set(fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue, fleetv1alpha1.ReasonProgressing, healthy.Message)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, fleetv1alpha1.ConditionReconciling)
	}
	return st
}
