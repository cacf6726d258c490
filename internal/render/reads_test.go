package render

import (
	"testing"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestReadsInstanceMetadata(t *testing.T) {
	const labels = `{{- define "labels" -}}app: {{ .instance.metadata.name }}{{- end }}`
	for _, tc := range []struct {
		name, template string
		want           bool
	}{
		// What does not read them: names, the spec, the cluster's labels,
		// the data passed to another template, dot where it is not the data.
		{"name and namespace", `name: {{ .instance.metadata.name }}-{{ $.instance.metadata.namespace }}`, false},
		{"the spec", `{{ toYaml .spec | nindent 2 }}{{ .instance.spec.size }}{{ .instance.kind }}`, false},
		{"the cluster's labels", `region: {{ dig "region" "x" .cluster.labels }}{{ index .cluster.labels "tier" }}`, false},
		{"include and template with the data", labels + `{{ include "labels" . | nindent 4 }}{{ template "labels" $ }}`, false},
		{"dot inside range and with", `{{ range .spec.hosts }}- {{ . }}{{ end }}{{ with .spec.db }}{{ toYaml . }}{{ end }}`, false},
		{"a variable of the spec", `{{ $s := .spec }}{{ $s.size }}{{ range $k, $v := .spec.env }}{{ $k }}={{ $v }}{{ end }}`, false},
		// What does.
		{"a label", `tier: {{ .instance.metadata.labels.tier }}`, true},
		{"an annotation through $", `{{ index $.instance.metadata.annotations "x" }}`, true},
		{"metadata whole", `{{ toYaml .instance.metadata }}`, true},
		{"the instance whole", `{{ toJson .instance }}`, true},
		{"the data whole", `{{ toYaml . }}`, true},
		{"$ whole", `{{ $root := $ }}{{ $root.spec }}`, true},
		{"dig by key", `{{ dig "metadata" "labels" "tier" "" .instance }}`, true},
		{"index by key", `{{ index . "instance" }}`, true},
		{"with the instance", `{{ with .instance }}{{ .metadata.labels.tier }}{{ end }}`, true},
		{"range over metadata", `{{ range $k, $v := .instance.metadata }}{{ $k }}{{ end }}`, true},
		{"a variable of the instance", `{{ $i := .instance }}{{ $i.spec }}`, true},
		{"a chain on a call", `{{ (index .spec "x").metadata.labels }}`, true},
		{"in a define", `{{ define "x" }}{{ .metadata.labels }}{{ end }}{{ include "x" .instance }}`, true},
		{"a template passed the instance", `{{ define "x" }}{{ .spec }}{{ end }}{{ template "x" .instance }}`, true},
		{"in an if", `{{ if .instance.metadata.annotations }}x: y{{ end }}`, true},
		{"the data in the else of a with", `{{ with .spec.x }}{{ . }}{{ else }}{{ toYaml . }}{{ end }}`, true},
		{"$ assigned", `{{ $ = .spec }}{{ $.size }}{{ with .spec }}{{ $x := "" }}{{ $x = $ }}{{ end }}`, true},
		{"the data in an else with", `{{ with .spec.x }}{{ else with . }}{{ toJson . }}{{ end }}`, true},
		{"include by a computed name", `{{ define "x" }}{{ printf "%v" . }}{{ end }}{{ $n := "x" }}{{ include $n . }}`, true},
		{"the data piped to include", `{{ define "x" }}{{ .spec }}{{ end }}{{ $ | include "x" }}`, true},
		{"a chain on the data", `{{ ($).spec }}`, true},
		{"a template that does not parse", `{{ .spec `, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpls := []v1alpha1.GoTemplate{{Name: "t", Template: tc.template}}
			if _, err := parseGoTemplates(tpls); (err != nil) != (tc.name == "a template that does not parse") {
				t.Fatalf("parse: %v", err)
			}
			c := &v1alpha1.PromiseContent{Templates: &v1alpha1.Templates{GoTemplates: tpls}}
			if got := ReadsInstanceMetadata(c); got != tc.want {
				t.Errorf("ReadsInstanceMetadata = %v, want %v", got, tc.want)
			}
		})
	}
	helm := &v1alpha1.PromiseContent{Templates: &v1alpha1.Templates{Engine: v1alpha1.TemplateEngineHelm}}
	if ReadsInstanceMetadata(helm) || ReadsInstanceMetadata(&v1alpha1.PromiseContent{}) {
		t.Error("a Helm chart or no templates read the instance's metadata")
	}
}

// A block's body is the default: a define of the same name in another
// template replaces it, and that one is what renders and what is judged.
func TestReadsInstanceMetadataOfABlockRedefined(t *testing.T) {
	c := &v1alpha1.PromiseContent{Templates: &v1alpha1.Templates{GoTemplates: []v1alpha1.GoTemplate{
		{Name: "cm.yaml", Template: `name: {{ block "tier" . }}{{ .instance.metadata.name }}{{ end }}`},
		{Name: "_helpers", Template: `{{ define "tier" }}{{ .instance.metadata.labels.tier }}{{ end }}`},
	}}}
	if !ReadsInstanceMetadata(c) {
		t.Error("the block redefined to read a label does not read the metadata")
	}
}
