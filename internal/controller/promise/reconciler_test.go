package promise_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/charts"
	"github.com/flotilla-dev/flotilla/internal/controller/promise"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

func crdClient(t *testing.T) client.Client {
	t.Helper()
	s := kube.NewScheme()
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	c, err := client.New(hubCP.RESTConfig, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getPromise(e *pt.Env, name string) *fleetv1alpha1.Promise {
	e.TB.Helper()
	p := &fleetv1alpha1.Promise{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, p); err != nil {
		e.TB.Fatal(err)
	}
	return p
}

// updatePromise changes a Promise, retrying on conflicts.
func updatePromise(e *pt.Env, name string, change func(*fleetv1alpha1.Promise)) {
	e.TB.Helper()
	pt.Eventually(e.TB, 30*time.Second, "update promise "+name, func() (bool, string) {
		p := getPromise(e, name)
		change(p)
		if err := e.C.Update(e.Ctx, p); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// waitObserved waits until the Promise's status reflects its current generation.
func waitObserved(e *pt.Env, name string, check func(*fleetv1alpha1.Promise) bool) *fleetv1alpha1.Promise {
	e.TB.Helper()
	var p *fleetv1alpha1.Promise
	pt.Eventually(e.TB, time.Minute, "promise "+name+" status", func() (bool, string) {
		p = getPromise(e, name)
		return p.Status.ObservedGeneration == p.Generation && check(p), fmt.Sprintf("%+v", p.Status)
	})
	return p
}

func revisionsOf(e *pt.Env, promiseName string) map[string]fleetv1alpha1.PromiseRevision {
	e.TB.Helper()
	list := &fleetv1alpha1.PromiseRevisionList{}
	if err := e.C.List(e.Ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: promiseName}); err != nil {
		e.TB.Fatal(err)
	}
	out := map[string]fleetv1alpha1.PromiseRevision{}
	for _, r := range list.Items {
		if r.DeletionTimestamp.IsZero() {
			out[r.Name] = r
		}
	}
	return out
}

func setTemplate(extra string) func(*fleetv1alpha1.Promise) {
	return func(p *fleetv1alpha1.Promise) {
		p.Spec.Templates.GoTemplates[0].Template = pt.ConfigMapPromise("x", "x", "X").Spec.Templates.GoTemplates[0].Template + extra
	}
}

// The story: a Promise publishes an API; every change to what it renders
// makes a numbered, content-addressed revision, a policy change makes none,
// unused revisions beyond the history limit go but one a Work still uses
// stays, and going back to old content reuses its revision.
func TestRevisionsHistoryAndGarbageCollection(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	p := pt.ConfigMapPromise("rev-db", "revs.example.com", "RevDb")
	p.Spec.RevisionHistoryLimit = new(int32(1))
	e.Create(p)
	rev1 := e.PromiseReady("rev-db")

	hash, err := promise.ContentHash(&getPromise(e, "rev-db").Spec.PromiseContent)
	if err != nil {
		t.Fatal(err)
	}
	if want := fleetv1alpha1.PromiseRevisionName("rev-db", hash); rev1 != want {
		t.Errorf("latest revision %s, want %s", rev1, want)
	}
	r := revisionsOf(e, "rev-db")[rev1]
	if r.Spec.Revision != 1 || r.Spec.ContentHash != hash || r.Spec.Promise != "rev-db" || len(r.OwnerReferences) != 1 {
		t.Errorf("revision %+v %+v", r.Spec, r.OwnerReferences)
	}

	// The generated API: namespaced, status subresource, category, columns.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := crdClient(t).Get(e.Ctx, client.ObjectKey{Name: "revdbs.revs.example.com"}, crd); err != nil {
		t.Fatal(err)
	}
	if crd.Spec.Scope != apiextensionsv1.NamespaceScoped || !slices.Contains(crd.Spec.Names.Categories, "flotilla") ||
		crd.Spec.Versions[0].Subresources.Status == nil || crd.Labels[fleetv1alpha1.LabelPromise] != "rev-db" {
		t.Errorf("CRD %+v", crd.Spec)
	}
	pr := getPromise(e, "rev-db")
	if !meta.IsStatusConditionTrue(pr.Status.Conditions, fleetv1alpha1.ConditionAPIEstablished) ||
		!meta.IsStatusConditionTrue(pr.Status.Conditions, fleetv1alpha1.ConditionRendered) {
		t.Errorf("conditions %+v", pr.Status.Conditions)
	}

	// Policy is not content: no revision.
	updatePromise(e, "rev-db", func(p *fleetv1alpha1.Promise) {
		p.Spec.Placement = &fleetv1alpha1.ClusterSelector{Names: []string{"somewhere"}}
		p.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyReport
	})
	waitObserved(e, "rev-db", func(p *fleetv1alpha1.Promise) bool { return p.Status.LatestRevision == rev1 })
	if n := len(revisionsOf(e, "rev-db")); n != 1 {
		t.Errorf("%d revisions after a policy change, want 1", n)
	}

	// A Work still renders revision 1 on some cluster.
	e.Cluster("rev-c1", nil)
	e.Create(&fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: fleetv1alpha1.ClusterNamespace("rev-c1"),
			Labels: map[string]string{fleetv1alpha1.LabelRevision: rev1}},
		Spec: fleetv1alpha1.WorkSpec{Cluster: "rev-c1", Subject: fleetv1alpha1.WorkSubject{Promise: "rev-db",
			Instance: &fleetv1alpha1.InstanceReference{Namespace: "team", Name: "old"}}, Revision: rev1,
			Scope: &fleetv1alpha1.WorkScope{Namespaces: []string{"team"}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}}},
	})

	// Three content changes: revisions 2, 3, 4.
	var revs []string
	for i := 2; i <= 4; i++ {
		updatePromise(e, "rev-db", setTemplate(fmt.Sprintf("  change: %q\n", fmt.Sprint(i))))
		p := waitObserved(e, "rev-db", func(p *fleetv1alpha1.Promise) bool {
			return p.Status.LatestRevision != "" && !slices.Contains(append(revs, rev1), p.Status.LatestRevision)
		})
		revs = append(revs, p.Status.LatestRevision)
		if got := revisionsOf(e, "rev-db")[p.Status.LatestRevision].Spec.Revision; got != int64(i) {
			t.Errorf("change %d made revision number %d", i, got)
		}
	}
	// History limit 1: the latest (4), the newest unused (3), and 1, in use. 2 goes.
	pt.Eventually(t, time.Minute, "revision 2 collected", func() (bool, string) {
		have := revisionsOf(e, "rev-db")
		names := []string{}
		for n := range have {
			names = append(names, n)
		}
		slices.Sort(names)
		want := []string{rev1, revs[1], revs[2]}
		slices.Sort(want)
		return slices.Equal(names, want), fmt.Sprintf("revisions %v, want %v", names, want)
	})
	p = waitObserved(e, "rev-db", func(p *fleetv1alpha1.Promise) bool {
		return len(p.Status.Revisions) == 3 && p.Status.Revisions[2].Clusters == 1
	})
	if got := p.Status.Revisions; got[0].Name != revs[2] || got[0].Revision != 4 || got[2].Name != rev1 || got[2].Instances != 1 {
		t.Errorf("status.revisions %+v", got)
	}

	// Back to the original content: revision 1 is the latest again.
	updatePromise(e, "rev-db", setTemplate(""))
	waitObserved(e, "rev-db", func(p *fleetv1alpha1.Promise) bool { return p.Status.LatestRevision == rev1 })
}

// The story: a Promise whose template does not render its examples is
// Stalled with the error; no revision is made from it, so nothing rolls out,
// and the API stays as the last good content left it. Fixing it recovers.
func TestBrokenTemplateStallsWithoutARevision(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	e.Create(pt.ConfigMapPromise("broken-db", "broken.example.com", "BrokenDb"))
	rev1 := e.PromiseReady("broken-db")

	for name, template := range map[string]string{
		"syntax":      "  oops: {{ .spec.size \n",
		"missing key": "  oops: {{ .spec.nothing.here }}\n",
	} {
		updatePromise(e, "broken-db", setTemplate(template))
		p := waitObserved(e, "broken-db", func(p *fleetv1alpha1.Promise) bool {
			return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
		})
		stalled := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
		ready := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
		if stalled.Reason != fleetv1alpha1.ReasonRenderFailed || !strings.Contains(stalled.Message, "configmap.yaml") ||
			ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, rev1) {
			t.Errorf("%s: Stalled %+v Ready %+v", name, stalled, ready)
		}
		if p.Status.LatestRevision != rev1 || len(revisionsOf(e, "broken-db")) != 1 {
			t.Errorf("%s: latest %s, %d revisions: a broken template made a revision", name, p.Status.LatestRevision, len(revisionsOf(e, "broken-db")))
		}
		if !meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionAPIEstablished) {
			t.Errorf("%s: the API went away", name)
		}
	}
	updatePromise(e, "broken-db", setTemplate("  fixed: \"yes\"\n"))
	p := waitObserved(e, "broken-db", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionReady)
	})
	if p.Status.LatestRevision == rev1 || len(revisionsOf(e, "broken-db")) != 2 {
		t.Errorf("fixed: latest %s", p.Status.LatestRevision)
	}
}

// The story: deleting a Promise while instances exist is refused with a
// clear condition; once they are gone the Promise and its API go. With the
// force-delete annotation, the instances' Works and the instances go too.
func TestDeletionWaitsForInstancesUnlessForced(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const group = "deletion.example.com"
	e.Cluster("del-c1", map[string]string{"story": "deletion"})
	e.Fleet("del", map[string]string{"story": "deletion"}, "del-team")
	e.Namespace("del-team", nil)
	cc := crdClient(t)

	for _, force := range []bool{false, true} {
		name, kind := "del-soft", "SoftDb"
		if force {
			name, kind = "del-hard", "HardDb"
		}
		e.Create(pt.ConfigMapPromise(name, group, kind, "del"))
		e.PromiseReady(name)
		e.Create(pt.Instance(group, kind, "del-team", "orders", map[string]any{"size": "small"}))
		e.WaitWork(name, "del-team", "orders", "del-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

		// The admission policy refuses it once the hub has counted the
		// instance (TestDeletingAPromiseWithInstancesIsRefused); this is a
		// deletion it let through before.
		stopHub = deleteWhileTheHubIsDown(e, stopHub, name)
		p := waitObserved(e, name, func(p *fleetv1alpha1.Promise) bool {
			return meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady).Reason == fleetv1alpha1.ReasonInstancesPresent
		})
		msg := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady).Message
		if !strings.Contains(msg, "1 "+kind+" instances exist") || !strings.Contains(msg, fleetv1alpha1.AnnotationForceDelete) {
			t.Errorf("message %q", msg)
		}
		platformEvent(t, e, name, "del-team/orders")
		if e.Work(name, "del-team", "orders", "del-c1") == nil {
			t.Error("the instance's Work went while deletion was refused")
		}
		if force {
			pt.Eventually(t, 30*time.Second, "annotate", func() (bool, string) {
				p := getPromise(e, name)
				p.Annotations = map[string]string{fleetv1alpha1.AnnotationForceDelete: fleetv1alpha1.ForceDeleteValue}
				err := e.C.Update(e.Ctx, p)
				return err == nil, fmt.Sprint(err)
			})
		} else {
			if err := e.C.Delete(e.Ctx, pt.Instance(group, kind, "del-team", "orders", nil)); err != nil {
				t.Fatal(err)
			}
		}
		pt.Eventually(t, time.Minute, name+" deleted with its API and Works", func() (bool, string) {
			perr := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Promise{})
			cerr := cc.Get(e.Ctx, client.ObjectKey{Name: strings.ToLower(kind) + "s." + group}, &apiextensionsv1.CustomResourceDefinition{})
			w := e.Work(name, "del-team", "orders", "del-c1")
			return apierrors.IsNotFound(perr) && apierrors.IsNotFound(cerr) && w == nil,
				fmt.Sprintf("promise: %v, crd: %v, work left: %v", perr, cerr, w != nil)
		})
	}
}

// The story: a second Promise claiming a kind another serves, or a schema
// declaring the reserved spec.placement, is Stalled and installs nothing.
func TestAPIConflictAndReservedField(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	e.Create(pt.ConfigMapPromise("conflict-a", "conflict.example.com", "Thing"))
	e.PromiseReady("conflict-a")
	e.Create(pt.ConfigMapPromise("conflict-b", "conflict.example.com", "Thing"))
	p := waitObserved(e, "conflict-b", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	})
	c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	if c.Reason != fleetv1alpha1.ReasonAPIConflict || !strings.Contains(c.Message, "belongs to Promise conflict-a") || p.Status.LatestRevision != "" {
		t.Errorf("Stalled %+v, latest %q", c, p.Status.LatestRevision)
	}

	reserved := pt.ConfigMapPromise("reserved", "reserved.example.com", "Reserved")
	reserved.Spec.API.Schema = pt.Raw(map[string]any{"type": "object", "properties": map[string]any{"placement": map[string]any{"type": "string"}}})
	reserved.Spec.Examples = nil
	e.Create(reserved)
	p = waitObserved(e, "reserved", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	})
	if c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled); c.Reason != fleetv1alpha1.ReasonInvalidSpec ||
		!strings.Contains(c.Message, "placement is reserved") {
		t.Errorf("Stalled %+v", c)
	}
}

const chartValues = "greeting: hello\n"

var chartTemplates = map[string]string{"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
`}

// helmPromise is a Promise of kind Greeter in group, rendered by helm.
func helmPromise(name, group string, helm *fleetv1alpha1.HelmTemplate) *fleetv1alpha1.Promise {
	p := pt.ConfigMapPromise(name, group, "Greeter")
	p.Spec.API.Schema = pt.Raw(map[string]any{"type": "object", "properties": map[string]any{"greeting": map[string]any{"type": "string"}}})
	p.Spec.Templates = &fleetv1alpha1.Templates{Engine: fleetv1alpha1.TemplateEngineHelm, Helm: helm}
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "hi", Spec: pt.Raw(map[string]any{"greeting": "hi"})}}
	return p
}

// The story: a chart in a ConfigMap is copied into an immutable snapshot the
// revision names, so editing the ConfigMap makes a new revision rather than
// changing an old one; a
// chart from a repository is fetched once and referenced by exact version;
// a missing chart is a clear condition.
func TestHelmChartsFromConfigMapAndRepository(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	v1 := charttest.Package(t, "greeter", "0.1.0", chartValues, chartTemplates)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "greeter-chart", Namespace: fleetv1alpha1.PlatformNamespace},
		BinaryData: map[string][]byte{"chart.tgz": v1},
	}
	e.Create(cm)
	e.Create(helmPromise("helm-cm", "helmcm.example.com", &fleetv1alpha1.HelmTemplate{
		ConfigMapRef: &fleetv1alpha1.ConfigMapKeyReference{Name: "greeter-chart"},
	}))
	rev1 := e.PromiseReady("helm-cm")
	r := revisionsOf(e, "helm-cm")[rev1]
	if h := r.Spec.Content.Templates.Helm; h.ConfigMapRef == nil || h.ConfigMapRef.Name != charts.SnapshotName(v1) || h.Inline != "" {
		t.Errorf("the revision does not name the chart's snapshot: configMapRef=%v inline=%d bytes", h.ConfigMapRef, len(h.Inline))
	}
	snap := &corev1.ConfigMap{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: charts.SnapshotName(v1)}, snap); err != nil {
		t.Fatal(err)
	}
	if snap.Immutable == nil || !*snap.Immutable || string(snap.BinaryData[charts.SnapshotKey]) != string(v1) ||
		len(snap.OwnerReferences) != 1 || snap.OwnerReferences[0].Name != rev1 {
		t.Errorf("snapshot immutable=%v owners=%+v", snap.Immutable, snap.OwnerReferences)
	}
	v2 := charttest.Package(t, "greeter", "0.2.0", "greeting: bonjour\n", chartTemplates)
	cm.BinaryData["chart.tgz"] = v2
	if err := e.C.Update(e.Ctx, cm); err != nil {
		t.Fatal(err)
	}
	p := waitObserved(e, "helm-cm", func(p *fleetv1alpha1.Promise) bool {
		return p.Status.LatestRevision != rev1 && p.Status.LatestRevision != ""
	})
	if r := revisionsOf(e, "helm-cm")[p.Status.LatestRevision]; r.Spec.Content.Templates.Helm.ConfigMapRef.Name != charts.SnapshotName(v2) || r.Spec.Revision != 2 {
		t.Errorf("revision after the ConfigMap changed: %d, chart %+v", r.Spec.Revision, r.Spec.Content.Templates.Helm.ConfigMapRef)
	}

	repo := charttest.Serve(t)
	repo.Add("greeter", "0.1.0", v1)
	e.Create(helmPromise("helm-repo", "helmrepo.example.com", &fleetv1alpha1.HelmTemplate{
		Repository: &fleetv1alpha1.HelmRepository{URL: repo.URL, Chart: "greeter", Version: "0.1.0"},
		Values:     &runtime.RawExtension{Raw: []byte(`{"greeting":"hey"}`)},
	}))
	rev := e.PromiseReady("helm-repo")
	if h := revisionsOf(e, "helm-repo")[rev].Spec.Content.Templates.Helm; h.Repository == nil || h.Inline != "" {
		t.Errorf("a repository chart should stay a reference: %+v", h)
	}
	if n := repo.Gets("greeter", "0.1.0"); n != 1 {
		t.Errorf("the chart was downloaded %d times, want once (cached)", n)
	}

	e.Create(helmPromise("helm-missing", "helmmissing.example.com", &fleetv1alpha1.HelmTemplate{
		ConfigMapRef: &fleetv1alpha1.ConfigMapKeyReference{Name: "no-such-chart"},
	}))
	p = waitObserved(e, "helm-missing", func(p *fleetv1alpha1.Promise) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
	})
	if c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled); c.Reason != fleetv1alpha1.ReasonChartNotFound ||
		!strings.Contains(c.Message, "no-such-chart") {
		t.Errorf("Stalled %+v", c)
	}
}
