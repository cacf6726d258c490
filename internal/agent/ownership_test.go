package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestInventoryUIDs(t *testing.T) {
	a := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	b := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "b"}
	inv := newInventory(a).withUID(a, "ua")
	if inv.uid(a) != "ua" {
		t.Fatalf("uid(a) = %q", inv.uid(a))
	}
	// Adding the desired refs again (without UIDs) keeps the recorded UID;
	// another version of the same object too.
	a2 := a
	a2.Version = "v2"
	inv = inv.union(a2, b)
	if inv.uid(a) != "ua" || inv.uid(b) != "" || len(inv) != 2 {
		t.Fatalf("union lost a UID: %v", inv)
	}
	// A UID in the newer ref wins; an empty withUID forgets the recorded one.
	if got := inv.union(objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a", UID: "ua2"}); got.uid(a) != "ua2" {
		t.Errorf("union with a new UID: %v", got)
	}
	if got := inv.withUID(a, ""); got.uid(a) != "" || len(got) != 2 {
		t.Errorf("withUID empty: %v", got)
	}
	if inv.equal(inv.withUID(b, "ub")) {
		t.Error("equal ignores UIDs: a recorded UID would never be saved")
	}
	if got := inv.forget(a); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("forget: %v", got)
	}
	// The prune set carries the recorded UIDs.
	if gone := inv.without(b); len(gone) != 1 || gone[0].UID != "ua" {
		t.Errorf("without: %v", gone)
	}
}

func TestLedgerSavesOnlyWhenNeeded(t *testing.T) {
	var saves []inventory
	a := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	l := &ledger{save: func(inv inventory) error { saves = append(saves, inv); return nil }}
	if err := l.add(a); err != nil || len(saves) != 1 {
		t.Fatalf("add: %v, %d saves", err, len(saves))
	}
	if err := l.add(a); err != nil || len(saves) != 1 {
		t.Fatalf("add of a known ref saved again: %d saves", len(saves))
	}
	l.setUID(a, "ua")
	if len(saves) != 1 {
		t.Fatal("setUID saved at once")
	}
	if err := l.flush(); err != nil || len(saves) != 2 || saves[1].uid(a) != "ua" {
		t.Fatalf("flush: %v %v", err, saves)
	}
	if err := l.flush(); err != nil || len(saves) != 2 {
		t.Fatal("flush without changes saved")
	}
}

// A store written before UIDs were recorded loads, with no UIDs.
func TestStoreLoadsInventoryWithoutUIDs(t *testing.T) {
	dir := t.TempDir()
	s, err := newStore(dir, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	old := `{"format":1,"work":{"metadata":{"name":"app"},"spec":{"cluster":"edge-1","subject":{"promise":"p"},"revision":"r"}},` +
		`"inventory":[{"version":"v1","kind":"ConfigMap","namespace":"ns","name":"a"}],"appliedHash":"h"}`
	if err := os.WriteFile(filepath.Join(s.dir, "app.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, bad, err := s.load()
	if err != nil || len(bad) != 0 {
		t.Fatalf("load: %v %v", err, bad)
	}
	inv := recs["app"].Inventory
	if len(inv) != 1 || inv[0].Name != "a" || inv[0].UID != "" {
		t.Fatalf("inventory %v", inv)
	}
	// Saved again, it carries the UIDs.
	recs["app"].Inventory = inv.withUID(inv[0], "ua")
	if err := s.save(recs["app"]); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, "app.json"))
	if err != nil || !strings.Contains(string(data), `"uid":"ua"`) {
		t.Fatalf("saved %s (%v)", data, err)
	}
}

// scopedWork is an instance's Work confined to namespace team-a (and
// team-a-cache) and the kinds ConfigMap and RoleBinding.
func scopedWork(name string, objs ...map[string]any) *fleetv1alpha1.Work {
	w := unitWork(name, objs...)
	w.Spec.Subject = fleetv1alpha1.WorkSubject{Promise: "p", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "db"}}
	w.Spec.Scope = &fleetv1alpha1.WorkScope{
		Namespaces: []string{"team-a", "team-a-cache"},
		Kinds:      []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}},
	}
	return w
}

func clusterRoleBindingObj(name string) map[string]any {
	return map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": map[string]any{"name": name},
		"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
		"subjects": []any{map[string]any{"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"}}}
}

func TestApplyRefusesWhatIsOutsideTheScope(t *testing.T) {
	a, m := newTestApplier()
	crbInNamespace := clusterRoleBindingObj("sneaky")
	crbInNamespace["metadata"].(map[string]any)["namespace"] = "team-a" // does not make it namespaced
	w := scopedWork("w",
		configMapObj("team-a", "ok", nil),
		configMapObj("kube-system", "coredns-custom", nil),
		clusterRoleBindingObj("pwn"),
		crbInNamespace,
		map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web", "namespace": "team-a"}},
		configMapObj("team-b", "db-root", nil),
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "nowhere"}}, // goes to default
		map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "x", "namespace": "team-a"}},
		configMapObj("team-a-cache", "ok2", nil),
	)
	var saved inventory
	pass := a.apply(context.Background(), w, nil, func(inv inventory) error { saved = inv; return nil }, nil, nil, time.Now())
	wantMsg := []string{
		"",
		"outside the Work's scope: namespace kube-system is neither",
		"outside the Work's scope: kind ClusterRoleBinding.rbac.authorization.k8s.io is not in the Promise's output.kinds",
		"outside the Work's scope: kind ClusterRoleBinding",
		"outside the Work's scope: kind Deployment.apps is not",
		"outside the Work's scope: namespace team-b",
		"outside the Work's scope: namespace default",
		"outside the Work's scope: kind Widget.example.com", // unknown on the member, and not allowed anyway
		"",
	}
	for i, want := range wantMsg {
		r := pass.resources[i]
		switch {
		case want == "" && r.result != fleetv1alpha1.ApplyResultApplied:
			t.Errorf("resources[%d] %s: %s %q, want Applied", i, r.ref, r.result, r.message)
		case want != "" && (r.result != fleetv1alpha1.ApplyResultRefused || !strings.HasPrefix(r.message, want) ||
			r.health.Status != fleetv1alpha1.HealthFailed || !r.permanent):
			t.Errorf("resources[%d] %s: %+v, want Refused %q", i, r.ref, r, want)
		}
	}
	if r := pass.resources[3]; r.ref.Namespace != "team-a" {
		t.Errorf("the stray namespace of a refused cluster-scoped object was dropped: %s", r.ref)
	}
	if r := pass.resources[6]; r.ref.Namespace != "default" {
		t.Errorf("a namespaced object without namespace is judged in %q, want default", r.ref.Namespace)
	}
	want := []string{"apply ConfigMap/team-a/ok", "apply ConfigMap/team-a-cache/ok2"}
	if !slices.Equal(m.calls, want) {
		t.Errorf("calls %v, want %v", m.calls, want)
	}
	if len(saved) != 2 || len(pass.inventory) != 2 {
		t.Errorf("refused objects in the inventory: saved %v, after %v", saved, pass.inventory)
	}
	if pass.complete() || pass.pruneDeferred {
		t.Errorf("complete %v, pruneDeferred %v: want incomplete, and prune not deferred (refusals are certain)", pass.complete(), pass.pruneDeferred)
	}
}

func TestApplyAllowsANamespaceObjectOfTheScope(t *testing.T) {
	a, m := newTestApplier()
	w := scopedWork("w", namespaceObj("team-a"), namespaceObj("team-b"), configMapObj("team-a", "ok", nil))
	w.Spec.Scope.Kinds = append(w.Spec.Scope.Kinds, fleetv1alpha1.OutputKind{Kind: "Namespace"})
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultApplied {
		t.Errorf("own namespace: %+v", r)
	}
	if r := pass.resources[1]; r.result != fleetv1alpha1.ApplyResultRefused {
		t.Errorf("another namespace: %+v", r)
	}
	if slices.Contains(m.calls, "apply Namespace/team-b") {
		t.Errorf("calls %v", m.calls)
	}
}

func TestApplyRefusesAnInstanceWorkWithoutScope(t *testing.T) {
	a, m := newTestApplier()
	w := scopedWork("w", configMapObj("team-a", "ok", nil), namespaceObj("team-a"))
	w.Spec.Scope = nil
	pass := a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
	for i, r := range pass.resources {
		if r.result != fleetv1alpha1.ApplyResultRefused || !strings.Contains(r.message, "no spec.scope") {
			t.Errorf("resources[%d] = %+v, want Refused for want of a scope", i, r)
		}
	}
	if len(m.calls) != 0 || len(pass.inventory) != 0 {
		t.Errorf("calls %v, inventory %v", m.calls, pass.inventory)
	}
	// A fleet-resource Work has no scope and no instance: anything goes.
	fleet := unitWork("fleet", clusterRoleBindingObj("platform"))
	if pass := a.apply(context.Background(), fleet, nil, noSave, nil, nil, time.Now()); !pass.complete() {
		t.Errorf("fleet resources: %+v", pass.resources)
	}
}

// A manifest cannot claim another Work's label: the agent sets its own.
func TestApplyOverwritesAWorkLabelInTheManifest(t *testing.T) {
	a, m := newTestApplier()
	spoof := configMapObj("ns1", "spoof", nil)
	spoof["metadata"].(map[string]any)["labels"] = map[string]any{fleetv1alpha1.LabelWork: "victim", fleetv1alpha1.LabelManagedBy: "someone"}
	pass := a.apply(context.Background(), unitWork("attacker", spoof), nil, noSave, nil, nil, time.Now())
	live, err := m.get(context.Background(), pass.resources[0].ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := live.GetLabels(); got[fleetv1alpha1.LabelWork] != "attacker" || got[fleetv1alpha1.LabelManagedBy] != fleetv1alpha1.ManagedByValue {
		t.Errorf("labels %v", got)
	}
}

func TestApplyLeavesExistingObjectsAloneAndRecordsWhatItCreates(t *testing.T) {
	ctx := context.Background()
	a, m := newTestApplier()
	m.put(toUnstructured(configMapObj("ns1", "preexisting", map[string]string{"k": "theirs"})))
	m.put(labelled(configMapObj("ns1", "others", nil), "other"))
	before := map[string]*unstructured.Unstructured{}
	for _, n := range []string{"preexisting", "others"} {
		before[n], _ = m.get(ctx, objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns1", Name: n})
	}
	w := unitWork("w", configMapObj("ns1", "new", nil),
		configMapObj("ns1", "preexisting", map[string]string{"k": "mine"}), configMapObj("ns1", "others", nil))
	var saved []inventory
	save := func(inv inventory) error { saved = append(saved, inv); return nil }
	pass := a.apply(ctx, w, nil, save, nil, nil, time.Now())

	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultApplied || r.ref.UID == "" {
		t.Errorf("new: %+v", r)
	}
	if r := pass.resources[1]; r.result != fleetv1alpha1.ApplyResultConflict || !strings.Contains(r.message, "not created by Flotilla: it existed before") {
		t.Errorf("preexisting: %+v", r)
	}
	if r := pass.resources[2]; r.result != fleetv1alpha1.ApplyResultConflict || !strings.Contains(r.message, "owned by Work other") {
		t.Errorf("others: %+v", r)
	}
	for n, b := range before {
		live, _ := m.get(ctx, refOf(b))
		if !equalJSON(live, b) {
			t.Errorf("%s changed: %v", n, live.Object)
		}
	}
	// Saved before creating (no UID yet), then with the created object's UID.
	created, _ := m.get(ctx, pass.resources[0].ref)
	if len(saved) < 2 || saved[0].uid(pass.resources[0].ref) != "" || saved[len(saved)-1].uid(pass.resources[0].ref) != created.GetUID() {
		t.Errorf("saves %v", saved)
	}
	if len(pass.inventory) != 1 || pass.inventory[0].Name != "new" || pass.inventory[0].UID != created.GetUID() {
		t.Errorf("inventory %v: want only the created object, with its UID", pass.inventory)
	}

	// Removed from the Work: the created one is pruned; the others were
	// never the Work's and stay.
	pass = a.apply(ctx, unitWork("w"), pass.inventory, save, nil, nil, time.Now())
	if len(pass.pruned) != 1 || pass.pruned[0].ref.Name != "new" || pass.pruned[0].result != fleetv1alpha1.ApplyResultPruned {
		t.Errorf("pruned %+v", pass.pruned)
	}
	for n, b := range before {
		if !m.has(refOf(b)) {
			t.Errorf("%s was deleted", n)
		}
	}
}

func TestApplyAdoptsOnlyUnownedObjectsIfAllowed(t *testing.T) {
	ctx := context.Background()
	a, m := newTestApplier()
	m.put(toUnstructured(configMapObj("ns1", "unowned", nil)))
	m.put(labelled(configMapObj("ns1", "others", nil), "other"))
	w := unitWork("w", configMapObj("ns1", "unowned", map[string]string{"k": "v"}), configMapObj("ns1", "others", nil))
	// Not allowed (the default, Never): the unowned object is left alone too.
	pass := a.apply(ctx, w, nil, noSave, nil, nil, time.Now())
	live, _ := m.get(ctx, pass.resources[0].ref)
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultConflict || live.GetLabels()[fleetv1alpha1.LabelWork] != "" || len(pass.inventory) != 0 {
		t.Errorf("unowned, adoption not allowed: %+v, live labels %v, inventory %v", r, live.GetLabels(), pass.inventory)
	}
	w.Spec.Adoption = fleetv1alpha1.AdoptionIfUnowned
	pass = a.apply(ctx, w, nil, noSave, nil, nil, time.Now())
	live, _ = m.get(ctx, pass.resources[0].ref)
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultApplied || !strings.Contains(r.message, "adopted") ||
		live.GetLabels()[fleetv1alpha1.LabelWork] != "w" || pass.inventory.uid(r.ref) != live.GetUID() {
		t.Errorf("unowned: %+v, live labels %v, inventory %v", r, live.GetLabels(), pass.inventory)
	}
	if r := pass.resources[1]; r.result != fleetv1alpha1.ApplyResultConflict {
		t.Errorf("others: %+v", r)
	}
	// Adopted, it is the Work's: applied again without a note, pruned when it leaves.
	pass = a.apply(ctx, w, pass.inventory, noSave, nil, nil, time.Now())
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultApplied || r.message != "" {
		t.Errorf("second pass: %+v", r)
	}
	pass = a.apply(ctx, unitWork("w"), pass.inventory, noSave, nil, nil, time.Now())
	if len(pass.pruned) != 1 || pass.pruned[0].result != fleetv1alpha1.ApplyResultPruned || m.has(pass.pruned[0].ref) {
		t.Errorf("pruned %+v", pass.pruned)
	}
}

// With its store lost, the agent knows its own objects by their label, records
// their UIDs, and can prune them again.
func TestApplyWithAnEmptyInventoryReclaimsItsLabelledObjects(t *testing.T) {
	ctx := context.Background()
	a, m := newTestApplier()
	w := unitWork("w", configMapObj("ns1", "a", nil), configMapObj("ns1", "b", nil))
	first := a.apply(ctx, w, nil, noSave, nil, nil, time.Now())
	m.calls = nil

	pass := a.apply(ctx, w, nil, noSave, nil, nil, time.Now()) // empty store
	if !pass.complete() || !first.inventory.equal(pass.inventory) {
		t.Fatalf("reclaim: %+v, inventory %v, want %v", pass.resources, pass.inventory, first.inventory)
	}
	pass = a.apply(ctx, unitWork("w", configMapObj("ns1", "a", nil)), pass.inventory, noSave, nil, nil, time.Now())
	if len(pass.pruned) != 1 || pass.pruned[0].ref.Name != "b" || pass.pruned[0].result != fleetv1alpha1.ApplyResultPruned {
		t.Errorf("pruned %+v", pass.pruned)
	}
}

// An object the Work created and someone deleted is created again; its old
// UID is forgotten (and saved) before, the new one recorded after.
func TestApplyRecreatesADeletedObjectWithANewUID(t *testing.T) {
	ctx := context.Background()
	a, m := newTestApplier()
	w := unitWork("w", configMapObj("ns1", "a", nil))
	pass := a.apply(ctx, w, nil, noSave, nil, nil, time.Now())
	ref := pass.resources[0].ref
	old := pass.inventory.uid(ref)
	if err := m.delete(ctx, ref, old); err != nil {
		t.Fatal(err)
	}
	var saved []inventory
	m.onApply = func(*unstructured.Unstructured) {
		if len(saved) == 0 || saved[len(saved)-1].uid(ref) != "" {
			t.Errorf("created again before the old UID was forgotten on disk: saves %v", saved)
		}
	}
	pass = a.apply(ctx, w, pass.inventory, func(inv inventory) error { saved = append(saved, inv); return nil }, nil, nil, time.Now())
	live, _ := m.get(ctx, ref)
	if uid := pass.inventory.uid(ref); uid == "" || uid == old || uid != live.GetUID() {
		t.Errorf("inventory UID %q, old %q, live %q", uid, old, live.GetUID())
	}
}

// check never recreates or touches a replaced object: it asks for a full apply.
func TestCheckLeavesCreationToTheFullApply(t *testing.T) {
	ctx := context.Background()
	a, m := newTestApplier()
	w := unitWork("w", configMapObj("ns1", "a", nil))
	pass := a.apply(ctx, w, nil, noSave, nil, nil, time.Now())
	if _, reapply := a.check(ctx, w, pass.resources, time.Now()); reapply {
		t.Error("reapply with nothing changed")
	}
	ref := pass.resources[0].ref
	if err := m.delete(ctx, ref, ref.UID); err != nil {
		t.Fatal(err)
	}
	m.put(toUnstructured(configMapObj("ns1", "a", map[string]string{"someone": "else"})))
	m.calls = nil
	if _, reapply := a.check(ctx, w, pass.resources, time.Now()); !reapply || len(m.calls) != 0 {
		t.Errorf("replaced object: reapply %v, calls %v", reapply, m.calls)
	}
	pass = a.apply(ctx, w, pass.inventory, noSave, nil, nil, time.Now())
	if r := pass.resources[0]; r.result != fleetv1alpha1.ApplyResultConflict {
		t.Errorf("replaced object after the full apply: %+v", r)
	}
}

func equalJSON(a, b *unstructured.Unstructured) bool {
	x, _ := json.Marshal(a.Object)
	y, _ := json.Marshal(b.Object)
	return string(x) == string(y)
}

// Two Works applied at once that list the same new object: one creates it,
// the other finds it and reports a conflict; never both.
func TestConcurrentWorksNeverBothClaimAnObject(t *testing.T) {
	for range 20 {
		a, m := newTestApplier()
		m.onApply = func(*unstructured.Unstructured) { time.Sleep(time.Millisecond) } // widen the window
		results := make(chan *applyPass, 2)
		for _, name := range []string{"w1", "w2"} {
			go func() {
				w := unitWork(name, configMapObj("ns1", "shared", nil))
				results <- a.apply(context.Background(), w, nil, noSave, nil, nil, time.Now())
			}()
		}
		p1, p2 := <-results, <-results
		r1, r2 := p1.resources[0].result, p2.resources[0].result
		oneEach := r1 == fleetv1alpha1.ApplyResultApplied && r2 == fleetv1alpha1.ApplyResultConflict ||
			r2 == fleetv1alpha1.ApplyResultApplied && r1 == fleetv1alpha1.ApplyResultConflict
		if !oneEach {
			t.Fatalf("results %s and %s, want one Applied and one Conflict", r1, r2)
		}
		if len(p1.inventory)+len(p2.inventory) != 1 {
			t.Fatalf("inventories %v and %v: want the object in one", p1.inventory, p2.inventory)
		}
	}
}

func TestRecordedOwners(t *testing.T) {
	a := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "a"}
	b := objectRef{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "b"}
	var o recordedOwners
	o.set("platform", newInventory(a, b).withUID(a, "ua"))
	if got := o.other("team", "ua"); got != "platform" {
		t.Errorf("other(team, ua) = %q", got)
	}
	if got := o.other("platform", "ua"); got != "" {
		t.Errorf("a Work is not another to itself: %q", got)
	}
	o.add("team", "ut")
	if got := o.other("platform", "ut"); got != "team" {
		t.Errorf("added: %q", got)
	}
	// A save replaces what the Work records; a Work gone records nothing.
	o.set("team", nil)
	o.set("platform", newInventory(a))
	if o.other("x", "ua") != "" || o.other("x", "ut") != "" || o.other("x", "") != "" {
		t.Errorf("stale records: %+v", o.byUID)
	}
}
