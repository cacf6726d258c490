package instance_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story of an upgrade: instance revisions made by a hub that did not
// snapshot team Overrides (no fleet.flotilla.dev/team-overrides annotation)
// render with the team's Overrides as they are, as that hub did, so nothing
// changes on the members when the hub is upgraded. A team Override then
// makes a new revision that snapshots it (whose Rollout moves the Works;
// here no Rollout controller runs, so they stay). When no Override selects
// the instance any more, the old revision is the current one again: it is
// marked as snapshotting none, and renders none.
func TestInstanceRevisionsFromBeforeTeamOverrideSnapshots(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{NoRolloutController: true})
	const group, kind, team = "legacyovr.example.com", "LegacyDb", "legacyovr-team"
	e.Cluster("legacyovr-1", map[string]string{"story": "legacyovr"})
	e.Fleet("legacyovr", map[string]string{"story": "legacyovr"}, team)
	e.Namespace(team, nil)
	e.Create(configMapPromise("legacyovr-db", group, kind, "legacyovr"))
	e.PromiseReady("legacyovr-db")
	e.Create(instance(group, kind, team, "orders", map[string]any{"size": "small"}))
	work := func(check func(*fleetv1alpha1.Work) (bool, string)) *fleetv1alpha1.Work {
		t.Helper()
		return e.WaitWork("legacyovr-db", team, "orders", "legacyovr-1", check)
	}
	first := work(func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.InstanceRevision != "", "" })
	legacy := first.Spec.InstanceRevision
	annotation := func(name string) (string, bool) {
		t.Helper()
		cr := &appsv1.ControllerRevision{}
		if err := e.C.Get(e.Ctx, types.NamespacedName{Namespace: team, Name: name}, cr); err != nil {
			t.Fatal(err)
		}
		v, ok := cr.Annotations[fleetv1alpha1.AnnotationTeamOverrides]
		return v, ok
	}
	if v, ok := annotation(legacy); !ok || v != "[]" {
		t.Fatalf("a new revision snapshots team overrides %q (set: %v), want []", v, ok)
	}

	// The revision as an older hub made it; then the team adds an Override.
	stop()
	cr := &appsv1.ControllerRevision{}
	if err := e.C.Get(e.Ctx, types.NamespacedName{Namespace: team, Name: legacy}, cr); err != nil {
		t.Fatal(err)
	}
	if err := e.C.Patch(e.Ctx, cr, client.RawPatch(types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/metadata/annotations/fleet.flotilla.dev~1team-overrides"}]`))); err != nil {
		t.Fatal(err)
	}
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team},
		Spec: fleetv1alpha1.OverrideSpec{
			Type:  fleetv1alpha1.PatchValues,
			Patch: promisetest.Raw(map[string]any{"size": "large"}),
		},
	})
	startHub(t, hub.Options{NoRolloutController: true})
	work(func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == legacy && manifestData(t, w, "size") == "large" && slices.Equal(w.Spec.Overrides, []string{team + "/bigger"}),
			fmt.Sprintf("revision %s, overrides %v", w.Spec.InstanceRevision, w.Spec.Overrides)
	})
	if _, ok := annotation(legacy); ok {
		t.Error("the old revision was marked while an Override selects the instance")
	}
	current := e.InstanceStatus(group, kind, team, "orders").InstanceRevision
	eventually(t, 30*time.Second, "the instance's revision with the Override", func() (bool, string) {
		current = e.InstanceStatus(group, kind, team, "orders").InstanceRevision
		return current != "" && current != legacy, current
	})
	if v, _ := annotation(current); v != `[{"name":"bigger","spec":{"clusterSelector":{},"type":"Values","patch":{"size":"large"}}}]` {
		t.Errorf("the new revision snapshots %s", v)
	}

	// No Override any more: the old revision is current again, and marked.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team}}); err != nil {
		t.Fatal(err)
	}
	work(func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == legacy && manifestData(t, w, "size") == "small" && len(w.Spec.Overrides) == 0,
			fmt.Sprintf("revision %s, overrides %v", w.Spec.InstanceRevision, w.Spec.Overrides)
	})
	if v, ok := annotation(legacy); !ok || v != "[]" {
		t.Errorf("the old revision, current again, snapshots %q (set: %v), want []", v, ok)
	}
}
