package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
	"github.com/flotilla-dev/flotilla/internal/health"
)

// Report-only mode is for git-delivered clusters: the hub commits the Works'
// manifests to git, a GitOps tool (Argo CD, Flux) applies them, and the agent
// only reports. It reads each manifest's live object, tells by the rendered
// hash the publisher stamped on the file (package stamp) and by the fields
// the manifest sets (drift.Compare) whether the GitOps tool synced this
// rendering yet, and reports per-resource health and the Healthy and Ready
// conditions. The publisher owns observedGeneration, the applied revision and
// the Applied condition; the agent keeps them as they are, and both write
// with the resourceVersion (a conflict re-reads).

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
	if hash != st.AppliedHash {
		st.AppliedHash, st.Attempt, st.NextCheck = hash, 0, time.Time{}
	}
	if !now.Before(st.NextCheck) {
		results := a.observe(ctx, hubWork)
		st.last = &passRecord{generation: hubWork.Generation, revision: hubWork.Spec.Revision,
			instanceRevision: hubWork.Spec.InstanceRevision, at: now, pass: &applyPass{resources: results}}
		isSettled := settled(st.last.pass)
		if isSettled {
			st.Attempt = 0
		}
		st.NextCheck = now.Add(recheckAfter(isSettled, st.Attempt, a.opts.ResyncInterval, a.rand))
		if !isSettled {
			st.Attempt++
		}
	}
	a.queue.AddAfter(name, st.NextCheck.Sub(now))

	prev := hubWork.Status
	if st.written != nil && st.writtenOverRV == hubWork.ResourceVersion {
		prev = *st.written // the informer has not caught up with the last write
	}
	_, err = a.writeStatus(ctx, st, hubWork, reportStatus(prev, st.last, now))
	return err
}

// observe reads each manifest's live object and judges it: the rendered
// object's health once the live one carries the manifest's rendered hash and
// holds what the manifest sets, InProgress (waiting for the GitOps tool)
// before.
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
				out[i] = judgeLive(d.ref, live, rendering{raw: work.Spec.Manifests[i].Raw, hash: want,
					substituted: stamp.Substituted(work.Spec.Subject.Instance != nil, d.obj.GetAnnotations())}, notSynced)
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

// rendering is what a Work renders for one object: the manifest, its
// rendered hash, and whether Flux may substitute variables in its file.
type rendering struct {
	raw         []byte
	hash        string
	substituted bool
}

// judgeLive judges a live object against the Work's rendering of it. The
// rendered hash tells at once a live object of another revision; one that
// carries the Work's hash must also hold what the manifest sets, for anyone
// who may update it can copy the annotation (drift.Compare).
func judgeLive(ref objectRef, live *unstructured.Unstructured, want rendering, notSynced func(string) resourceResult) resourceResult {
	switch got := stamp.Of(live.GetAnnotations()); {
	case got == "":
		return notSynced("the live object was not written from Flotilla's files (no " + stamp.Annotation + " annotation)")
	case got != want.hash:
		return notSynced(fmt.Sprintf("the live object is rendering %s, the Work's is %s", got, want.hash))
	}
	manifest := &unstructured.Unstructured{}
	// UnmarshalJSON reads integers as int64, as the live object has them; the
	// manifest decoded before, for the ref, carries the agent's labels too.
	if err := manifest.UnmarshalJSON(want.raw); err != nil {
		r := failed(ref, "decoding the manifest", err, true)
		r.health = health.Result{Status: fleetv1alpha1.HealthFailed, Message: r.message}
		return r
	}
	if diff := drift.Compare(drift.Stored(manifest.Object, storedKinds()), live.Object, want.substituted); diff.Drifted() {
		return notSynced(fmt.Sprintf("the live object carries rendered hash %s but differs from that rendering at %s",
			want.hash, differingFields(diff)))
	}
	// Synced: the rendered object is what is on the member.
	return resourceResult{ref: ref, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
}

// storedKinds is the scheme of the built-in kinds whose stored form the
// agent works out (drift.Stored) from their Go types. It is registered on
// first use, so that only report-only agents pay for it, and holds the
// groups that Promises render (docs/benchmarks.md: registering every group
// costs an idle agent megabytes).
var storedKinds = sync.OnceValue(func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme, rbacv1.AddToScheme} {
		// Registering known types in a new scheme does not fail; a kind
		// missing from it would only be compared as written.
		_ = add(s)
	}
	return s
})

// differingFields names the first field that differs and how many more do.
func differingFields(diff drift.Result) string {
	if diff.Count <= 1 {
		return diff.Fields[0]
	}
	return fmt.Sprintf("%s (and %d more fields)", diff.Fields[0], diff.Count-1)
}

// reportStatus returns the Work status for what a report-only agent saw
// (plan.ReportOnlyStatus).
func reportStatus(prev fleetv1alpha1.WorkStatus, rec *passRecord, now time.Time) fleetv1alpha1.WorkStatus {
	return plan.ReportOnlyStatus(prev, rec.report(), now)
}
