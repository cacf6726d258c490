package instance_test

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a Promise gives each instance a namespace of its own with the
// rule ${name} ("one namespace per instance"). Instance names are the team's
// to choose, so a team member names an instance kube-system (or team-b, or any
// namespace on the members): the scope the hub writes into the Work, and the
// agent trusts, would then let the instance's objects land there. A rule
// that uses ${name} must also use ${namespace}, the one part of an instance's
// identity a team cannot choose: the API server refuses such a Promise.
func TestANameRuleCannotNameAnotherNamespace(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsrule.example.com", "PerNS"
	e.Cluster("nsrule-1", map[string]string{"story": "nsrule"})
	e.Fleet("nsrule", map[string]string{"story": "nsrule"}, "nsrule-team")
	e.Namespace("nsrule-team", nil)
	p := configMapPromise("nsrule-db", group, kind, "nsrule")
	p.Spec.Output.Namespaces = []string{"${name}"}
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: data
  namespace: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
`
	err := e.C.Create(e.Ctx, p)
	if err != nil {
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "${namespace}") {
			t.Fatalf("creating the Promise: %v, want refused naming ${namespace}", err)
		}
		return // refused: nothing for an instance to abuse
	}
	e.PromiseReady("nsrule-db")

	// A team member's instance named like a namespace it does not own.
	e.Create(instance(group, kind, "nsrule-team", "kube-system", map[string]any{"size": "small"}))
	time.Sleep(3 * time.Second)
	if w := e.Work("nsrule-db", "nsrule-team", "kube-system", "nsrule-1"); w != nil {
		t.Errorf("the instance kube-system got a Work with scope %+v and %d manifests: its objects land in kube-system",
			w.Spec.Scope, len(w.Spec.Manifests))
	}
}
