package instanceplan

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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

// A Work made from an encoding reuses its bytes by copy: decoding a write's
// response into the Work cannot change the encoding another plan reuses.
func TestDesiredWorkEncoded(t *testing.T) {
	out := render.Output{Manifests: []*unstructured.Unstructured{{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a", "namespace": "ns"},
	}}}}
	encoded, err := EncodeManifests(out)
	if err != nil {
		t.Fatal(err)
	}
	want := string(encoded[0])
	rd := Target{Cluster: "c1", Revision: "r1"}.RenderedAs(out, Confinement{})
	rd.Encoded = encoded
	w, err := DesiredWork(Subject{Promise: "p"}, rd, WorkInputs{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(w.Spec.Manifests[0].Raw); got != want {
		t.Fatalf("manifest %s, want %s", got, want)
	}
	if err := w.Spec.Manifests[0].UnmarshalJSON([]byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if string(encoded[0]) != want {
		t.Errorf("decoding into the Work changed the encoding: %s", encoded[0])
	}
	plain, err := DesiredWork(Subject{Promise: "p"}, Target{Cluster: "c1", Revision: "r1"}.RenderedAs(out, Confinement{}), WorkInputs{})
	if err != nil || string(plain.Spec.Manifests[0].Raw) != want {
		t.Errorf("without an encoding: %v, %s", err, plain.Spec.Manifests[0].Raw)
	}
}
