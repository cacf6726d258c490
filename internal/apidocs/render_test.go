package apidocs

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

const widgetCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [things]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: string, jsonPath: .spec.size}
    - {name: Count, type: integer, jsonPath: .status.count, priority: 1}
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        x-kubernetes-validations:
        - {rule: "size(self.metadata.name) <= 10", message: "name at most 10"}
        properties:
          spec:
            type: object
            description: spec of the <widget>.
            required: [size]
            x-kubernetes-validations:
            - {rule: "self.size != 'huge' || has(self.limit)", message: "huge needs a limit"}
            properties:
              size: {type: string, enum: [small, huge], default: small, description: size of it}
              limit:
                x-kubernetes-int-or-string: true
                maxLength: 4
                x-kubernetes-validations: [{rule: "type(self) == int", message: ""}]
              pattern: {type: string, pattern: "^(a|b)$", minLength: 1, maxLength: 3}
              selector:
                type: object
                properties:
                  matchLabels: {type: object, additionalProperties: {type: string}}
                  matchExpressions: {type: array, items: {type: object}}
              parts:
                type: array
                maxItems: 5
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    weight: {type: integer, minimum: 0, maximum: 100}
              tags: {type: array, x-kubernetes-list-type: set, items: {type: string, maxLength: 8}}
              inline: {type: object, description: "elsewhere", properties: {a: {type: string}}}
              raw: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              count: {type: integer, format: int32}
              at: {type: string, format: date-time}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
                    message: {type: string}
                    lastTransitionTime: {type: string, format: date-time}
`

func widget(t *testing.T) Kind {
	t.Helper()
	c := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict([]byte(widgetCRD), c); err != nil {
		t.Fatal(err)
	}
	return Kind{Kind: "Widget", File: "widget.md", CRD: c, Collapse: map[string]string{"spec.inline": "see [there](x.md)"}}
}

func TestSections(t *testing.T) {
	s, err := Sections(widget(t))
	if err != nil {
		t.Fatal(err)
	}
	wants := map[string][]string{
		SectionSummary: {
			"| API version | `example.com/v1` |", "| scope | namespaced |", "| short names | `wd` |",
			"| subresources | `status` |", "| object rules | name at most 10 |",
		},
		SectionSpec: {
			"| `spec` | object | yes |  | rule: huge needs a limit | spec of the &lt;widget&gt;. |",
			"| `spec.size` | string | yes | `small` | one of `small`, `huge` | size of it |",
			"| `spec.limit` | int or string |  |  | length ≤ 4; rule: `type(self) == int` |  |",
			"| `spec.pattern` | string |  |  | length 1–3; pattern `^(a\\|b)$` |  |",
			"| `spec.selector` | label selector |",
			"| `spec.parts` | []object |  |  | items ≤ 5; unique by `name` |",
			"| `spec.parts[].name` | string | yes |",
			"| `spec.parts[].weight` | integer |  |  | 0–100 |",
			"| `spec.tags` | []string |  |  | unique items; each item: length ≤ 8 |",
			"| `spec.inline` | object |  |  |  | see [there](x.md) |",
			"| `spec.raw` | object (free-form) |",
		},
		SectionStatus: {"| `status.count` | integer |", "| `status.at` | time |", "| `status.conditions` | []Condition |"},
		SectionRules: {
			"| (the object) | `size(self.metadata.name) <= 10` | name at most 10 |",
			"| `spec` | `self.size != 'huge' \\|\\| has(self.limit)` | huge needs a limit |",
		},
		SectionColumns: {"| Size | string | `.spec.size` | always |", "| Count | integer | `.status.count` | `-o wide` |"},
	}
	for section, lines := range wants {
		for _, want := range lines {
			if !strings.Contains(s[section], want) {
				t.Errorf("%s lacks %q:\n%s", section, want, s[section])
			}
		}
	}
	for _, absent := range []string{"spec.inline.a", "matchLabels", "conditions[].reason"} {
		if strings.Contains(s[SectionSpec]+s[SectionStatus], absent) {
			t.Errorf("%s is documented, but is collapsed", absent)
		}
	}
	if i, j := strings.Index(s[SectionSpec], "`spec.inline`"), strings.Index(s[SectionSpec], "`spec.size`"); i > j {
		t.Error("fields are not sorted by name")
	}
}

func TestFill(t *testing.T) {
	page := []byte("# W\n\n" + beginMarker("spec") + "\nold\n" + endMarker("spec") + "\n\nprose\n")
	got, err := Fill(page, map[string]string{"spec": "new\n"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "# W\n\n" + beginMarker("spec") + "\nnew\n" + endMarker("spec") + "\n\nprose\n"; string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	again, err := Fill(got, map[string]string{"spec": "new\n"})
	if err != nil || string(again) != string(got) {
		t.Errorf("filling twice changed the page: %v", err)
	}
	for name, c := range map[string]struct {
		page     string
		sections map[string]string
		want     string
	}{
		"missing block":   {"# W\n", map[string]string{"spec": "x"}, "no \"<!-- BEGIN GENERATED spec"},
		"unfilled block":  {string(page) + beginMarker("status") + "\n" + endMarker("status"), map[string]string{"spec": "x"}, "2 generated blocks, but 1 sections"},
		"duplicate block": {string(page) + string(page), map[string]string{"spec": "x"}, "more than one spec block"},
		"no end marker":   {beginMarker("spec") + "\n", map[string]string{"spec": "x"}, "has no \"<!-- END GENERATED spec -->\" line"},
	} {
		if _, err := Fill([]byte(c.page), c.sections); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

func TestKinds(t *testing.T) {
	kinds, err := Kinds()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, k := range kinds {
		if files[k.File] {
			t.Errorf("two kinds on %s", k.File)
		}
		files[k.File] = true
		if _, err := Sections(k); err != nil {
			t.Errorf("%s: %v", k.Kind, err)
		}
	}
	for _, f := range []string{"cluster.md", "fleet.md", "promise.md", "promiserevision.md", "work.md", "rolloutstrategy.md",
		"rollout.md", "override.md", "driftexception.md", "fleetfreeze.md", InstanceFile} {
		if !files[f] {
			t.Errorf("no kind documented on %s", f)
		}
	}
}

func TestSameSchemaNoticesDivergence(t *testing.T) {
	a, b := widget(t).CRD, widget(t).CRD
	byKind := map[string]*apiextensionsv1.CustomResourceDefinition{"A": a, "B": b}
	if err := sameSchema(byKind, "A", "spec.parts", "B", "spec.parts"); err != nil {
		t.Fatalf("identical schemas: %v", err)
	}
	b.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["parts"].Items.Schema.Properties["weight"] =
		apiextensionsv1.JSONSchemaProps{Type: "integer", Maximum: ptr.To(50.0)}
	if err := sameSchema(byKind, "A", "spec.parts", "B", "spec.parts"); err == nil {
		t.Error("a changed schema went unnoticed")
	}
}
