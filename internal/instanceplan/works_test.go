package instanceplan

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
