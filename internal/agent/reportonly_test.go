package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
// rendered hash: missing, unstamped and older objects wait for the GitOps
// tool; synced ones get their health; and nothing is written to the member.
func TestObserveWaitsForTheRenderedObject(t *testing.T) {
	a, f := newReportOnlyAgent()
	synced, stale, unstamped, missing := configMap("synced", "2"), configMap("stale", "2"), configMap("unstamped", "2"), configMap("missing", "2")
	unknownKind := map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}}
	work := unitWork("w", synced, stale, unstamped, missing, unknownKind)
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
