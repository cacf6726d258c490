package instanceplan

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"

	"github.com/flotilla-dev/flotilla/internal/drift"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// A render's manifest (json.Encoder: a trailing newline) and the same one
// read back from the API server (none) are the same without decoding
// either; documents that differ are not.
func TestSameJSON(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":"x"}` + "\n", `{"a":1,"b":"x"}`, true},
		{`{"a":1,"b":"x"}`, `{"b":"x","a":1}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}` + "\n", `{"a":1,"b":null}`, false},
		{`{"a":`, `{"a":`, true},
		{`{"a":`, `{"a":1}`, false},
	} {
		if got := sameJSON([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("sameJSON(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// A render is kept encoded, its manifests named for drift exceptions; a
// Work made from it copies the bytes: decoding a write's response into the
// Work cannot change the encoding another plan reuses.
func TestDesiredWorkFromEncodedOutput(t *testing.T) {
	out, err := Encode(render.Output{Manifests: []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "a", "namespace": "ns"},
	}}}, AppliedOverrides: []string{"team-a/o"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (drift.Resource{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "a"}); len(out.Objects) != 1 || out.Objects[0] != want {
		t.Errorf("objects %v, want %v", out.Objects, want)
	}
	want := string(out.Manifests[0])
	w, err := DesiredWork(Subject{Promise: "p"}, Target{Cluster: "c1", Revision: "r1"}.RenderedAs(out, Confinement{}), WorkInputs{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(w.Spec.Manifests[0].Raw); got != want {
		t.Fatalf("manifest %s, want %s", got, want)
	}
	if !slices.Equal(w.Spec.Overrides, []string{"team-a/o"}) {
		t.Errorf("overrides %v", w.Spec.Overrides)
	}
	if err := w.Spec.Manifests[0].UnmarshalJSON([]byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if string(out.Manifests[0]) != want {
		t.Errorf("decoding into the Work changed the encoding: %s", out.Manifests[0])
	}
}

// A Work that moves carries when, and which of its revisions moved (both
// for a new Work; the instance's only on an instance Work), so a Rollout
// can tell which change a failure follows.
func TestAdmission(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	stamp := now.Format(time.RFC3339)
	current := func(rev, inst string) *fleetv1alpha1.Work {
		return &fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Name: "w"}, Spec: fleetv1alpha1.WorkSpec{Revision: rev, InstanceRevision: inst}}
	}
	admitted := func(moved string) map[string]string {
		return map[string]string{fleetv1alpha1.AnnotationAdmittedAt: stamp, fleetv1alpha1.AnnotationMoved: moved}
	}
	for _, tc := range []struct {
		name   string
		target Target
		want   map[string]string
	}{
		{"a new instance Work", Target{Revision: "p-2", InstanceRevision: "site-a-1"}, admitted("revision,instanceRevision")},
		{"a new fleet Work", Target{Revision: "p-2"}, admitted("revision")},
		{"the Promise's revision moves", Target{Current: current("p-1", "site-a-1"), Revision: "p-2", InstanceRevision: "site-a-1"}, admitted("revision")},
		{"the instance revision moves", Target{Current: current("p-1", "site-a-1"), Revision: "p-1", InstanceRevision: "site-a-2"}, admitted("instanceRevision")},
		{"both move", Target{Current: current("p-1", "site-a-1"), Revision: "p-2", InstanceRevision: "site-a-2"}, admitted("revision,instanceRevision")},
		{"nothing moves", Target{Current: current("p-1", "site-a-1"), Revision: "p-1", InstanceRevision: "site-a-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.Cluster = "c1"
			s := Subject{Promise: "p"}
			if tc.target.InstanceRevision != "" {
				s.Instance = &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "a"}
			}
			w, err := DesiredWork(s, tc.target.RenderedAs(Output{}, Confinement{}), WorkInputs{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(w.Annotations, tc.want) {
				t.Errorf("annotations %v, want %v", w.Annotations, tc.want)
			}
		})
	}
}

// A render a Work cannot hold is refused when it is encoded, naming the
// bound, rather than written for the API server to refuse; one at the
// bounds is encoded.
func TestEncodeRefusesWhatAWorkCannotHold(t *testing.T) {
	configMaps := func(n, pad int) render.Output {
		var out render.Output
		for i := range n {
			out.Manifests = append(out.Manifests, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "c" + strconv.Itoa(i), "namespace": "a"},
				"data":     map[string]any{"pad": strings.Repeat("x", pad)},
			}})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		out  render.Output
		want string // "" for no error
	}{
		{"500 objects", configMaps(fleetv1alpha1.MaxWorkManifests, 0), ""},
		{"501 objects", configMaps(fleetv1alpha1.MaxWorkManifests+1, 0), "the render has 501 objects; a Work holds at most 500"},
		{"just under the bytes", configMaps(10, fleetv1alpha1.MaxWorkManifestBytes/10-200), ""},
		{"over the bytes", configMaps(10, fleetv1alpha1.MaxWorkManifestBytes/10), "ConfigMap c9 reaches it"},
	} {
		_, err := Encode(tc.out)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
