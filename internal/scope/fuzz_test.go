package scope

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// FuzzForInstance derives the scope of an instance whose namespace and name
// a team chose, under an output rule a platform engineer wrote, and checks
// objects against it: nothing panics, a scope holds the instance's
// namespace first and only namespace names, a rule with ${name} needs
// ${namespace}, and Check lets through only what the scope holds.
//
//	go test ./internal/scope -run '^$' -fuzz FuzzForInstance -fuzztime 1m
func FuzzForInstance(f *testing.F) {
	for _, seed := range [][4]string{
		{"${namespace}-${name}", "team-a", "eu", "team-a-eu"},
		{"${name}", "team-a", "kube-system", "kube-system"},
		{"${namespace}-cache", "team-a", "x", "team-a-cache"},
		{"monitoring", "team-a", "x", "monitoring"},
		{"${namespace}${name}${namespace}", "a", "", "aa"},
		{"${namespace}-${name", "team-a", "-", "default"},
		{"${NAMESPACE}", "team-a", "x", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], "ConfigMap", false)
		f.Add(seed[0], seed[1], seed[2], seed[3], "Namespace", true)
	}
	f.Fuzz(func(t *testing.T, rule, namespace, name, objNamespace, kind string, clusterScoped bool) {
		out := &v1alpha1.PromiseOutput{Namespaces: []string{rule}, Kinds: []v1alpha1.OutputKind{{Kind: "ConfigMap"}, {Kind: "Namespace"}}}
		_ = Derived(out, namespace, name)
		sc, err := ForInstance(out, namespace, name)
		if err != nil {
			return
		}
		if strings.Contains(rule, "${name}") && !strings.Contains(rule, "${namespace}") {
			t.Fatalf("rule %q with ${name} alone gave scope %v", rule, sc.Namespaces)
		}
		if sc.Namespaces[0] != namespace {
			t.Fatalf("scope %v does not start with the instance's namespace %q", sc.Namespaces, namespace)
		}
		for _, ns := range sc.Namespaces[1:] {
			if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
				t.Fatalf("scope holds %q, not a namespace name", ns)
			}
		}
		obj := Object{Kind: kind, Namespace: objNamespace, Name: objNamespace, ClusterScoped: clusterScoped}
		if Check(sc, obj) == nil {
			in := slices.Contains(sc.Namespaces, objNamespace)
			if !in || (kind != "ConfigMap" && kind != "Namespace") || (clusterScoped && kind != "Namespace") {
				t.Fatalf("%s allowed in scope %+v", obj, sc)
			}
		}
	})
}
