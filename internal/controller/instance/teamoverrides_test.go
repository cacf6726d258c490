package instance_test

import (
	"fmt"
	"slices"
	"strings"
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
// here no Rollout controller runs, so they stay); the old revision is frozen
// then with the Overrides it rendered, so that a team cannot keep clusters
// on it (not approving, or rolling back, that Rollout) and change them
// there at once. When no Override selects the instance any more, that is a
// change too: a new revision snapshotting none (the old one's name is taken
// by what it was frozen with), which the Works await.
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
	const bigger = `[{"name":"bigger","spec":{"clusterSelector":{},"type":"Values","patch":{"size":"large"}}}]`
	eventually(t, 30*time.Second, "the old revision frozen with the Override", func() (bool, string) {
		v, _ := annotation(legacy)
		return v == bigger, v
	})
	current := e.InstanceStatus(group, kind, team, "orders").InstanceRevision
	eventually(t, 30*time.Second, "the instance's revision with the Override", func() (bool, string) {
		current = e.InstanceStatus(group, kind, team, "orders").InstanceRevision
		return current != "" && current != legacy, current
	})
	if v, _ := annotation(current); v != bigger {
		t.Errorf("the new revision snapshots %s", v)
	}

	// No Override any more: a new revision, without it; the Work keeps the
	// old one, with the Override, until a Rollout admits it.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: team}}); err != nil {
		t.Fatal(err)
	}
	withOverride := current
	eventually(t, 30*time.Second, "the instance's revision without the Override", func() (bool, string) {
		current = e.InstanceStatus(group, kind, team, "orders").InstanceRevision
		return current != withOverride && current != legacy, current
	})
	if v, ok := annotation(current); !ok || v != "[]" {
		t.Errorf("the revision without the Override snapshots %q (set: %v), want []", v, ok)
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		w := work(func(w *fleetv1alpha1.Work) (bool, string) { return true, "" })
		if w.Spec.InstanceRevision != legacy || manifestData(t, w, "size") != "large" {
			t.Fatalf("the Work moved without a Rollout: revision %s, size %s", w.Spec.InstanceRevision, manifestData(t, w, "size"))
		}
	}
}

// Two instances of one team whose names are long enough that their
// revision names are cut to the same prefix, with the same spec, named the
// same revision: the second rendered the first one's stored labels, and
// the first's collection could delete a revision the second runs. A
// revision is an instance's only if the instance owns it.
func TestInstancesWithLongNamesDoNotShareARevision(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{NoRolloutController: true})
	const group, kind, team = "longnames.example.com", "LongDb", "longnames-team"
	e.Cluster("longnames-1", map[string]string{"story": "longnames"})
	e.Fleet("longnames", map[string]string{"story": "longnames"}, team)
	e.Namespace(team, nil)
	e.Create(configMapPromise("longnames-db", group, kind, "longnames"))
	e.PromiseReady("longnames-db")
	long := strings.Repeat("a", 245)
	revisions := map[string]string{}
	for _, name := range []string{long + "-one", long + "-two"} {
		e.Create(instance(group, kind, team, name, map[string]any{"size": "small"}))
		w := e.WaitWork("longnames-db", team, name, "longnames-1", func(w *fleetv1alpha1.Work) (bool, string) {
			return w.Spec.InstanceRevision != "", "no instance revision"
		})
		cr := &appsv1.ControllerRevision{}
		if err := e.C.Get(e.Ctx, types.NamespacedName{Namespace: team, Name: w.Spec.InstanceRevision}, cr); err != nil {
			t.Fatal(err)
		}
		if len(cr.OwnerReferences) != 1 || cr.OwnerReferences[0].Name != name {
			t.Errorf("instance ...%s renders revision %s, owned by %+v", name[len(name)-4:], cr.Name, cr.OwnerReferences)
		}
		revisions[name] = cr.Name
	}
	if revisions[long+"-one"] == revisions[long+"-two"] {
		t.Errorf("both instances render revision %s", revisions[long+"-one"])
	}
}
