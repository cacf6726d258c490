package instance

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// A render is reused only when nothing it reads changed: each input moves
// the fingerprint.
func TestRenderFingerprint(t *testing.T) {
	base := func() (render.Input, string, string, string) {
		return render.Input{
			Promise:   "db",
			Revision:  "db-1",
			Cluster:   render.ClusterFacts{Name: "c1", Labels: map[string]string{"env": "prod", "tier": "a"}, KubernetesVersion: "v1.36.3"},
			Overrides: []fleetv1alpha1.Override{{ObjectMeta: metav1.ObjectMeta{UID: "u1", ResourceVersion: "7"}}},
		}, "kind-orders-1", "kind-orders-1", "42"
	}
	in, instRev, latest, rv := base()
	want := renderFingerprint(in, instRev, latest, rv)
	if again := renderFingerprint(in, instRev, latest, rv); again != want {
		t.Fatal("the same input gives two fingerprints")
	}
	for name, change := range map[string]func(*render.Input, *string, *string, *string){
		"revision":          func(in *render.Input, _, _, _ *string) { in.Revision = "db-2" },
		"instance revision": func(_ *render.Input, r, _, _ *string) { *r = "kind-orders-0" },
		"current spec":      func(_ *render.Input, _, l, _ *string) { *l = "kind-orders-2" },
		"instance object":   func(_ *render.Input, _, _, v *string) { *v = "43" },
		"cluster labels": func(in *render.Input, _, _, _ *string) {
			in.Cluster.Labels = map[string]string{"env": "prod", "tier": "b"}
		},
		"kubernetes version": func(in *render.Input, _, _, _ *string) { in.Cluster.KubernetesVersion = "v1.37.1" },
		"override edited":    func(in *render.Input, _, _, _ *string) { in.Overrides[0].ResourceVersion = "8" },
		"override added": func(in *render.Input, _, _, _ *string) {
			in.Overrides = append(in.Overrides, fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{UID: "u2", ResourceVersion: "1"}})
		},
		"override gone": func(in *render.Input, _, _, _ *string) { in.Overrides = nil },
	} {
		in, instRev, latest, rv := base()
		change(&in, &instRev, &latest, &rv)
		if renderFingerprint(in, instRev, latest, rv) == want {
			t.Errorf("a change of %s keeps the fingerprint", name)
		}
	}
}

// What a render reads of the instance moves instanceVersion; its status
// writes (resourceVersion) do not, or every agent's report would make each
// render new.
func TestInstanceVersion(t *testing.T) {
	base := func() *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Web",
			"spec": map[string]any{"image": "web:1"},
		}}
		u.SetUID("u1")
		u.SetGeneration(3)
		u.SetResourceVersion("10")
		u.SetLabels(map[string]string{"team": "a"})
		u.SetAnnotations(map[string]string{"note": "x"})
		return u
	}
	want := instanceVersion(base())
	same := base()
	same.SetResourceVersion("11")
	same.Object["status"] = map[string]any{"ready": true}
	if instanceVersion(same) != want {
		t.Error("a status write moves the instance's version")
	}
	for name, change := range map[string]func(*unstructured.Unstructured){
		"uid (recreated)": func(u *unstructured.Unstructured) { u.SetUID("u2") },
		"generation":      func(u *unstructured.Unstructured) { u.SetGeneration(4) },
		"labels":          func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"team": "b"}) },
		"annotations":     func(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{"note": "y"}) },
		"label to annotation": func(u *unstructured.Unstructured) {
			u.SetLabels(nil)
			u.SetAnnotations(map[string]string{"note": "x", "team": "a"})
		},
		"apiVersion": func(u *unstructured.Unstructured) { u.SetAPIVersion("example.com/v2") },
		"kind":       func(u *unstructured.Unstructured) { u.SetKind("Site") },
	} {
		u := base()
		change(u)
		if instanceVersion(u) == want {
			t.Errorf("a change of %s keeps the instance's version", name)
		}
	}
}
