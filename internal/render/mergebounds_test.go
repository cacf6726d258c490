package render

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// envTemplate renders a Deployment with the env list of the instance.
const envTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .instance.metadata.name | quote }}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx
        env:
{{- range .spec.env }}
        - {name: {{ .name | quote }}, value: {{ .value | quote }}}
{{- end }}
`

func envList(n int) []any {
	env := make([]any, n)
	for i := range env {
		env[i] = map[string]any{"name": fmt.Sprintf("E%d", i), "value": "v"}
	}
	return env
}

// TestAStrategicMergeOfLongListsIsRefused: Kubernetes' strategic merge
// orders a merged list in time that grows with the square of its length. A
// team's StrategicMerge Override of 7,500 env entries (within the 128 KiB
// its Overrides may hold) took 7 s of the hub's CPU for each cluster the
// instance is on, and again at each change, holding a render worker; so did
// the platform's StrategicMerge Override on a list the team's values made
// 10,000 items long. Both are refused at once.
func TestAStrategicMergeOfLongListsIsRefused(t *testing.T) {
	c := goPromise("deploy.yaml", envTemplate)
	c.Output = &v1alpha1.PromiseOutput{Kinds: []v1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}}}
	sc, err := scope.ForInstance(c.Output, "team-a", "web")
	if err != nil {
		t.Fatal(err)
	}
	input := func(env []any, overrides ...v1alpha1.Override) Input {
		return Input{Promise: "web", Revision: "web-1", Content: c, Instance: instance("team-a", "web", map[string]any{"env": env}),
			Cluster: SampleCluster(), Scope: sc, Overrides: overrides}
	}
	deployment := v1alpha1.ResourceSelector{Group: "*", Kind: "Deployment"}
	items := make([]string, 7_500)
	for i := range items {
		items[i] = fmt.Sprintf(`{"name":"c%d"}`, i)
	}
	longPatch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[` + strings.Join(items, ",") + `]}]}}}}`
	if len(longPatch) > 128<<10 {
		t.Fatalf("the patch is %d bytes, more than a team's Overrides may hold", len(longPatch))
	}
	onEnv := `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"X","value":"y"}]}]}}}}`
	platform := func(patch string) v1alpha1.Override {
		o := override("platform", v1alpha1.PatchStrategicMerge, patch)
		o.Spec.Resources = []v1alpha1.ResourceSelector{deployment}
		return o
	}

	t.Run("a team's patch of a long list", func(t *testing.T) {
		o := teamOverrideOf("long", v1alpha1.PatchStrategicMerge, longPatch, deployment)
		var oe *OverrideError
		if err := CheckTeamPatch(&o); !errors.As(err, &oe) || !strings.Contains(err.Error(), "list of 7500 items at patch.spec.template.spec.containers[*].env") {
			t.Errorf("CheckTeamPatch: %v", err)
		}
		start := time.Now()
		if _, err := Render(input(envList(1), o)); !errors.As(err, &oe) {
			t.Errorf("rendered with %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("took %v", took)
		}
	})
	t.Run("a patch on a list the team's values made long", func(t *testing.T) {
		start := time.Now()
		_, err := Render(input(envList(10_000), platform(onEnv)))
		if err == nil || !strings.Contains(err.Error(), "a strategic merge at spec.template.spec.containers would merge lists of 10001 items") {
			t.Errorf("rendered with %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v", took)
		}
	})
	t.Run("what stays allowed", func(t *testing.T) {
		for _, in := range []Input{
			input(envList(10_000), platform(`{"metadata":{"labels":{"tier":"web"}},"spec":{"replicas":2}}`)), // no list merged
			input(envList(900), platform(onEnv)),
			input(envList(1), teamOverrideOf("json", v1alpha1.PatchJSONMerge, longPatch, deployment)), // a merge patch replaces lists
		} {
			if _, err := Render(in); err != nil {
				t.Errorf("%s: %v", in.Overrides[0].Name, err)
			}
		}
	})
}
