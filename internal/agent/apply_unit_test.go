package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func unitWork(name string, objs ...map[string]any) *fleetv1alpha1.Work {
	w := &fleetv1alpha1.Work{}
	w.Name = name
	w.Spec.Revision = "rev"
	for _, o := range objs {
		raw, err := json.Marshal(o)
		if err != nil {
			panic(err)
		}
		m := fleetv1alpha1.Manifest{}
		m.Raw = raw
		w.Spec.Manifests = append(w.Spec.Manifests, m)
	}
	return w
}

func crdObj(group, kind, plural string) map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{"group": group, "scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural}},
	}
}

func newTestApplier() (*applier, *fakeMember) {
	m := newFakeMember()
	return &applier{member: m, metrics: newMetrics(nil)}, m
}

func noSave(inventory) error { return nil }

func TestApplyOrdersCRDsAndNamespacesFirst(t *testing.T) {
	a, m := newTestApplier()
	w := unitWork("w",
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w1"}},
		configMapObj("ns1", "cm", nil),
		namespaceObj("ns1"),
		crdObj("example.com", "Widget", "widgets"),
	)
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	want := []string{
		"apply CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
		"resetKinds",
		"apply Namespace/ns1",
		"apply Widget.example.com/default/w1", // no namespace written: default
		"apply ConfigMap/ns1/cm",
	}
	if !slices.Equal(m.calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(m.calls, "\n"), strings.Join(want, "\n"))
	}
	if !pass.complete() {
		t.Errorf("pass not complete: %+v", pass.resources)
	}
	if len(pass.inventory) != 4 {
		t.Errorf("inventory %v", pass.inventory)
	}
	// Results are in manifest order, with Flotilla's labels on what was applied.
	if pass.resources[0].ref.Kind != "Widget" || pass.resources[3].ref.Kind != "CustomResourceDefinition" {
		t.Errorf("results out of manifest order: %+v", pass.resources)
	}
	live, _ := m.get(context.Background(), pass.resources[1].ref)
	if live.GetLabels()[fleetv1alpha1.LabelWork] != "w" || live.GetLabels()[fleetv1alpha1.LabelManagedBy] != "flotilla" {
		t.Errorf("labels %v", live.GetLabels())
	}
}

func TestApplyRecordsInventoryBeforeCreating(t *testing.T) {
	a, m := newTestApplier()
	var saved inventory
	m.onApply = func(obj *unstructured.Unstructured) {
		for _, r := range saved {
			if r.key() == refOf(obj).key() {
				return
			}
		}
		t.Errorf("%s applied before it was in the saved inventory %v", refOf(obj), saved)
	}
	w := unitWork("w", namespaceObj("ns1"), configMapObj("ns1", "a", nil), configMapObj("ns1", "b", nil))
	a.apply(context.Background(), w, nil, func(inv inventory) error { saved = inv; return nil }, nil, nil, time.Now())
	if len(saved) != 3 {
		t.Errorf("saved inventory %v", saved)
	}
}

func TestApplyFailsWhenInventoryCannotBeSaved(t *testing.T) {
	a, m := newTestApplier()
	w := unitWork("w", configMapObj("ns1", "a", nil))
	pass := a.apply(context.Background(), w, nil, func(inventory) error { return errors.New("disk full") }, nil, nil, time.Now())
	if len(m.calls) != 0 {
		t.Errorf("applied without a saved inventory: %v", m.calls)
	}
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultFailed || !strings.Contains(r.message, "recording the inventory: disk full") || r.permanent {
		t.Errorf("result %+v", r)
	}
}

func TestApplyBadInputFailsAloneAndDefersPrune(t *testing.T) {
	a, m := newTestApplier()
	old := newInventory(objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns1", Name: "old"})
	m.put(labelled(configMapObj("ns1", "old", nil), "w"))
	w := unitWork("w",
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "x"}},
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"namespace": "ns1"}},
		configMapObj("ns1", "good", nil),
	)
	pass := a.apply(context.Background(), w, old, noSave, nil, nil, time.Now())
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultFailed || !r.permanent || !strings.Contains(r.message, "unknown kind") {
		t.Errorf("unknown kind: %+v", r)
	}
	if r := pass.resources[1]; r.result != fleetv1alpha1.ApplyResultFailed || !r.permanent || !strings.Contains(r.message, "metadata.name is required") {
		t.Errorf("missing name: %+v", r)
	}
	if r := pass.resources[2]; r.result != fleetv1alpha1.ApplyResultApplied {
		t.Errorf("good: %+v", r)
	}
	if !pass.pruneDeferred || len(pass.pruned) != 0 || !m.has(old[0]) {
		t.Errorf("pruned while the desired set was uncertain: %+v", pass)
	}
	if len(pass.inventory) != 2 {
		t.Errorf("inventory %v, want old and good", pass.inventory)
	}
}

func TestApplyRetriesKindOfItsOwnCRDAsTransient(t *testing.T) {
	a, m := newTestApplier()
	m.failApply["widgets.example.com"] = errors.New("etcd hiccup")
	w := unitWork("w", crdObj("example.com", "Widget", "widgets"),
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "x", "namespace": "a"}})
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	if r := pass.resources[1]; r.result != fleetv1alpha1.ApplyResultFailed || r.permanent {
		t.Errorf("widget whose CRD failed: %+v, want a transient failure", r)
	}
	if settled(pass) {
		t.Error("a pass with transient failures is settled")
	}
}

func TestApplySkipsWhatReconcileDisabledAndTakesNothingOver(t *testing.T) {
	a, m := newTestApplier()
	off := configMapObj("ns1", "off", nil)
	off["metadata"].(map[string]any)["annotations"] = map[string]any{fleetv1alpha1.AnnotationReconcile: "disabled"}
	liveOff := labelled(configMapObj("ns1", "live-off", nil), "w")
	liveOff.SetAnnotations(map[string]string{fleetv1alpha1.AnnotationReconcile: "disabled"})
	m.put(liveOff)
	m.put(labelled(configMapObj("ns1", "moved", nil), "other-work"))

	w := unitWork("w", off, configMapObj("ns1", "live-off", map[string]string{"new": "data"}), configMapObj("ns1", "moved", nil))
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	for i, want := range []string{"on the manifest", "on the live object"} {
		if r := pass.resources[i]; r.result != fleetv1alpha1.ApplyResultSkipped || !strings.Contains(r.message, want) {
			t.Errorf("resources[%d] = %+v, want Skipped %s", i, r, want)
		}
	}
	if slices.Contains(m.calls, "apply ConfigMap/ns1/off") || slices.Contains(m.calls, "apply ConfigMap/ns1/live-off") {
		t.Errorf("applied a reconcile-disabled object: %v", m.calls)
	}
	// Another Work's object is not taken over (it once was: "taken over from Work ...").
	if r := pass.resources[2]; r.result != fleetv1alpha1.ApplyResultConflict || r.message != "owned by Work other-work; left untouched" ||
		r.health.Status != fleetv1alpha1.HealthFailed || !r.permanent {
		t.Errorf("moved: %+v", r)
	}
	if slices.Contains(m.calls, "apply ConfigMap/ns1/moved") {
		t.Errorf("applied another Work's object: %v", m.calls)
	}
	if pass.complete() {
		t.Error("a pass with a conflict is complete")
	}
	if len(pass.inventory) != 2 || slices.ContainsFunc(pass.inventory, func(r objectRef) bool { return r.Name == "moved" }) {
		t.Errorf("inventory %v: want off and live-off (the Work's), not moved", pass.inventory)
	}
}

// toUnstructured converts a test object the way the API would: through JSON.
func toUnstructured(obj map[string]any) *unstructured.Unstructured {
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		panic(err)
	}
	return u
}

func labelled(obj map[string]any, work string) *unstructured.Unstructured {
	u := toUnstructured(obj)
	u.SetLabels(map[string]string{fleetv1alpha1.LabelWork: fleetv1alpha1.WorkLabelValue(work), fleetv1alpha1.LabelManagedBy: "flotilla"})
	return u
}

func TestPruneDeletesOnlyWhatTheWorkCreated(t *testing.T) {
	a, m := newTestApplier()
	ctx := context.Background()
	// recorded is the inventory entry of an object on the member: its UID
	// as the Work recorded it.
	recorded := func(ref objectRef) objectRef {
		live, err := m.get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		ref.UID = live.GetUID()
		return ref
	}
	cm := func(name string) objectRef {
		return objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns1", Name: name}
	}
	m.put(labelled(configMapObj("ns1", "ours", nil), "w"))
	m.put(toUnstructured(configMapObj("ns1", "unlabelled", nil)))
	m.put(labelled(configMapObj("ns1", "others", nil), "other"))
	optOut := labelled(configMapObj("ns1", "opt-out", nil), "w")
	optOut.SetAnnotations(map[string]string{fleetv1alpha1.AnnotationPrune: "disabled"})
	m.put(optOut)
	m.put(labelled(configMapObj("ns1", "stuck", nil), "w"))
	m.failDelete["stuck"] = errors.New("connection refused")
	m.put(labelled(namespaceObj("ns1"), "w"))
	m.foreignObjects["ns1"] = []string{"ConfigMap/unlabelled"}
	m.put(labelled(namespaceObj("ns2"), "w"))
	// Labelled as the Work's, but no UID recorded (a store from before UIDs,
	// or an object the agent never saw created): not provably the Work's.
	m.put(labelled(configMapObj("ns1", "no-uid", nil), "w"))
	// The Work created "replaced"; someone deleted it and created another.
	m.put(labelled(configMapObj("ns1", "replaced", nil), "w"))
	replaced := recorded(cm("replaced"))
	m.put(labelled(configMapObj("ns1", "replaced", nil), "w")) // a new UID

	refs := []objectRef{
		recorded(objectRef{Version: "v1", Kind: "Namespace", Name: "ns1"}), recorded(objectRef{Version: "v1", Kind: "Namespace", Name: "ns2"}),
		recorded(cm("ours")), recorded(cm("unlabelled")), recorded(cm("others")), recorded(cm("opt-out")), recorded(cm("stuck")),
		cm("missing"), cm("no-uid"), replaced,
	}
	results, retry := a.prune(ctx, "w", refs, false)
	got := map[string]resourceResult{}
	for _, r := range results {
		got[r.ref.Name] = r
	}
	want := map[string]struct {
		result  fleetv1alpha1.ApplyResult
		message string
	}{
		"ours":       {fleetv1alpha1.ApplyResultPruned, ""},
		"unlabelled": {fleetv1alpha1.ApplyResultSkipped, "no longer carries"},
		"others":     {fleetv1alpha1.ApplyResultSkipped, "now belongs to Work other"},
		"opt-out":    {fleetv1alpha1.ApplyResultSkipped, "prune=disabled"},
		"stuck":      {fleetv1alpha1.ApplyResultFailed, "deleting: connection refused"},
		"missing":    {fleetv1alpha1.ApplyResultPruned, "already gone"},
		"no-uid":     {fleetv1alpha1.ApplyResultSkipped, "no UID was recorded"},
		"replaced":   {fleetv1alpha1.ApplyResultSkipped, "not the object this Work created"},
		"ns1":        {fleetv1alpha1.ApplyResultSkipped, "objects this Work did not create or leaves in place: ConfigMap/unlabelled"},
		"ns2":        {fleetv1alpha1.ApplyResultPruned, ""},
	}
	for name, w := range want {
		r := got[name]
		if r.result != w.result || !strings.Contains(r.message, w.message) {
			t.Errorf("%s: %s %q, want %s %q", name, r.result, r.message, w.result, w.message)
		}
	}
	if len(retry) != 1 || retry[0].Name != "stuck" {
		t.Errorf("retry %v, want stuck only", retry)
	}
	// Namespaces are pruned after what is in them.
	if last := m.calls[len(m.calls)-1]; last != "delete Namespace/ns2" {
		t.Errorf("last call %q, want the namespace deleted last; calls %v", last, m.calls)
	}
	for _, name := range []string{"unlabelled", "others", "opt-out", "no-uid", "replaced"} {
		if !m.has(cm(name)) {
			t.Errorf("%s was deleted", name)
		}
	}
}

func TestPruneOrphanDeletesNothing(t *testing.T) {
	a, m := newTestApplier()
	m.put(labelled(configMapObj("ns1", "ours", nil), "w"))
	ref := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns1", Name: "ours"}
	results, retry := a.prune(context.Background(), "w", []objectRef{ref}, true)
	if len(results) != 1 || results[0].result != fleetv1alpha1.ApplyResultSkipped || len(retry) != 0 || !m.has(ref) {
		t.Errorf("orphan prune: %+v retry %v", results, retry)
	}
}

func TestApplyPrunesWhatLeftTheWork(t *testing.T) {
	a, m := newTestApplier()
	w := unitWork("w", configMapObj("ns1", "a", nil), configMapObj("ns1", "b", nil))
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	w2 := unitWork("w", configMapObj("ns1", "a", nil))
	pass = a.apply(context.Background(), w2, pass.inventory, noSave, nil, nil, time.Now())
	if len(pass.pruned) != 1 || pass.pruned[0].ref.Name != "b" || pass.pruned[0].result != fleetv1alpha1.ApplyResultPruned {
		t.Errorf("pruned %+v", pass.pruned)
	}
	if len(pass.inventory) != 1 || pass.inventory[0].Name != "a" {
		t.Errorf("inventory %v", pass.inventory)
	}
	if m.has(objectRef{Kind: "ConfigMap", Namespace: "ns1", Name: "b"}) {
		t.Error("b still on the member")
	}
}
