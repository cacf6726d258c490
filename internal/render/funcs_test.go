package render

import (
	"strings"
	"testing"
)

// execute renders one template over data with the package's function set.
func execute(t *testing.T, src string, data map[string]any) (string, error) {
	t.Helper()
	root, err := parseGoTemplates(goPromise("t", src).Templates.GoTemplates)
	if err != nil {
		return "", err
	}
	var b limitedBuilder
	err = root.ExecuteTemplate(&b, "t", data)
	return b.String(), err
}

func TestFuncs(t *testing.T) {
	data := map[string]any{
		"spec": map[string]any{
			"name":    "Orders ",
			"zero":    int64(0),
			"empty":   "",
			"null":    nil,
			"list":    []any{"a", int64(2), true},
			"nested":  map[string]any{"deep": map[string]any{"x": "found"}},
			"text":    "a\nb",
			"quoted":  `say "hi"`,
			"enabled": false,
		},
	}
	cases := []struct{ src, want string }{
		{`{{ .spec.name | default "x" }}`, "Orders "},
		{`{{ .spec.empty | default "x" }}`, "x"},
		{`{{ .spec.zero | default 3 }}`, "3"},
		{`{{ .spec.null | default "n" }}`, "n"},
		{`{{ .spec.enabled | default true }}`, "true"},
		{`{{ required "m" .spec.name }}`, "Orders "},
		{`{{ required "m" .spec.zero }}`, "0"},
		{`{{ quote .spec.quoted }}`, `"say \"hi\""`},
		{`{{ quote .spec.null 1 }}`, `"" "1"`},
		{`{{ .spec.name | trim | lower }}-{{ upper "x" }}`, "orders-X"},
		{`{{ b64enc "orders" }}`, "b3JkZXJz"},
		{`{{ sha256sum "" }}`, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{`{{ toJson .spec.list }}`, `["a",2,true]`},
		{`{{ toYaml .spec.nested }}`, "deep:\n  x: found"},
		{`{{ indent 2 .spec.text }}`, "  a\n  b"},
		{`x:{{ nindent 2 .spec.text }}`, "x:\n  a\n  b"},
		{`{{ hasKey .spec "zero" }} {{ hasKey .spec "nope" }}`, "true false"},
		{`{{ dig "nested" "deep" "x" "d" .spec }}`, "found"},
		{`{{ dig "nested" "nope" "x" "d" .spec }}`, "d"},
		{`{{ dig "name" "x" "d" .spec }}`, "d"},
		{`{{ dig "null" "d" .spec }}`, "d"},
		{`{{ dig "a" "d" nil }}`, "d"},
		{`{{ join "," .spec.list }}`, "a,2,true"},
		{`{{ join "," .spec.null }}`, ""},
		{`{{ printf "%s-%d" "a" 1 }}`, "a-1"},
		{`{{ define "h" }}[{{ . }}]{{ end }}{{ include "h" "x" | upper }}`, "[X]"},
		{`{{ index .spec "nope" | default "zero value" }}`, "zero value"},
		{`{{ .spec.null }}`, "<no value>"}, // renderGoTemplates removes it (see TestNullPrintsNothing)
	}
	for _, tc := range cases {
		src := tc.src
		got, err := execute(t, src, data)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", src, got, tc.want)
		}
	}
}

func TestFuncErrors(t *testing.T) {
	data := map[string]any{"spec": map[string]any{"empty": "", "list": []any{}, "s": "x"}}
	cases := []struct{ src, want string }{
		{`{{ .spec.missing }}`, `map has no entry for key "missing"`},
		{`{{ .spec.missing | default "x" }}`, `map has no entry for key "missing"`},
		{`{{ required "empty is required" .spec.empty }}`, "empty is required"},
		{`{{ dig "a" .spec }}`, "dig needs at least one key, a default and a map"},
		{`{{ dig 1 "d" .spec }}`, "dig: key 1 is int, not a string"},
		{`{{ dig "a" "d" "notamap" }}`, "dig: last argument is string, not a map"},
		{`{{ join "," .spec.s }}`, "join: string is not a list"},
		{`{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}`, "nested more than 64 deep"},
		{`{{ include "nope" . }}`, `no template "nope"`},
		{`{{ range 100000 }}{{ printf "%0100d" 1 }}{{ end }}`, "rendered output exceeds 8388608 bytes"},
	}
	for _, tc := range cases {
		_, err := execute(t, tc.src, data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := splitDocuments("a: 1\n---\n--- # comment\nb: 2\n---x: not a separator\n...\n")
	if len(docs) != 3 {
		t.Fatalf("got %d documents: %+v", len(docs), docs)
	}
	if docs[2].line != 4 || !strings.HasPrefix(docs[2].text, "b: 2\n---x") {
		t.Errorf("third document %+v", docs[2])
	}
}

func TestNullPrintsNothing(t *testing.T) {
	c := goPromise("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \"{{ .spec.null }}\"\n")
	out, err := Render(Input{Promise: "p", Content: c, Instance: instance("ns", "x", map[string]any{"null": nil})})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Manifests[0].Object["data"].(map[string]any)["a"]; got != "" {
		t.Fatalf("data.a = %q", got)
	}
}
