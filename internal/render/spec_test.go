package render

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A revision's templates render only specs its schema accepts: an instance
// stored before the Promise tightened its schema (or an older instance
// revision of it) is refused, not rendered with what the schema forbids.
func TestRenderRefusesASpecTheRevisionsSchemaRefuses(t *testing.T) {
	c := goPromise("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\ndata:\n  image: {{ .spec.image | quote }}\n")
	c.API.Schema = raw(`{"type":"object","required":["image","replicas"],"properties":{
		"image":{"type":"string","pattern":"^registry\\.example\\.com/"},
		"replicas":{"type":"integer","default":1,"maximum":3}},
		"x-kubernetes-validations":[{"rule":"!self.image.endsWith(':latest')","message":"pin the image"}]}`)
	cases := []struct {
		name string
		spec map[string]any
		want string // "" renders
	}{
		{"accepted", map[string]any{"image": "registry.example.com/web:1", "replicas": int64(2)}, ""},
		{"a defaulted field may be missing", map[string]any{"image": "registry.example.com/web:1"}, ""},
		{"a field the schema does not declare is no refusal", map[string]any{"image": "registry.example.com/web:1", "old": "x"}, ""},
		{"a pattern", map[string]any{"image": "evil.example/miner:1"}, `spec.image: Invalid value: "evil.example/miner:1"`},
		{"a bound", map[string]any{"image": "registry.example.com/web:1", "replicas": int64(30)}, "spec.replicas"},
		{"a rule", map[string]any{"image": "registry.example.com/web:latest"}, "pin the image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(Input{Promise: "app", Revision: "app-0123456789", Content: c, Instance: instance("team-a", "web", tc.spec), Cluster: SampleCluster()})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SpecError, got %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "app-0123456789") {
				t.Fatalf("error %q does not name %q and the revision", err, tc.want)
			}
		})
	}
}

// A schema is compiled once for all the renders that check specs against
// it; another schema gets its own validator.
func TestSpecValidatorsAreCompiledOncePerSchema(t *testing.T) {
	a := []byte(`{"type":"object","properties":{"image":{"type":"string","pattern":"^registry\\.example\\.com/"}}}`)
	b := []byte(`{"type":"object","properties":{"image":{"type":"string"}}}`)
	va, err := cachedSpecValidator(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := cachedSpecValidator(bytes.Clone(a))
	if err != nil {
		t.Fatal(err)
	}
	vb, err := cachedSpecValidator(b)
	if err != nil {
		t.Fatal(err)
	}
	if va != again || va == vb {
		t.Errorf("same schema: same validator %v; other schema: other validator %v", va == again, va != vb)
	}
	if _, err := cachedSpecValidator([]byte(`{"type":`)); err == nil {
		t.Error("a schema that does not parse was compiled")
	}
}
