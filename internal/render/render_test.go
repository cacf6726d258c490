package render

import (
	"github.com/flotilla-dev/flotilla/internal/render/charttest"

	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// goPromise is a Promise content with the given Go templates (name, source pairs).
func goPromise(tpls ...string) *v1alpha1.PromiseContent {
	c := &v1alpha1.PromiseContent{
		API:       v1alpha1.PromiseAPI{Group: "platform.example.com", Kind: "Thing", Schema: raw(`{"type":"object"}`)},
		Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineGoTemplate},
	}
	for i := 0; i+1 < len(tpls); i += 2 {
		c.Templates.GoTemplates = append(c.Templates.GoTemplates, v1alpha1.GoTemplate{Name: tpls[i], Template: tpls[i+1]})
	}
	return c
}

func raw(j string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(j)} }

func instance(ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "platform.example.com/v1alpha1",
		"kind":       "Thing",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       spec,
	}}
}

func TestRenderExamples(t *testing.T) {
	for _, dir := range []string{"testdata/postgres", "testdata/helm-webapp"} {
		t.Run(dir, func(t *testing.T) {
			in := loadCase(t, dir)
			if len(in.Content.Examples) == 0 {
				t.Fatal("the case has no examples")
			}
			if err := RenderExamples(in.Content, in.Chart); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("schema defaults reach the example", func(t *testing.T) {
		c := goPromise("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\ndata:\n  v: {{ .spec.version | quote }}\n")
		c.API.Schema = raw(`{"type":"object","properties":{"version":{"type":"string","default":"16"}}}`)
		c.Examples = []v1alpha1.PromiseExample{{Name: "empty", Spec: raw(`{}`)}}
		if err := RenderExamples(c, nil); err != nil {
			t.Fatal(err)
		}
	})

	errorCases := []struct {
		name    string
		content *v1alpha1.PromiseContent
		want    []string
	}{{
		name: "failing examples are all named, with template and line",
		content: func() *v1alpha1.PromiseContent {
			c := goPromise("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\ndata:\n  size: {{ .spec.size }}\n")
			c.Examples = []v1alpha1.PromiseExample{
				{Name: "ok", Spec: raw(`{"size":"small"}`)},
				{Name: "no-size", Spec: raw(`{}`)},
				{Name: "typo", Spec: raw(`{"sise":"small"}`)},
			}
			return c
		}(),
		want: []string{`example "no-size": template: cm.yaml:6:16:`, `map has no entry for key "size"`, `example "typo"`},
	}, {
		name:    "a syntax error fails even without examples",
		content: goPromise("cm.yaml", "{{ if .spec.x }}"),
		want:    []string{"parsing templates: template: cm.yaml:1: unexpected EOF"},
	}, {
		name:    "an unknown function fails even without examples",
		content: goPromise("cm.yaml", "{{ toYAML . }}"),
		want:    []string{`template: cm.yaml:1: function "toYAML" not defined`},
	}, {
		name: "a fleet resource without kind",
		content: func() *v1alpha1.PromiseContent {
			c := goPromise("cm.yaml", "")
			c.FleetResources = []v1alpha1.Manifest{{RawExtension: raw(`{"apiVersion":"v1","metadata":{"name":"x"}}`)}}
			return c
		}(),
		want: []string{"fleet resources: fleetResources[0]: object v1 <no kind> \"x\" has no kind"},
	}, {
		name: "a Helm Promise without its chart",
		content: &v1alpha1.PromiseContent{
			Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineHelm, Helm: &v1alpha1.HelmTemplate{}},
		},
		want: []string{"helm chart not loaded"},
	}}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			err := RenderExamples(tc.content, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRenderBadInput(t *testing.T) {
	good := goPromise("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name }}\n")
	cases := []struct {
		name string
		in   Input
		want string
	}{
		{"no instance", Input{Promise: "p", Content: good}, "no instance (fleet resources render with RenderFleetResources)"},
		{"no content", Input{Promise: "p", Instance: instance("a", "b", nil)}, "no promise content"},
		{"instance without name", Input{Promise: "p", Content: good, Instance: instance("a", "", nil)}, "instance has no name"},
		{"spec not an object", Input{Promise: "p", Content: good, Instance: &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": "b", "namespace": "a"}, "spec": "x"}}}, "instance spec is not an object"},
		{"unknown engine", Input{Promise: "p", Instance: instance("a", "b", nil), Content: &v1alpha1.PromiseContent{
			Templates: &v1alpha1.Templates{Engine: "Jsonnet"}}}, `unknown template engine "Jsonnet"`},
		{"helm without chart", Input{Promise: "p", Instance: instance("a", "b", nil), Content: &v1alpha1.PromiseContent{
			Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineHelm, Helm: &v1alpha1.HelmTemplate{}}}}, "helm chart not loaded"},
		{"no templates", Input{Promise: "p", Instance: instance("a", "b", nil), Content: goPromise()}, "engine GoTemplate without goTemplates"},
		{"bad patch", Input{Promise: "p", Content: good, Instance: instance("a", "b", nil), Overrides: []v1alpha1.Override{
			override("o", v1alpha1.PatchJSONMerge, `[1]`)}}, "override flotilla-system/o: patch: not an object"},
		{"unknown patch type", Input{Promise: "p", Content: good, Instance: instance("a", "b", nil), Overrides: []v1alpha1.Override{
			override("o", "JSONPatch", `{}`)}}, `override flotilla-system/o: unknown patch type "JSONPatch"`},
		{"not a mapping", Input{Promise: "p", Instance: instance("a", "b", nil), Content: goPromise("x.yaml", "- a\n- b\n")},
			"template x.yaml: rendered document 1 (from output line 1): not an object"},
		{"label not a string", Input{Promise: "p", Instance: instance("a", "b", nil), Content: goPromise("x.yaml",
			"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    replicas: 3\n")},
			`metadata.labels["replicas"] is not a string (quote it)`},
		{"bad apiVersion", Input{Promise: "p", Instance: instance("a", "b", nil), Content: goPromise("x.yaml",
			"apiVersion: a/b/c\nkind: ConfigMap\nmetadata:\n  name: x\n")}, `apiVersion "a/b/c" is not group/version or version`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func override(name string, typ v1alpha1.PatchType, patch string) v1alpha1.Override {
	o := v1alpha1.Override{Spec: v1alpha1.OverrideSpec{Type: typ, Patch: raw(patch)}}
	o.Name, o.Namespace = name, v1alpha1.PlatformNamespace
	return o
}

func TestNamespacesAndLabels(t *testing.T) {
	long := strings.Repeat("a", 80)
	c := goPromise("x.yaml", `
apiVersion: v1
kind: ConfigMap
metadata:
  name: defaulted
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: explicit
  namespace: elsewhere
  labels:
    fleet.flotilla.dev/promise: spoofed
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-scoped
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: custom
`)
	out, err := Render(Input{Promise: "p", Revision: "p-0123456789", Content: c, Instance: instance("team-a", long, nil)})
	if err != nil {
		t.Fatal(err)
	}
	ns := map[string]string{}
	for _, m := range out.Manifests {
		ns[m.GetName()] = m.GetNamespace()
		l := m.GetLabels()
		if l[v1alpha1.LabelPromise] != "p" || l[v1alpha1.LabelRevision] != "p-0123456789" ||
			l[v1alpha1.LabelInstanceNamespace] != "team-a" || l[v1alpha1.LabelManagedBy] != "flotilla" {
			t.Errorf("%s has labels %v", m.GetName(), l)
		}
		if v := l[v1alpha1.LabelInstance]; len(v) > 63 || !strings.HasPrefix(v, "aaaa") {
			t.Errorf("%s: instance label %q is not a valid label value for a long name", m.GetName(), v)
		}
	}
	want := map[string]string{"defaulted": "team-a", "explicit": "elsewhere", "cluster-scoped": "", "custom": "team-a"}
	if !reflect.DeepEqual(ns, want) {
		t.Errorf("namespaces %v, want %v", ns, want)
	}
}

func TestRenderDoesNotChangeItsInput(t *testing.T) {
	in := loadCase(t, "testdata/override-values")
	inst := in.Instance.DeepCopy()
	content := in.Content.DeepCopy()
	overrides := make([]v1alpha1.Override, len(in.Overrides))
	for i := range in.Overrides {
		in.Overrides[i].DeepCopyInto(&overrides[i])
	}
	out, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	out.Manifests[0].Object["mutated"] = true
	if !reflect.DeepEqual(inst, in.Instance) || !reflect.DeepEqual(content, in.Content) || !reflect.DeepEqual(overrides, in.Overrides) {
		t.Fatal("Render changed its input")
	}
}

// TestHelmChartSharedByConcurrentRenders renders one LoadedChart from many
// goroutines (run with -race) and checks each result against a serial render.
func TestHelmChartSharedByConcurrentRenders(t *testing.T) {
	base := loadCase(t, "testdata/helm-webapp")
	inputs := make([]Input, 8)
	want := make([][]byte, len(inputs))
	for i := range inputs {
		in := base
		in.Instance = instance("team-b", fmt.Sprintf("app-%d", i), map[string]any{"replicaCount": int64(i + 1)})
		in.Overrides = []v1alpha1.Override{override("v", v1alpha1.PatchValues, fmt.Sprintf(`{"config":{"greeting":"hi %d"}}`, i))}
		inputs[i] = in
		b, err := renderCase(in)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = b
	}
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		for i := range inputs {
			wg.Go(func() {
				got, err := renderCase(inputs[i])
				if err != nil {
					t.Error(err)
					return
				}
				if string(got) != string(want[i]) {
					t.Errorf("render %d differs when concurrent", i)
				}
			})
		}
	}
	wg.Wait()
}

func TestLoadChartErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"empty", nil, "loading helm chart: empty archive"},
		{"not gzip", []byte("hello"), "loading helm chart:"},
		{"library chart", charttest.PackageFiles(t, "lib", map[string][]byte{
			"Chart.yaml": []byte("apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n"),
		}), "a library chart cannot be rendered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadChart(tc.archive)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	c := testChart(t, "webapp-0.1.0")
	if c.Name() != "webapp" || c.Version() != "0.1.0" {
		t.Errorf("chart %s %s", c.Name(), c.Version())
	}
}

func TestHelmKubeVersionConstraint(t *testing.T) {
	in := loadCase(t, "testdata/helm-webapp")
	in.Cluster.KubernetesVersion = "v1.27.3"
	_, err := Render(in)
	if err == nil || !strings.Contains(err.Error(), "chart webapp requires kubeVersion >=1.28.0-0, cluster runs v1.27.3") {
		t.Fatalf("error %v", err)
	}
}

func TestOutputIsJSONSerializable(t *testing.T) {
	for _, dir := range []string{"testdata/postgres", "testdata/helm-webapp"} {
		out, err := Render(loadCase(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Manifests {
			b, err := json.Marshal(m.Object)
			if err != nil {
				t.Fatal(err)
			}
			var back unstructured.Unstructured
			if err := back.UnmarshalJSON(b); err != nil {
				t.Fatalf("%s: %v", m.GetName(), err)
			}
		}
	}
}

// TestHelmSubchartCondition renders a chart whose subchart a value turns off,
// alternately on and off: processing dependencies must not change the shared
// chart for later renders.
func TestHelmSubchartCondition(t *testing.T) {
	cm := func(name string) []byte {
		return []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-" + name + "\ndata:\n  from: {{ .Values.from | quote }}\n")
	}
	archive := charttest.PackageFiles(t, "parent", map[string][]byte{
		"Chart.yaml": []byte(`apiVersion: v2
name: parent
version: 1.0.0
dependencies:
- name: child
  version: 0.1.0
  condition: child.enabled
`),
		"values.yaml":                      []byte("from: parent\nchild:\n  enabled: true\n  from: parent-for-child\n"),
		"templates/cm.yaml":                cm("parent"),
		"charts/child/Chart.yaml":          []byte("apiVersion: v2\nname: child\nversion: 0.1.0\n"),
		"charts/child/values.yaml":         []byte("from: child\n"),
		"charts/child/templates/cm.yaml":   cm("child"),
		"charts/child/templates/NOTES.txt": []byte("notes"),
	})
	chart, err := LoadChart(archive)
	if err != nil {
		t.Fatal(err)
	}
	content := &v1alpha1.PromiseContent{Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineHelm, Helm: &v1alpha1.HelmTemplate{}}}
	for i, enabled := range []bool{true, false, true, false, true} {
		spec := map[string]any{"child": map[string]any{"enabled": enabled}}
		out, err := Render(Input{Promise: "p", Content: content, Chart: chart, Instance: instance("ns", "rel", spec)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range out.Manifests {
			got = append(got, m.GetName()+"="+m.Object["data"].(map[string]any)["from"].(string))
		}
		want := []string{"rel-parent=parent"}
		if enabled {
			want = []string{"rel-child=parent-for-child", "rel-parent=parent"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("render %d (child enabled %v): %v, want %v", i, enabled, got, want)
		}
	}
}
