package render

import (
	"bytes"
	"encoding/json"
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
	f.Fuzz(func(t *testing.T, tpl, specJSON string) {
		// No skip for long loops: the render budget stops them (docs/templates.md).
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

// unquotedTemplates print an instance string unquoted in the places a value
// could make structure from: a block value, a flow sequence, a key, a
// double-quoted scalar of the template, a block scalar, an include.
var unquotedTemplates = []string{
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .spec.v }}\n  b: c\n",
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  args: [{{ .spec.v }}, b]\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  {{ .spec.v }}: b\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {a: \"{{ .spec.v }}\", b: 'x{{ .spec.v }}'}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: |\n{{ .spec.v | indent 4 }}\n  b: x\n",
	"{{ define \"h\" }}k: {{ .spec.v }}{{ end }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:{{ include \"h\" . | nindent 2 }}\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ toYaml .spec.v }}\n",
}

// FuzzValueMakesNoStructure renders templates that print an instance string
// unquoted: whatever the string, a render that succeeds has no more objects,
// keys or list items than the render of a benign value, and none panics.
//
//	go test ./internal/render -run '^$' -fuzz FuzzValueMakesNoStructure -fuzztime 1m
func FuzzValueMakesNoStructure(f *testing.F) {
	for _, seed := range []string{"16", "", "a\nb: c", "16\n---\nkind: X", "1, 2", "x\", y: \"z", "{a: b}", "*a", "&a x", "a\n  b: c",
		"- a", "a: b", "\u2028b: c", "\u0085b: c", "x'", "? a", "|\n  a", "a #b", "!!map {}"} {
		f.Add(seed)
	}
	benign := make([]int, len(unquotedTemplates))
	for i, tpl := range unquotedTemplates {
		out, err := renderOne(map[string]any{"v": "benign"}, "t.yaml", tpl)
		if err != nil {
			f.Fatalf("template %d: %v", i, err)
		}
		benign[i] = countStructure(out)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for i, tpl := range unquotedTemplates {
			out, err := renderOne(map[string]any{"v": v}, "t.yaml", tpl)
			if err != nil {
				continue
			}
			if n := countStructure(out); n > benign[i] {
				t.Fatalf("template %d with %q: %d objects, keys and items, the benign value %d", i, v, n, benign[i])
			}
		}
	})
}

// countStructure counts the objects, keys and list items of a render.
func countStructure(out Output) int {
	n := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				n++
				walk(e)
			}
		case []any:
			for _, e := range v {
				n++
				walk(e)
			}
		}
	}
	for _, m := range out.Manifests {
		n++
		walk(m.Object)
	}
	return n
}
