package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
)

func configMap(name, value string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": "default"}, "data": map[string]any{"v": value}}
}

// live is manifest m as a GitOps tool would have applied it, with the
// rendered-hash annotation hash ("" for none).
func live(m map[string]any, hash string) *unstructured.Unstructured {
	u := (&unstructured.Unstructured{Object: m}).DeepCopy()
	if hash != "" {
		u.SetAnnotations(map[string]string{stamp.Annotation: hash})
	}
	return u
}

func newReportOnlyAgent() (*agent, *fakeMember) {
	f := newFakeMember()
	m := readOnlyMember{f}
	return &agent{member: m, applier: &applier{member: m, metrics: newMetrics(nil)}}, f
}

// Each manifest is judged by whether its live object carries the Work's
// rendered hash and holds what the manifest sets: missing, unstamped and
// older objects, and one stamped with the Work's hash over other content,
// wait for the GitOps tool; synced ones get their health; and nothing is
// written to the member.
func TestObserveWaitsForTheRenderedObject(t *testing.T) {
	a, f := newReportOnlyAgent()
	synced, stale, unstamped, missing := configMap("synced", "2"), configMap("stale", "2"), configMap("unstamped", "2"), configMap("missing", "2")
	forged := configMap("forged", "2")
	unknownKind := map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}
	work := unitWork("w", synced, stale, unstamped, missing, unknownKind, forged)
	hash := func(i int) string {
		h, err := stamp.Hash(work.Spec.Manifests[i].Raw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	f.put(live(synced, hash(0)))
	f.put(live(configMap("stale", "1"), "0123456789abcdef"))
	f.put(live(unstamped, ""))
	f.put(live(configMap("forged", "1"), hash(5)))

	results := a.observe(context.Background(), work)
	want := []struct {
		result  fleetv1alpha1.ApplyResult
		health  fleetv1alpha1.HealthStatus
		message string
	}{
		{fleetv1alpha1.ApplyResultApplied, fleetv1alpha1.HealthCurrent, ""},
		{fleetv1alpha1.ApplyResultNotSynced, fleetv1alpha1.HealthInProgress, "the live object is rendering 0123456789abcdef, the Work's is " + hash(1)},
		{fleetv1alpha1.ApplyResultNotSynced, fleetv1alpha1.HealthInProgress, "not written from Flotilla's files"},
		{fleetv1alpha1.ApplyResultNotSynced, fleetv1alpha1.HealthInProgress, "not on the member yet"},
		{fleetv1alpha1.ApplyResultNotSynced, fleetv1alpha1.HealthInProgress, "does not serve its kind yet"},
		{fleetv1alpha1.ApplyResultNotSynced, fleetv1alpha1.HealthInProgress, "the live object carries rendered hash " + hash(5) + " but differs from that rendering at data.v"},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, w := range want {
		r := results[i]
		if r.result != w.result || r.health.Status != w.health || !strings.Contains(r.health.Message, w.message) {
			t.Errorf("%s: %s/%s %q, want %s/%s containing %q", r.ref, r.result, r.health.Status, r.health.Message, w.result, w.health, w.message)
		}
		if w.health == fleetv1alpha1.HealthInProgress && !strings.Contains(r.health.Message, "waiting for the GitOps tool to sync revision rev") {
			t.Errorf("%s: message %q does not say what it waits for", r.ref, r.health.Message)
		}
	}
	for _, c := range f.calls {
		if strings.HasPrefix(c, "apply") || strings.HasPrefix(c, "delete") {
			t.Errorf("the member saw a write: %s", c)
		}
	}
}

func TestReadOnlyMemberRefusesWrites(t *testing.T) {
	f := newFakeMember()
	m := readOnlyMember{f}
	ctx := context.Background()
	obj := live(configMap("a", "1"), "")
	if _, err := m.apply(ctx, obj); !errors.Is(err, errReportOnly) {
		t.Errorf("apply: %v", err)
	}
	f.put(obj)
	ref := refOf(obj)
	if err := m.delete(ctx, ref, ""); !errors.Is(err, errReportOnly) {
		t.Errorf("delete: %v", err)
	}
	if _, err := m.foreign(ctx, ref, "x", 1); !errors.Is(err, errReportOnly) {
		t.Errorf("foreign: %v", err)
	}
	if !f.has(ref) || len(f.calls) != 0 {
		t.Errorf("the member was touched: %v", f.calls)
	}
	if _, ok := any(m).(dryRunner); ok {
		t.Error("a read-only member offers dry-run applies")
	}
}

// The agent keeps what the publisher owns (observedGeneration, the applied
// revision, Applied) and sets Healthy and Ready: Ready only once the
// publisher committed this generation and every object is synced and Current.
func TestReportStatusKeepsThePublishersFields(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	applied := metav1.Condition{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied,
		Message: "committed to branch main at abc", ObservedGeneration: 2, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}
	prev := fleetv1alpha1.WorkStatus{ObservedGeneration: 2, AppliedRevision: "r2", Conditions: []metav1.Condition{applied}}
	ref := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "default", Name: "a"}
	rec := func(gen int64, h fleetv1alpha1.HealthStatus, result fleetv1alpha1.ApplyResult) *passRecord {
		r := resourceResult{ref: ref, result: result}
		r.health.Status, r.health.Message = h, "waiting for the GitOps tool to sync revision r2: not on the member yet"
		return &passRecord{generation: gen, revision: "r2", pass: &applyPass{resources: []resourceResult{r}}}
	}

	waiting := reportStatus(prev, rec(2, fleetv1alpha1.HealthInProgress, fleetv1alpha1.ApplyResultNotSynced), now)
	if waiting.ObservedGeneration != 2 || waiting.AppliedRevision != "r2" {
		t.Errorf("publisher's fields changed: %+v", waiting)
	}
	if c := meta.FindStatusCondition(waiting.Conditions, fleetv1alpha1.ConditionApplied); c == nil || *c != applied {
		t.Errorf("Applied = %+v, want it kept as %+v", c, applied)
	}
	h := meta.FindStatusCondition(waiting.Conditions, fleetv1alpha1.ConditionHealthy)
	if h == nil || h.Status != metav1.ConditionFalse || h.Reason != fleetv1alpha1.ReasonInProgress || h.ObservedGeneration != 2 ||
		!strings.Contains(h.Message, "waiting for the GitOps tool to sync revision r2") {
		t.Errorf("Healthy = %+v", h)
	}
	if !conditionIs(waiting, fleetv1alpha1.ConditionReady, metav1.ConditionFalse) || !conditionIs(waiting, fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue) {
		t.Errorf("conditions: %+v", waiting.Conditions)
	}
	if len(waiting.Resources) != 1 || waiting.Resources[0].Health != fleetv1alpha1.HealthInProgress || waiting.Resources[0].Message == "" {
		t.Errorf("resources: %+v", waiting.Resources)
	}

	healthy := reportStatus(waiting, rec(2, fleetv1alpha1.HealthCurrent, fleetv1alpha1.ApplyResultApplied), now)
	if !conditionIs(healthy, fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue) || !conditionIs(healthy, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) ||
		meta.FindStatusCondition(healthy.Conditions, fleetv1alpha1.ConditionReconciling) != nil {
		t.Errorf("conditions once synced: %+v", healthy.Conditions)
	}

	// Generation 3 is synced and healthy, but the publisher has not committed
	// it yet: Healthy for 3, not Ready.
	early := reportStatus(prev, rec(3, fleetv1alpha1.HealthCurrent, fleetv1alpha1.ApplyResultApplied), now)
	if !conditionIs(early, fleetv1alpha1.ConditionHealthy, metav1.ConditionTrue) || !conditionIs(early, fleetv1alpha1.ConditionReady, metav1.ConditionFalse) ||
		early.ObservedGeneration != 2 {
		t.Errorf("before the commit: %+v", early)
	}

	failed := reportStatus(prev, rec(2, fleetv1alpha1.HealthFailed, fleetv1alpha1.ApplyResultApplied), now)
	if c := meta.FindStatusCondition(failed.Conditions, fleetv1alpha1.ConditionHealthy); c == nil || c.Reason != fleetv1alpha1.ReasonUnhealthy ||
		!conditionIs(failed, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) {
		t.Errorf("failed: %+v", failed.Conditions)
	}
}

func conditionIs(st fleetv1alpha1.WorkStatus, typ string, status metav1.ConditionStatus) bool {
	c := meta.FindStatusCondition(st.Conditions, typ)
	return c != nil && c.Status == status
}

// What a GitOps tool's server-side apply leaves on a real API server is
// synced for the report-only agent, defaults, omitted zero values and
// canonical quantities included; an object changed after the apply, its
// rendered hash kept, is not, and the message names the field.
func TestAppliedManifestsReadSynced(t *testing.T) {
	e := newEnv(t)
	const ns = "report-content"
	if _, err := e.memberKube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manifests := map[string]string{
		"deployments": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"report-content","labels":{"app":"web"},"creationTimestamp":null},
		  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"strategy":{},
		    "template":{"metadata":{"labels":{"app":"web"},"creationTimestamp":null},"spec":{
		      "containers":[{"name":"app","image":"nginx:1.27","args":["--port","8080"],
		        "ports":[{"containerPort":8080}],"env":[{"name":"MODE","value":"prod"}],
		        "resources":{"limits":{"cpu":"0.5","memory":"1024Mi"},"requests":{"cpu":0.25}},
		        "volumeMounts":[{"name":"tmp","mountPath":"/tmp","readOnly":false}],
		        "readinessProbe":{"httpGet":{"path":"/","port":8080}}}],
		      "volumes":[{"name":"tmp","emptyDir":{}}],"hostNetwork":false,"automountServiceAccountToken":false}}},
		  "status":{}}`,
		"services": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"report-content"},
		  "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}`,
		"secrets":    `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web","namespace":"report-content"},"stringData":{"password":"s3cret"}}`,
		"configmaps": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"report-content","annotations":{}},"data":{"cpu":"0.5"}}`,
	}
	gvr := func(resource string) schema.GroupVersionResource {
		if resource == "deployments" {
			return schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: resource}
		}
		return schema.GroupVersionResource{Version: "v1", Resource: resource}
	}
	renderings := map[string]rendering{}
	for resource, m := range manifests {
		hash, err := stamp.Hash([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		stamped, err := stamp.Stamp([]byte(m))
		if err != nil {
			t.Fatal(err)
		}
		renderings[resource] = rendering{raw: []byte(m), hash: hash}
		if _, err := e.memberDynamic.Resource(gvr(resource)).Namespace(ns).Patch(e.ctx, "web", types.ApplyPatchType, stamped,
			metav1.PatchOptions{FieldManager: "gitops-test", Force: ptr.To(true)}); err != nil {
			t.Fatalf("applying %s: %v", resource, err)
		}
	}
	judge := func(resource string) resourceResult {
		live, err := e.memberDynamic.Resource(gvr(resource)).Namespace(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		notSynced := func(why string) resourceResult {
			return resourceResult{ref: refOf(live), result: fleetv1alpha1.ApplyResultNotSynced, message: why}
		}
		return judgeLive(refOf(live), live, renderings[resource], notSynced)
	}
	for resource := range manifests {
		if r := judge(resource); r.result != fleetv1alpha1.ApplyResultApplied {
			t.Errorf("%s as applied: %s %s", resource, r.result, r.message)
		}
	}

	// Someone changes what a manifest sets and keeps the rendered hash.
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}}}}`)
	if _, err := e.memberDynamic.Resource(gvr("deployments")).Namespace(ns).Patch(e.ctx, "web", types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: "team-edit"}); err != nil {
		t.Fatal(err)
	}
	if r := judge("deployments"); r.result != fleetv1alpha1.ApplyResultNotSynced ||
		!strings.HasSuffix(r.message, "differs from that rendering at spec.template.spec.containers[0].image") {
		t.Errorf("changed Deployment: %s %q", r.result, r.message)
	}
}
