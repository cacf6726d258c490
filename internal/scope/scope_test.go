package scope

import (
	"errors"
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestForInstance(t *testing.T) {
	out := &v1alpha1.PromiseOutput{
		Kinds:      []v1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}},
		Namespaces: []string{"${namespace}-cache", "${name}-${namespace}", "${namespace}-cache", "shared"},
	}
	sc, err := ForInstance(out, "team-a", "db")
	if err != nil {
		t.Fatal(err)
	}
	want := "team-a,team-a-cache,db-team-a,shared"
	if got := strings.Join(sc.Namespaces, ","); got != want {
		t.Errorf("namespaces = %s, want %s", got, want)
	}
	if len(sc.Kinds) != 1 {
		t.Errorf("kinds = %v", sc.Kinds)
	}
	if _, err := ForInstance(&v1alpha1.PromiseOutput{Namespaces: []string{"${namespace}-${name}"}}, "a", strings.Repeat("n", 62)); err == nil {
		t.Error("a rule expanding past 63 characters was accepted")
	}
	// Instance names are the team's: ${name} without ${namespace} would let
	// an instance named kube-system (or team-b) render there.
	for _, rule := range []string{"${name}", "x-${name}", "${name}-data"} {
		if _, err := ForInstance(&v1alpha1.PromiseOutput{Namespaces: []string{rule}}, "team-a", "kube-system"); err == nil ||
			!strings.Contains(err.Error(), "without ${namespace}") {
			t.Errorf("rule %s: %v, want refused", rule, err)
		}
	}
	if got := strings.Join(Derived(out, "team-a", "db"), ","); got != "team-a-cache,db-team-a" {
		t.Errorf("derived = %s, want team-a-cache,db-team-a", got)
	}
	if got := Derived(&v1alpha1.PromiseOutput{Namespaces: []string{"${namespace}"}}, "team-a", "db"); len(got) != 0 {
		t.Errorf("derived = %v, want none (the instance's own)", got)
	}
	sc, err = ForInstance(nil, "team-a", "db")
	if err != nil || len(sc.Kinds) != 0 || len(sc.Namespaces) != 1 {
		t.Errorf("nil output: %v, %v", sc, err)
	}
}

func TestCheck(t *testing.T) {
	sc := &v1alpha1.WorkScope{
		Namespaces: []string{"team-a", "team-a-cache"},
		Kinds: []v1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}, {Kind: "ConfigMap"}, {Kind: "Namespace"},
			{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}},
	}
	cases := []struct {
		name string
		obj  Object
		rule string // "" allowed; else a fragment of the rule broken
	}{
		{"deployment in own namespace", Object{Group: "apps", Kind: "Deployment", Namespace: "team-a", Name: "db"}, ""},
		{"configmap in allowed extra namespace", Object{Kind: "ConfigMap", Namespace: "team-a-cache", Name: "c"}, ""},
		{"own Namespace object", Object{Kind: "Namespace", Name: "team-a", ClusterScoped: true}, ""},
		{"kind not declared", Object{Kind: "Secret", Namespace: "team-a", Name: "s"}, "not in the Promise's output.kinds"},
		{"same kind name, other group", Object{Group: "evil.example.com", Kind: "Deployment", Namespace: "team-a", Name: "d"}, "output.kinds"},
		{"kube-system", Object{Kind: "ConfigMap", Namespace: "kube-system", Name: "c"}, "namespace kube-system is neither"},
		{"other team", Object{Kind: "ConfigMap", Namespace: "team-b", Name: "c"}, "namespace team-b"},
		{"no namespace", Object{Kind: "ConfigMap", Name: "c"}, "has no namespace"},
		{"foreign Namespace object", Object{Kind: "Namespace", Name: "kube-system", ClusterScoped: true}, "Namespace object may only"},
		{"cluster-scoped even when declared", Object{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "x", ClusterScoped: true}, "cluster-scoped"},
		{"finalizers of its own (nobody removes them: it would never go)", Object{Kind: "ConfigMap", Namespace: "team-a", Name: "x", Finalizers: true}, "metadata.finalizers"},
		{"a list (a top-level items field), even of a declared kind in its namespace", Object{Kind: "ConfigMap", Namespace: "team-a", Name: "x", List: true}, "top-level items"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(sc, c.obj)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("allowed, want a violation with %q", c.rule)
			}
			if !strings.Contains(v.Rule, c.rule) || v.Object == "" {
				t.Errorf("violation %q, want rule with %q", err, c.rule)
			}
		})
	}
	if err := Check(nil, Object{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "x", ClusterScoped: true}); err != nil {
		t.Errorf("nil scope (fleet resources) refused: %v", err)
	}
}

func TestBuiltinClusterScoped(t *testing.T) {
	if !BuiltinClusterScoped("rbac.authorization.k8s.io", "ClusterRoleBinding") || !BuiltinClusterScoped("", "Namespace") {
		t.Error("built-in cluster-scoped kinds not known")
	}
	if BuiltinClusterScoped("", "ConfigMap") || BuiltinClusterScoped("example.com", "Namespace") {
		t.Error("namespaced kind judged cluster-scoped")
	}
}
