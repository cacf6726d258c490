package render

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

// pgChart prints .Values.version unquoted in an image, and quoted.
func pgChart(t *testing.T, extra map[string]string) *LoadedChart {
	t.Helper()
	tpls := map[string]string{
		"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  containers:\n  - name: pg\n    image: postgres:{{ .Values.version }}\n",
		"cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  version: {{ .Values.version | quote }}\n",
	}
	for k, v := range extra {
		tpls[k] = v
	}
	c, err := LoadChart(charttest.Package(t, "pg", "0.1.0", "version: \"16\"\nn: 0\n", tpls))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func helmInput(chart *LoadedChart, spec map[string]any, overrides ...v1alpha1.Override) Input {
	return Input{
		Promise:  "pg",
		Revision: "pg-0123456789",
		Content: &v1alpha1.PromiseContent{
			// Any spec: a team's Values Override is held to it.
			API:       v1alpha1.PromiseAPI{Schema: raw(`{"type":"object","x-kubernetes-preserve-unknown-fields":true}`)},
			Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineHelm, Helm: &v1alpha1.HelmTemplate{}},
		},
		Chart:     chart,
		Instance:  instance("team-a", "orders", spec),
		Cluster:   SampleCluster(),
		Overrides: overrides,
	}
}

func valuesOverride(ns, patch string) v1alpha1.Override {
	o := v1alpha1.Override{}
	o.Name, o.Namespace = "o", ns
	o.Spec.Type = v1alpha1.PatchValues
	o.Spec.Patch = raw(patch)
	return o
}

func TestHelmValuesMakeNoStructure(t *testing.T) {
	chart := pgChart(t, nil)
	t.Run("a plain version renders", func(t *testing.T) {
		out, err := Render(helmInput(chart, map[string]any{"version": "17.2"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Manifests) != 2 {
			t.Fatalf("%d objects", len(out.Manifests))
		}
	})
	t.Run("special characters in a value are fine where they make no structure", func(t *testing.T) {
		out, err := Render(helmInput(chart, map[string]any{"version": "16@sha256:abc", "other": "a\nb: c"}))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Manifests) != 2 {
			t.Fatalf("%d objects", len(out.Manifests))
		}
	})
	t.Run("the instance cannot add objects", func(t *testing.T) {
		_, err := Render(helmInput(chart, map[string]any{"version": injection}))
		if !errors.Is(err, ErrValueCreatesStructure) {
			t.Fatalf("error %v, want ErrValueCreatesStructure", err)
		}
		if !strings.Contains(err.Error(), "chart pg: template pg/templates/pod.yaml: rendered document 2 (from output line 10): a value made a document separator") {
			t.Fatalf("error %q", err)
		}
	})
	t.Run("nor add keys", func(t *testing.T) {
		_, err := Render(helmInput(chart, map[string]any{"version": "16\n    command: [sh]"}))
		if !errors.Is(err, ErrValueCreatesStructure) || !strings.Contains(err.Error(), "at spec.containers[0]") {
			t.Fatalf("error %v, want ErrValueCreatesStructure at spec.containers[0]", err)
		}
	})
	t.Run("nor can a team Override", func(t *testing.T) {
		_, err := Render(helmInput(chart, nil, valuesOverride("team-a", `{"version":"16\n---\nkind: X"}`)))
		if !errors.Is(err, ErrValueCreatesStructure) {
			t.Fatalf("error %v, want ErrValueCreatesStructure", err)
		}
	})
	t.Run("a platform Override is trusted", func(t *testing.T) {
		o := valuesOverride(v1alpha1.PlatformNamespace, `{"version":"16\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}"}`)
		out, err := Render(helmInput(chart, nil, o))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Manifests) != 3 {
			t.Fatalf("%d objects", len(out.Manifests))
		}
	})
}

func TestHelmRenderBounds(t *testing.T) {
	for name, tpl := range map[string]string{
		"until":      "{{ range $i := until 1000000000 }}{{ end }}",
		"untilStep":  "{{ range $i := untilStep 0 1000000000 1 }}{{ end }}",
		"seq":        "{{ seq 1000000000 }}",
		"repeat":     "{{ repeat 1000000000 \"x\" }}",
		"indent":     "{{ indent 1000000000 \"x\" }}",
		"printf":     "{{ printf \"%099999999d\" 1 }}",
		"doubling":   "{{ $s := \"x\" }}{{ range $i := until 64 }}{{ $s = printf \"%s%s\" $s $s }}{{ end }}",
		"replace":    "{{ $s := repeat 1000000 \"x\" }}{{ replace \"x\" $s $s }}",
		"cat":        "{{ $s := \"x\" }}{{ range $i := until 64 }}{{ $s = cat $s $s }}{{ end }}",
		"quote":      "{{ $s := \"x\" }}{{ range $i := until 64 }}{{ $s = quote $s $s }}{{ end }}",
		"b64enc":     "{{ $s := \"xxxxxxxxxxxx\" }}{{ range $i := until 200 }}{{ $s = b64enc $s }}{{ end }}",
		"wrapWith":   "{{ $s := repeat 1000000 \"x\" }}{{ wrapWith 1 $s $s }}",
		"join":       "{{ join (repeat 1000000 \"x\") (until 100000) }}",
		"in a loop":  "{{ range $i := .Values.big }}{{ trim \"x\" | repeat 1 }}{{ end }}",
		"from value": "{{ range $i := until (int .Values.big) }}{{ end }}",
	} {
		t.Run(name, func(t *testing.T) { wantBudgetExceeded(t, tpl) })
	}
}

// The ticks inserted into chart templates change nothing in their output.
func TestTickTemplateKeepsOutput(t *testing.T) {
	srcs := []string{
		"",
		"plain text",
		"{{- range $i := until 3 }}\n  - {{ $i }}\n{{- end }}\n",
		"a:\n{{ range . -}}\n   x{{ . }}\n{{ end -}}\n  b",
		"{{ range $k, $v := . }}{{ $k }}{{ else }}none{{ end }}",
		"{{ define \"x\" -}}\n  body {{ . }}\n{{- end }}{{ define \"empty\" }}  {{ end }}[{{ template \"x\" 1 }}|{{ template \"empty\" }}]",
		"{{/* a comment with }} and {{ range */}}{{ \"}}{{ range\" }}{{ `}}` }}{{ '}' }}",
		"{{- /* trimmed comment */ -}}\n\n  {{ block \"b\" . }}  block {{ end }}",
		"{{ range $i := 2 }}{{ range $j := 2 }}{{ $i }}{{ $j }} {{ end }}{{ end }}",
		"{{ with . }}{{ range . }}{{ if . }}y{{ else }}n{{ end }}{{ end }}{{ end }}",
		"{{ 3 -}}   {{- -3 }}",
		"{{ $x := 1 }}{{ $x = 2 }}{{ $x }}{{- $y := \"a\" -}}  \n {{ $y }} {{ if eq $x 2 }}two{{ end }}",
		"{{ define \"e\" }} {{ end }}{{ define \"e\" }}{{ end }}[{{ template \"e\" }}]",
		"a: {{ len . }}\nb: {{ index . 0 | quote }}\n{{- /* c */ -}}\n  c: {{ \"x\" -}}\n  d",
	}
	data := []any{1, 0, 2}
	for _, src := range srcs {
		run := func(text string) string {
			tpl, err := template.New("t").Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{
				tickFunc: func() string { return "" },
				textFunc: func(int) string { return "" },
				outFunc:  func(v any) any { return v },
			}).Parse(text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			var b strings.Builder
			if err := tpl.Execute(&b, data); err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			return b.String()
		}
		ticked := tickTemplate(src)
		if got, want := run(ticked), run(src); got != want {
			t.Errorf("%q rewritten as %q renders %q, want %q", src, ticked, got, want)
		}
		if strings.Count(ticked, "\n") != strings.Count(src, "\n") {
			t.Errorf("%q: the rewrite changed line numbers: %q", src, ticked)
		}
	}
	if got := tickTemplate("{{ range . }}{{ end }}"); got != "{{__flotillaTick}}{{ range . }}{{__flotillaTick}}{{ end }}" {
		t.Errorf("rewritten as %q", got)
	}
}

// Loops and recursion in a chart stop at the step bound.
func TestHelmLoopsAreBounded(t *testing.T) {
	var rec strings.Builder
	rec.WriteString(`{{ define "t0" }}x{{ end }}`)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&rec, `{{ define "t%d" }}{{ template "t%d" . }}{{ template "t%d" . }}{{ end }}`, i, i-1, i-1)
	}
	for name, tpl := range map[string]string{
		"range over a value":       "{{ range $i := .Values.big }}{{ end }}",
		"range over a literal":     "{{- range $i := 1000000000000 -}}{{- end -}}",
		"template recursion":       rec.String() + "# {{ template \"t40\" . }}",
		"include recursion":        strings.ReplaceAll(rec.String(), "template", "include") + "# {{ include \"t40\" . }}",
		"nested ranges":            "{{ range $i := 100000 }}{{ range $j := 100000 }}{{ end }}{{ end }}",
		"range over a value, trim": "{{- range $i := .Values.big -}}\n{{- end -}}",
	} {
		t.Run(name, func(t *testing.T) { wantBudgetExceeded(t, tpl) })
	}
}

// wantBudgetExceeded renders a chart of the one template tpl, with
// .Values.big 2^40, and wants the budget to stop it (ErrBudgetExceeded).
func wantBudgetExceeded(t *testing.T, tpl string) {
	t.Helper()
	chart := pgChart(t, map[string]string{"loop.yaml": tpl})
	start := time.Now()
	_, err := Render(helmInput(chart, map[string]any{"big": int64(1) << 40}))
	if !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("error %v, want ErrBudgetExceeded", err)
	}
	if took := time.Since(start); took > boundedRender {
		t.Errorf("took %v", took)
	}
	t.Log(err)
}

// boundedRender tells a render the budget stopped from one it did not: a
// second or so on a loaded machine (0.1 s idle) against hours. It does not
// time the render; benchmarks do that.
const boundedRender = 15 * time.Second

// A chart that runs a value through tpl, as Bitnami's do, runs the team's text
// as a template: its loops count against the step bound like the chart's own,
// so the render stops at once and leaves nothing running on the hub.
func TestATeamsValueThroughTplIsBounded(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
	})
	for name, value := range map[string]string{
		"nested ranges":          "{{ range $i := 1000000000000 }}{{ range $j := 1000000000000 }}{{ end }}{{ end }}",
		"a define it includes":   `{{ define "r" }}{{ range $i := 1000000000000 }}{{ end }}{{ end }}{{ include "r" . }}`,
		"tpl within tpl":         `{{ tpl "{{ range $i := 1000000000000 }}{{ end }}" . }}`,
		"a range over the until": "{{ $l := until 10000 }}{{ range $l }}{{ range $l }}{{ range $l }}{{ end }}{{ end }}{{ end }}",
	} {
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			start := time.Now()
			_, err := Render(helmInput(chart, map[string]any{"x": value}))
			if !errors.Is(err, ErrBudgetExceeded) {
				t.Fatalf("error %v, want ErrBudgetExceeded", err)
			}
			if took := time.Since(start); took >= helmRenderTimeout {
				t.Fatalf("the render ran until the time limit (%v): %v", took, err)
			}
			t.Log(err)
			// Nothing of the render runs on.
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after the render, %d before", n, before)
			}
		})
	}
	t.Run("a harmless tpl renders as before", func(t *testing.T) {
		if got := renderedTplValue(t, chart, `{{ .Release.Name }}-{{ range $i := until 3 }}{{ $i }}{{ end }}`); got != "orders-012" {
			t.Errorf("x = %q", got)
		}
	})
}

// renderedTplValue renders chart with the value x and returns what its
// ConfigMap orders-tpl holds under x.
func renderedTplValue(t *testing.T, chart *LoadedChart, x string) string {
	t.Helper()
	out, err := Render(helmInput(chart, map[string]any{"x": x}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Manifests {
		if m.GetName() == "orders-tpl" {
			got, _, _ := unstructured.NestedString(m.Object, "data", "x")
			return got
		}
	}
	t.Fatalf("no ConfigMap orders-tpl in %d objects", len(out.Manifests))
	return ""
}

// Every tpl call of a chart gives tpl its text through tplTextFunc; nothing
// else changes.
func TestBoundTplCalls(t *testing.T) {
	for src, want := range map[string]string{
		"{{ tpl .Values.x . }}":                           "{{ tpl (__flotillaTplText .Values.x) . }}",
		"{{- tpl $value .context -}}":                     "{{- tpl (__flotillaTplText $value) .context -}}",
		"{{tpl .Values.x $}}":                             "{{tpl (__flotillaTplText .Values.x) $}}",
		"{{ tpl (toYaml .Values.a) . | nindent 4 }}":      "{{ tpl (__flotillaTplText (toYaml .Values.a)) . | nindent 4 }}",
		"{{ $ | tpl .Values.x }}":                         "{{ $ | tpl (__flotillaTplText .Values.x) }}",
		"{{ tpl (tpl .Values.x .) . }}":                   "{{ tpl (__flotillaTplText (tpl (__flotillaTplText .Values.x) .)) . }}",
		"{{ tpl (cat \"{{- with $.S -}}\" $v \")\") . }}": "{{ tpl (__flotillaTplText (cat \"{{- with $.S -}}\" $v \")\")) . }}",
		"{{ tpl \"a\\\" b\" . }}":                         "{{ tpl (__flotillaTplText \"a\\\" b\") . }}",
		"{{ .Values.tpl }}{{ $tpl }}{{ \"tpl x\" }}":      "{{ .Values.tpl }}{{ $tpl }}{{ \"tpl x\" }}",
		"{{/* tpl x */}}{{ tplx . }}":                     "{{/* tpl x */}}{{ tplx . }}",
		"{{ tpl\n  .Values.x\n  . }}":                     "{{ tpl\n  (__flotillaTplText .Values.x)\n  . }}",
	} {
		if got := boundTplCalls(src); got != want {
			t.Errorf("%q rewritten as %q, want %q", src, got, want)
		}
	}
}

// A chart's hooks are not rendered. A team's value that annotates the chart's
// objects (Bitnami's commonAnnotations) with helm.sh/hook made them hooks,
// so they left the render, and the agent pruned them from every member: the
// platform's NetworkPolicy in the team's namespace among them.
func TestATeamsValueMakesNoHelmHook(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"netpol.yaml": "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{ .Release.Name }}-deny-egress\n" +
			"  annotations:\n    {{- toYaml .Values.commonAnnotations | nindent 4 }}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n",
		"job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-upgrade\n" +
			"spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: migrate:1\n",
	})
	hook := map[string]any{"helm.sh/hook": "test"}
	for name, in := range map[string]Input{
		"the instance's spec":    helmInput(chart, map[string]any{"commonAnnotations": hook}),
		"a team Values Override": helmInput(chart, map[string]any{}, valuesOverride("team-a", `{"commonAnnotations":{"helm.sh/hook":"test"}}`)),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := Render(in)
			if !errors.Is(err, ErrValueCreatesStructure) || !strings.Contains(err.Error(), "helm.sh/hook") {
				for _, m := range out.Manifests {
					t.Logf("rendered %s %s", m.GetKind(), m.GetName())
				}
				t.Fatalf("render = %v, want it refused (%v) naming helm.sh/hook", err, ErrValueCreatesStructure)
			}
		})
	}
	t.Run("the chart's own hook is left out, the rest renders", func(t *testing.T) {
		out, err := Render(helmInput(chart, map[string]any{"commonAnnotations": map[string]any{"example.com/owner": "team-a"}}))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, m := range out.Manifests {
			kinds = append(kinds, m.GetKind())
		}
		if got := strings.Join(kinds, ","); got != "ConfigMap,Pod,NetworkPolicy" {
			t.Errorf("rendered %s", got)
		}
	})
}

// The text a chart gives tpl may call any of Sprig's functions: those that
// build a result from a size the text gives are refused before building it,
// as in the chart's own templates. randBytes 2^40 made the hub's Go runtime
// fail to allocate, which no recover catches: the hub crashed at every render.
func TestATeamsValueThroughTplBuildsNothingHuge(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
	})
	for name, value := range map[string]string{
		"randBytes":                  "{{ randBytes 1099511627776 }}",
		"regexReplaceAll":            `{{ $s := repeat 1000000 "x" }}{{ regexReplaceAll "" $s $s }}`,
		"regexReplaceAllLiteral":     `{{ $s := repeat 1000000 "x" }}{{ regexReplaceAllLiteral "" $s $s }}`,
		"mustRegexReplaceAll":        `{{ $s := repeat 1000000 "x" }}{{ mustRegexReplaceAll "" $s $s }}`,
		"mustRegexReplaceAllLiteral": `{{ $s := repeat 1000000 "x" }}{{ mustRegexReplaceAllLiteral "" $s $s }}`,
		"regexReplaceAll expanding":  `{{ $s := repeat 100000 "x" }}{{ regexReplaceAll "(x*)" $s "${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}${1}" }}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render(helmInput(chart, map[string]any{"x": value}))
			// randBytes is refused before it allocates, as any random value
			// is (TestAHelmRenderIsTheSameEveryTime).
			if !errors.Is(err, ErrBudgetExceeded) && !errors.Is(err, ErrNotRepeatable) {
				t.Fatalf("error %v, want ErrBudgetExceeded", err)
			}
			t.Log(err)
		})
	}
	t.Run("their ordinary use renders", func(t *testing.T) {
		if got := renderedTplValue(t, chart, `{{ regexReplaceAll "-(.)" "a-b-c" "${1}" }}`); got != "abc" {
			t.Errorf("x = %q", got)
		}
	})
}

// A render stopped by its time limit ends at its next step instead of running
// on: a chart that calls a costly function once per item of a size the
// instance gives (bcrypt, ≈ 50 ms a call; derivePassword here, as bcrypt is
// refused for its salt), with 99,999 items, kept a
// goroutine busy on the hub for more than an hour after every render.
func TestAStoppedHelmRenderEnds(t *testing.T) {
	was := helmRenderTimeout
	helmRenderTimeout = time.Second
	t.Cleanup(func() { helmRenderTimeout = was })
	chart := pgChart(t, map[string]string{
		"users.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-users\nstringData:\n" +
			"{{- range $i := until (int .Values.users) }}\n  user{{ $i }}: {{ derivePassword 1 \"long\" \"pw\" \"user\" \"example.com\" | quote }}\n{{- end }}\n",
	})
	before := runtime.NumGoroutine()
	_, err := Render(helmInput(chart, map[string]any{"users": int64(99999)}))
	if !errors.Is(err, ErrBudgetExceeded) || !strings.Contains(err.Error(), "rendering took more than") {
		t.Fatalf("error %v, want the time limit", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines 5 s after the render stopped, %d before", n, before)
	}
}

// A team's Values Override of a Helm Promise is held to the Promise's
// api.schema, as the instance is: it patched the chart's values unchecked,
// so a team set what the Promise pins in helm.values and does not offer (its
// NetworkPolicy off, its image registry), which its spec could not.
func TestATeamsHelmValuesOverrideIsHeldToThePromisesSchema(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"netpol.yaml": "{{- if .Values.networkPolicy.enabled }}\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{ .Release.Name }}-deny-egress\n" +
			"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n{{- end }}\n",
		"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  containers:\n  - name: pg\n    image: {{ .Values.registry }}/postgres:{{ .Values.version }}\n",
	})
	input := func(overrides ...v1alpha1.Override) Input {
		in := helmInput(chart, map[string]any{"version": "16"}, overrides...)
		in.Content.API.Schema = raw(`{"type":"object","properties":{"version":{"type":"string","enum":["15","16","17"]}}}`)
		values := raw(`{"networkPolicy":{"enabled":true},"registry":"registry.example.com"}`)
		in.Content.Templates.Helm.Values = &values
		return in
	}
	for name, patch := range map[string]string{
		"a value the Promise pins":          `{"networkPolicy":{"enabled":false}}`,
		"the image registry":                `{"registry":"evil.example"}`,
		"a value outside the schema's enum": `{"version":"9.6"}`,
	} {
		t.Run(name, func(t *testing.T) {
			o := valuesOverride("team-a", patch)
			out, err := Render(input(o))
			var oe *OverrideError
			if !errors.As(err, &oe) {
				for _, m := range out.Manifests {
					t.Logf("rendered %s %s", m.GetKind(), m.GetName())
				}
				t.Fatalf("render = %v, want the Override refused", err)
			}
			t.Log(err)
			if err := CheckValuesPatch(input().Content, &o); err == nil {
				t.Errorf("CheckValuesPatch accepted %s", patch)
			}
		})
	}
	t.Run("a value of the schema, and the platform's Override, apply", func(t *testing.T) {
		out, err := Render(input(valuesOverride("team-a", `{"version":"17"}`), valuesOverride(v1alpha1.PlatformNamespace, `{"registry":"mirror.example.com"}`)))
		if err != nil {
			t.Fatal(err)
		}
		var netpol bool
		for _, m := range out.Manifests {
			switch m.GetKind() {
			case "NetworkPolicy":
				netpol = true
			case "Pod":
				c, _, _ := unstructured.NestedSlice(m.Object, "spec", "containers")
				if image := c[0].(map[string]any)["image"]; image != "mirror.example.com/postgres:17" {
					t.Errorf("image %v", image)
				}
			}
		}
		if !netpol {
			t.Error("no NetworkPolicy")
		}
	})
}

// What a chart's templates write is bounded, not only what functions return:
// a team's text through tpl printing an 8 MiB string in a loop of 99,999
// steps built 800 GB in the hub's memory (40 steps took 1.9 GB), and so did
// a loop over text written out.
func TestATeamsValueThroughTplWritesNothingHuge(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
	})
	text := strings.Repeat("x", 4<<20)
	for name, value := range map[string]string{
		"a printed value": `{{ $s := repeat 8000000 "x" }}{{ range until 99999 }}{{ $s }}{{ end }}`,
		"text":            `{{ range until 99999 }}` + text + `{{ end }}`,
		"a template call": `{{ define "t" }}` + text + `{{ end }}{{ range until 99999 }}{{ template "t" }}{{ end }}`,
		"an include":      `{{ define "t" }}` + text + `{{ end }}{{ range until 99999 }}{{ include "t" . }}{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Render(helmInput(chart, map[string]any{"x": value}))
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBudgetExceeded) {
				t.Fatalf("error %v, want ErrBudgetExceeded", err)
			}
			if got := (after.TotalAlloc - before.TotalAlloc) >> 20; got > 1024 {
				t.Errorf("the render allocated %d MiB", got)
			}
			// tpl's error quotes the text: log where it stopped.
			if msg := err.Error(); len(msg) > 200 {
				t.Log(msg[len(msg)-200:])
			}
		})
	}
}

// A text run through tpl may not build lists or maps (tplAllowed does not
// list them): with them a team's
// value made a cycle whose printing overflowed the hub's stack (a fatal
// error, the hub crashed at once), or doubled a structure 40 times, whose
// printing took 2^40 of time and memory. A chart's own templates still may.
func TestATeamsValueThroughTplBuildsNoListsOrMaps(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n" +
			"  own: {{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" (list 2 3) }}{{ toJson $d | quote }}\n",
	})
	for name, value := range map[string]string{
		"a cycle":           `{{ $d := dict }}{{ $_ := set $d "a" $d }}{{ $d }}`,
		"a cycle in values": `{{ $_ := merge .Values.nested .Values }}{{ .Values }}`,
		"a doubled list":    `{{ $l := list 1 }}{{ range until 40 }}{{ $l = list $l $l }}{{ end }}{{ toJson $l }}`,
		"a doubled map":     `{{ $d := dict }}{{ range until 40 }}{{ $d = dict "a" $d "b" $d }}{{ end }}{{ toYaml $d }}`,
		"concat":            `{{ $l := until 2 }}{{ range until 40 }}{{ $l = concat $l $l }}{{ end }}`,
		"in a define":       `{{ define "d" }}{{ append (list) . }}{{ end }}{{ include "d" 1 }}`,
		"in a nested tpl":   `{{ tpl "{{ dict }}" . }}`,
		"a costly function": `{{ range until 99999 }}{{ genPrivateKey "rsa" }}{{ end }}`,
		"in a branch":       `{{ if true }}{{ else }}{{ with 1 }}{{ deepCopy . }}{{ end }}{{ end }}`,
		"piped":             `{{ 1 | list | toJson }}`,
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Render(helmInput(chart, map[string]any{"x": value, "nested": map[string]any{"a": "b"}}))
			if !errors.Is(err, ErrBudgetExceeded) && !errors.Is(err, ErrNotRepeatable) || !strings.Contains(err.Error(), "a text run through tpl") {
				t.Fatalf("error %v, want the call refused", err)
			}
			if took := time.Since(start); took > boundedRender {
				t.Errorf("took %v", took)
			}
		})
	}
	t.Run("the rest of tpl, and the chart's own lists and maps, render", func(t *testing.T) {
		out, err := Render(helmInput(chart, map[string]any{"x": `{{ .Release.Name }}-{{ .Values.missing | default "none" }}-{{ .Values.nested.a | upper }}`, "nested": map[string]any{"a": "b"}}))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Manifests {
			if m.GetName() == "orders-tpl" {
				x, _, _ := unstructured.NestedString(m.Object, "data", "x")
				own, _, _ := unstructured.NestedString(m.Object, "data", "own")
				if x != "orders-none-B" || own != `{"a":1,"b":[2,3]}` {
					t.Errorf("x = %q, own = %q", x, own)
				}
				return
			}
		}
		t.Errorf("no ConfigMap orders-tpl in %d objects", len(out.Manifests))
	})
}

// A text run through tpl may call only the functions tplAllowed lists: the
// list of refusals it replaces missed now, with which a team's value changed
// what a revision renders at the hub's next restart
// (TestAHelmRenderIsTheSameEveryTime), and anything else Sprig or Helm has or
// will have: structures from text, calls outside the render, Flotilla's own
// bounds.
func TestATeamsValueThroughTplCallsOnlyListedFunctions(t *testing.T) {
	chart := pgChart(t, map[string]string{
		"tpl.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-tpl\ndata:\n  x: {{ tpl .Values.x . | quote }}\n",
	})
	for name, value := range map[string]string{
		"a structure from text":  `{{ fromYaml "a: b" }}`,
		"a list from text":       `{{ splitList "" (repeat 8000000 "x") | len }}`,
		"the hub's API":          `{{ lookup "v1" "Secret" "flotilla-system" "" }}`,
		"the hub's DNS":          `{{ getHostByName "attacker.example.com" }}`,
		"Flotilla's own counter": `{{ __flotillaOut 1 }}`,
		"a url made a map":       `{{ urlParse "https://example.com" }}`,
		"call":                   `{{ call .Values.f }}`,
		"built for a nested tpl": `{{ tpl (print "{{ fromYaml " "\"a: b\" }}") . }}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Render(helmInput(chart, map[string]any{"x": value}))
			if !errors.Is(err, ErrBudgetExceeded) || !strings.Contains(err.Error(), "may call only functions that read, compare and format values") {
				t.Fatalf("error %v, want the call refused", err)
			}
		})
	}
	t.Run("what such values do renders", func(t *testing.T) {
		got := renderedTplValue(t, chart, `{{ printf "%s-%s" .Release.Name "db" | trunc 63 | trimSuffix "-" }} {{ .Values.missing | default "none" | upper | quote }} {{ if semverCompare ">=1.20" "1.36.2" }}new{{ end }} {{ range $i := until 2 }}{{ add1 $i }}{{ end }}`)
		if got != `orders-db "NONE" new 12` {
			t.Errorf("x = %q", got)
		}
	})
}
