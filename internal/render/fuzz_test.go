package render

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FuzzRenderGoTemplate renders arbitrary templates over arbitrary specs: a
// render either fails with an error or yields complete objects, the same
// ones every time; it never panics.
//
//	go test ./internal/render -run '^$' -fuzz FuzzRenderGoTemplate -fuzztime 1m
func FuzzRenderGoTemplate(f *testing.F) {
	var p v1alpha1.Promise
	readYAML(f, "testdata/postgres/promise.yaml", &p)
	for _, gt := range p.Spec.Templates.GoTemplates {
		f.Add(gt.Template, `{"size":"large","version":"16","storage":"1Gi","databases":["a"],"backup":{"schedule":"x"}}`)
	}
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\ndata:\n  a: {{ toYaml .spec | nindent 4 }}\n",
		"{{ if .spec.size }}",
		"{{ .spec | toYAML }}",
		"{{ dig \"a\" \"b\" 1 .spec }}{{ include \"x\" . }}",
		"{{ define \"x\" }}{{ include \"x\" . }}{{ end }}{{ include \"x\" . }}",
		"---\n---\napiVersion: v1\nkind: A\nmetadata: {name: a, labels: {x: 1}}\n",
		"apiVersion: v1\nkind: A\nmetadata: [1]\n",
		"{{ range $k, $v := .spec }}{{ $k }}: {{ quote $v }}\n{{ end }}",
		"{{ indent -5 \"x\" }}{{ join 1 2 }}{{ required \"\" nil }}",
	} {
		f.Add(seed, `{"size":"small","n":1,"list":[1,"a",null],"m":{"k":{"k":true}}}`)
	}
	longLoop := regexp.MustCompile(`range[^}]*[0-9]{4}`)
	f.Fuzz(func(t *testing.T, tpl, specJSON string) {
		if longLoop.MatchString(tpl) {
			// Templates may loop for long (CPU is not bounded, see
			// docs/templates.md); skip what would only stall the fuzzer.
			t.Skip()
		}
		spec := map[string]any{}
		if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
			spec = map[string]any{}
		}
		in := Input{
			Promise:  "fuzz",
			Revision: "fuzz-0123456789",
			Content:  goPromise("t.yaml", tpl),
			Instance: instance("team-a", "orders", spec),
			Cluster:  SampleCluster(),
		}
		out, err := Render(in)
		if err != nil {
			return
		}
		for _, m := range out.Manifests {
			if m.GetKind() == "" || m.GetName() == "" || m.GetAPIVersion() == "" {
				t.Fatalf("incomplete object rendered: %v", m.Object)
			}
		}
		again, err := Render(in)
		if err != nil {
			t.Fatalf("second render failed: %v", err)
		}
		a, _ := formatOutput(out)
		b, _ := formatOutput(again)
		if !bytes.Equal(a, b) {
			t.Fatal("two renders differ")
		}
	})
}
