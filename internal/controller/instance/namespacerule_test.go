package instance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"

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

// The same through ${namespace}: with the rule ${namespace}-${name}, team
// nsr-pay's instance eu would expand to nsr-pay-eu, which is another team's
// namespace. A rule with a placeholder never gives a namespace that exists
// on the hub (a team's, the platform's, the system's) other than the
// instance's own: the instance is refused on every cluster, and no Work is
// written.
func TestANamespaceRuleCannotGiveAnotherTeamsNamespace(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "nsrule2.example.com", "PerNS2"
	e.Cluster("nsr2-1", map[string]string{"story": "nsr2"})
	e.Fleet("nsr2", map[string]string{"story": "nsr2"}, "nsr-pay", "nsr-pay-eu", "nsr-pay-x")
	e.Namespace("nsr-pay", nil)
	e.Namespace("nsr-pay-eu", nil)
	e.Namespace("nsr-pay-x", nil)
	p := perNamespacePromise("nsr2-db", group, kind, "nsr2")
	e.Create(p)
	e.PromiseReady("nsr2-db")

	// An instance whose rule gives a namespace of its own: it lands.
	e.Create(instance(group, kind, "nsr-pay", "orders", map[string]any{"size": "small"}))
	e.WaitWork("nsr2-db", "nsr-pay", "orders", "nsr2-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Manifests) == 1 && w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr-pay-orders"), ""
	})
	// One named so that its rule gives team nsr-pay-eu's namespace.
	e.Create(instance(group, kind, "nsr-pay", "eu", map[string]any{"size": "small"}))
	e.WaitInstance(group, kind, "nsr-pay", "eu", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr-pay-eu")
	})
	if w := e.Work("nsr2-db", "nsr-pay", "eu", "nsr2-1"); w != nil {
		t.Errorf("instance nsr-pay/eu got a Work with scope %+v: its objects land in team nsr-pay-eu's namespace", w.Spec.Scope)
	}

	// Two teams' rules giving the same namespace, which exists only on the
	// members: nsr-pay/x-y and nsr-pay-x/y both give nsr-pay-x-y. The first
	// keeps it; the other team's instance is refused.
	e.Create(instance(group, kind, "nsr-pay", "x-y", map[string]any{"size": "small"}))
	e.WaitWork("nsr2-db", "nsr-pay", "x-y", "nsr2-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Scope != nil && slices.Contains(w.Spec.Scope.Namespaces, "nsr-pay-x-y"), ""
	})
	e.Create(instance(group, kind, "nsr-pay-x", "y", map[string]any{"size": "small"}))
	e.WaitInstance(group, kind, "nsr-pay-x", "y", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "nsr-pay-x-y, which an instance of another namespace")
	})
	if w := e.Work("nsr2-db", "nsr-pay-x", "y", "nsr2-1"); w != nil {
		t.Errorf("instance nsr-pay-x/y got a Work with scope %+v: it shares namespace nsr-pay-x-y with team nsr-pay's instance", w.Spec.Scope)
	}
}

// perNamespacePromise is a ConfigMap Promise whose rule ${namespace}-${name}
// gives each instance a namespace of its own, where its ConfigMap goes.
func perNamespacePromise(name, group, kind string, fleets ...string) *fleetv1alpha1.Promise {
	p := configMapPromise(name, group, kind, fleets...)
	p.Spec.Output.Namespaces = []string{"${namespace}-${name}"}
	p.Spec.Templates.GoTemplates[0].Template = `apiVersion: v1
kind: ConfigMap
metadata:
  name: data
  namespace: {{ printf "%s-%s" .instance.metadata.namespace .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
`
	return p
}
