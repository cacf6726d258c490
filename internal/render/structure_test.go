package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const cmHead = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\n"

// renderOne renders templates (name, source pairs) for an instance with spec.
func renderOne(spec map[string]any, tpls ...string) (Output, error) {
	return Render(Input{
		Promise:  "p",
		Revision: "p-0123456789",
		Content:  goPromise(tpls...),
		Instance: instance("team-a", "orders", spec),
		Cluster:  SampleCluster(),
	})
}

const injection = "16\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: pwn\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: Group, name: system:authenticated}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n  namespace: kube-system"

func TestValuesMakeNoStructureAllowed(t *testing.T) {
	cases := []struct {
		name string
		tpl  string
		spec map[string]any
		// check: a value of the first object, at a path of keys
		path []string
		want any
	}{
		{"quoted injection stays a value", cmHead + "data:\n  v: {{ .spec.version | quote }}\n",
			map[string]any{"version": injection}, []string{"data", "v"}, injection},
		{"unquoted simple value", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: pg\n    image: postgres:{{ .spec.version }}\n",
			map[string]any{"version": "16"}, []string{"spec", "containers"}, []any{map[string]any{"name": "pg", "image": "postgres:16"}}},
		{"toYaml nindent", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  resources:{{ toYaml .spec.resources | nindent 4 }}\n",
			map[string]any{"resources": map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi\n---\nkind: X"}}},
			[]string{"spec", "resources", "limits", "memory"}, "1Gi\n---\nkind: X"},
		{"include nindent", "{{- define \"labels\" -}}\napp: {{ .instance.metadata.name }}\nteam: {{ .spec.team | quote }}\n{{- end -}}\n" + cmHead + "  labels:{{ include \"labels\" . | nindent 4 }}\n",
			map[string]any{"team": "a\nb: c"}, []string{"metadata", "labels", "team"}, "a\nb: c"},
		{"block scalar with indent", cmHead + "data:\n  config: |\n{{ .spec.config | indent 4 }}\n",
			map[string]any{"config": "a = 1\n---\nkind: Secret\nmetadata: {name: x}"}, []string{"data", "config"}, "a = 1\n---\nkind: Secret\nmetadata: {name: x}\n"},
		{"range over a map", cmHead + "data:{{ range $k, $v := .spec.env }}\n  {{ $k }}: {{ $v | quote }}{{ end }}\n",
			map[string]any{"env": map[string]any{"A_B": "x\ny: z", "C.D": "2"}}, []string{"data", "C.D"}, "2"},
		{"numbers, bools and empty strings", cmHead + "data:\n  a: \"{{ .spec.n }}\"\n  b: \"{{ .spec.b }}\"\n  c: \"{{ .spec.e }}\"\n  d: {{ .spec.f }}x\n",
			map[string]any{"n": int64(3), "b": true, "e": "", "f": 1.5}, []string{"data", "d"}, "1.5x"},
		{"if on a value", cmHead + "data:\n{{- if eq .spec.size \"large\" }}\n  size: big\n{{- else }}\n  size: small\n{{- end }}\n",
			map[string]any{"size": "large"}, []string{"data", "size"}, "big"},
		{"toJson quoted", cmHead + "data:\n  spec: {{ toJson .spec | quote }}\n  raw: x{{ toJson .spec.l }}\n",
			map[string]any{"l": []any{"a\nb"}}, []string{"data", "spec"}, `{"l":["a\nb"]}`},
		{"value with spaces and a cron", cmHead + "data:\n  s: {{ .spec.s }}\n",
			map[string]any{"s": "0 3 * * *"}, []string{"data", "s"}, "0 3 * * *"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := renderOne(tc.spec, "t.yaml", tc.tpl)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Manifests) != 1 {
				t.Fatalf("%d objects", len(out.Manifests))
			}
			var v any = out.Manifests[0].Object
			for _, k := range tc.path {
				v = v.(map[string]any)[k]
			}
			if !equalJSON(v, tc.want) {
				t.Fatalf("got %#v, want %#v", v, tc.want)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestValuesMakeNoStructureRefused(t *testing.T) {
	cases := []struct {
		name, tpl string
		spec      map[string]any
		want      string
	}{
		{"document injection", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: pg\n    image: postgres:{{ .spec.version }}\n",
			map[string]any{"version": injection}, "the output has 3 YAML documents, 1 without"},
		{"key injection", cmHead + "data:\n  a: {{ .spec.a }}\n",
			map[string]any{"a": "a\n  extra: 1"}, "at data a value made YAML structure: the output has a mapping of 2 keys, without the values' special characters a mapping of 1 key"},
		{"flow sequence injection", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    args: [{{ .spec.a }}]\n",
			map[string]any{"a": "1, 2"}, "at spec.containers[0].args a value made YAML structure: the output has a sequence of 2 items"},
		{"out of a double-quoted scalar", cmHead + "data:\n  a: \"{{ .spec.a }}\"\n",
			map[string]any{"a": "x\"\n  b: \"y"}, "at data a value made YAML structure"},
		{"out of a flow mapping", cmHead + "data: {a: \"{{ .spec.a }}\"}\n",
			map[string]any{"a": `x", b: "y`}, "at data a value made YAML structure"},
		{"misindented toYaml", cmHead + "data:\n  script: |\n    {{ toYaml .spec.script }}\n",
			map[string]any{"script": "x: 1\nextra: 2"}, "at data a value made YAML structure: the output has a mapping of 3 keys"},
		{"misindented indent", cmHead + "data:\n  script: |\n{{ .spec.script | indent 2 }}\n",
			map[string]any{"script": "a: 1\nextra: 1"}, "valid YAML only thanks to special characters of a value"},
		{"a value makes a key", cmHead + "data:\n  {{ .spec.k }}: v\n",
			map[string]any{"k": "a: {b: c}\n  d"}, "value"},
		{"U+2028 as a line break", cmHead + "data:\n  a: {{ .spec.a }}\n",
			map[string]any{"a": "a\u2028b: c"}, "at the top a value made YAML structure"},
		{"U+0085 as a line break", cmHead + "data:\n  a: {{ .spec.a }}\n",
			map[string]any{"a": "a\u0085b: c"}, "at the top a value made YAML structure"},
		{"a flow mapping", cmHead + "data: {{ .spec.a }}\n",
			map[string]any{"a": "{x: y}"}, "at data a value made YAML structure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderOne(tc.spec, "t.yaml", tc.tpl)
			if !errors.Is(err, ErrValueCreatesStructure) {
				t.Fatalf("error %v, want ErrValueCreatesStructure", err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "template t.yaml") ||
				!strings.Contains(err.Error(), "| quote") {
				t.Fatalf("error %q does not contain %q, the template and the advice", err, tc.want)
			}
		})
	}
}

// Markers are not forgeable and an unmatched one is untrusted text.
func TestProbeMarkers(t *testing.T) {
	m := newMarkers()
	if m2 := newMarkers(); m2 == m {
		t.Fatal("two renders share markers")
	}
	got := m.unwrap("a:"+m.open+"b: c"+m.open+"d"+m.close+m.close+"e\n"+m.open+"f: g", neutralise)
	want := "ax" + "b: cd" + "ex" + neutralise(m.open) + "fxxg"
	if got != want {
		t.Fatalf("unwrap = %q, want %q", got, want)
	}
	if got := m.unwrap(m.close+"a", neutralise); got != neutralise(m.close)+"a" {
		t.Fatalf("stray close: %q", got)
	}
}

func TestRenderBounds(t *testing.T) {
	cases := []struct {
		name, tpl string
		spec      map[string]any
	}{
		{"range over a huge int", cmHead + "{{ range $i := 1000000000000 }}{{ end }}", nil},
		{"range over an instance integer", cmHead + "data:\n{{- range $i := .spec.n }}\n  k{{ $i }}: v{{ end }}\n", map[string]any{"n": int64(1) << 40}},
		{"string doubling", cmHead + "{{ $s := \"x\" }}{{ range $i := 64 }}{{ $s = printf \"%s%s\" $s $s }}{{ end }}", nil},
		{"exponential template recursion", doubling("{{ template \"t%d\" . }}") + cmHead + "# {{ template \"t40\" . }}", nil},
		{"exponential include recursion", doubling("{{ include \"t%d\" . }}") + cmHead + "# {{ include \"t40\" . }}", nil},
		{"wide printf", cmHead + "{{ printf \"%099999999d\" 1 }}", nil},
		{"printf width from an argument", cmHead + "{{ printf \"%*d\" 1000000000 1 }}", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := renderOne(tc.spec, "t.yaml", tc.tpl)
			took := time.Since(start)
			if !errors.Is(err, ErrBudgetExceeded) {
				t.Fatalf("error %v, want ErrBudgetExceeded", err)
			}
			if !strings.Contains(err.Error(), "template t.yaml") {
				t.Errorf("error %q does not name the template", err)
			}
			if took > boundedRender {
				t.Errorf("took %v", took)
			}
			t.Logf("%v: %v", took, err)
		})
	}
}

// doubling defines t0 (x) to t40, each calling the previous one twice with call.
func doubling(call string) string {
	var b strings.Builder
	b.WriteString(`{{ define "t0" }}x{{ end }}`)
	for i := 1; i <= 40; i++ {
		c := fmt.Sprintf(call, i-1)
		fmt.Fprintf(&b, `{{ define "t%d" }}%s%s{{ end }}`, i, c, c)
	}
	return b.String()
}

// A realistic template is far from the bounds.
func TestRenderBoundsLeaveRoom(t *testing.T) {
	in := loadCase(t, "testdata/postgres")
	root, err := parseGoTemplates(in.Content.Templates.GoTemplates)
	if err != nil {
		t.Fatal(err)
	}
	b := &budget{}
	root.Funcs(b.bounded(funcMap(root)))
	spec, _ := instanceSpec(in.Instance)
	for _, gt := range in.Content.Templates.GoTemplates {
		if strings.HasPrefix(gt.Name, "_") {
			continue
		}
		var w limitedBuilder
		if err := root.ExecuteTemplate(&w, gt.Name, templateData(in, spec)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("postgres: %d steps, %d function bytes", b.steps, b.bytes)
	if b.steps > maxSteps/100 || b.bytes > maxFuncBytes/100 {
		t.Fatalf("postgres takes %d steps and %d bytes", b.steps, b.bytes)
	}
	// A loop over 10,000 items calling a helper stays within the bounds.
	list := make([]any, 10000)
	for i := range list {
		list[i] = "item"
	}
	_, err = renderOne(map[string]any{"list": list},
		"_h.tpl", "{{ define \"item\" }}{{ . | quote }}{{ end }}",
		"t.yaml", cmHead+"data:\n{{- range $i, $v := .spec.list }}\n  k{{ $i }}: {{ include \"item\" $v }}{{ end }}\n")
	if err != nil {
		t.Fatal(err)
	}
}
