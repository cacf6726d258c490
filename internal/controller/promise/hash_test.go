package promise

import (
	"encoding/base64"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func content(schema, values string) *fleetv1alpha1.PromiseContent {
	c := &fleetv1alpha1.PromiseContent{
		API: fleetv1alpha1.PromiseAPI{Group: "g.example.com", Kind: "K", Schema: runtime.RawExtension{Raw: []byte(schema)}},
		Templates: &fleetv1alpha1.Templates{
			Engine: fleetv1alpha1.TemplateEngineHelm,
			Helm:   &fleetv1alpha1.HelmTemplate{Inline: base64.StdEncoding.EncodeToString([]byte("chart")), Values: &runtime.RawExtension{Raw: []byte(values)}},
		},
	}
	return c
}

func TestContentHashIgnoresKeyOrderAndSpacing(t *testing.T) {
	a, err := ContentHash(content(`{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, `{"x":1,"y":{"p":true,"q":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ContentHash(content(`{ "properties": {"b":{"type":"integer"}, "a":{"type":"string"}}, "type": "object" }`, "{\"y\":{\"q\":null,\"p\":true},\n \"x\":1}"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || len(a) != 64 {
		t.Errorf("hashes differ for the same content: %s %s", a, b)
	}
}

func TestContentHashSeesEveryChange(t *testing.T) {
	base, _ := ContentHash(content(`{"type":"object"}`, `{"replicas":1}`))
	for name, c := range map[string]*fleetv1alpha1.PromiseContent{
		"values":     content(`{"type":"object"}`, `{"replicas":2}`),
		"big number": content(`{"type":"object"}`, `{"replicas":10000000000000001}`),
		"schema":     content(`{"type":"object","x-kubernetes-preserve-unknown-fields":true}`, `{"replicas":1}`),
		"chart": func() *fleetv1alpha1.PromiseContent {
			c := content(`{"type":"object"}`, `{"replicas":1}`)
			c.Templates.Helm.Inline = base64.StdEncoding.EncodeToString([]byte("chart2"))
			return c
		}(),
		"fleet resource": func() *fleetv1alpha1.PromiseContent {
			c := content(`{"type":"object"}`, `{"replicas":1}`)
			c.FleetResources = []fleetv1alpha1.Manifest{{RawExtension: runtime.RawExtension{Raw: []byte(`{"kind":"Namespace"}`)}}}
			return c
		}(),
	} {
		h, err := ContentHash(c)
		if err != nil {
			t.Fatal(err)
		}
		if h == base {
			t.Errorf("%s: the hash did not change", name)
		}
	}
	// Numbers are kept exactly: two integers that collide as float64 still differ.
	x, _ := ContentHash(content(`{"type":"object"}`, `{"n":10000000000000001}`))
	y, _ := ContentHash(content(`{"type":"object"}`, `{"n":10000000000000000}`))
	if x == y {
		t.Error("large integers collide")
	}
}

// Policy is not content: placement, update policy, strategy, history limit
// and drift policy do not make a revision.
func TestPolicyIsNotContent(t *testing.T) {
	p := fleetv1alpha1.PromiseSpec{PromiseContent: *content(`{"type":"object"}`, `{}`)}
	before, _ := ContentHash(&p.PromiseContent)
	p.Placement = &fleetv1alpha1.ClusterSelector{Fleets: []string{"prod"}}
	p.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "cve"}
	p.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "three-waves"}
	p.DriftPolicy = fleetv1alpha1.DriftPolicyReport
	after, _ := ContentHash(&p.PromiseContent)
	if before != after {
		t.Error("a policy change changed the content hash")
	}
}
