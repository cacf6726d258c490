package render

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/scope"
)

// The tenant boundary: what an instance renders stays inside the Promise's
// output, and a team's Override stays inside the objects it patches.

const webTemplate = `apiVersion: v1
kind: Service
metadata:
  name: {{ .instance.metadata.name | quote }}
spec:
  ports:
  - name: http
    port: {{ .spec.port }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-config" .instance.metadata.name | quote }}
data:
  port: {{ .spec.port | quote }}
`

// webPromise renders a Service and a ConfigMap from an integer spec.port.
func webPromise(extra ...string) *v1alpha1.PromiseContent {
	c := goPromise(append([]string{"web.yaml", webTemplate}, extra...)...)
	c.API.Schema = raw(`{"type":"object","properties":{"port":{"type":"integer","minimum":1,"maximum":65535}},
		"x-kubernetes-validations":[{"rule":"!has(self.port) || self.port != 22","message":"port 22 is for ssh"}]}`)
	c.Output = &v1alpha1.PromiseOutput{Kinds: []v1alpha1.OutputKind{{Kind: "Service"}, {Kind: "ConfigMap"}}}
	return c
}

func webInput(t *testing.T, c *v1alpha1.PromiseContent, overrides ...v1alpha1.Override) Input {
	t.Helper()
	sc, err := scope.ForInstance(c.Output, "team-a", "web")
	if err != nil {
		t.Fatal(err)
	}
	return Input{Promise: "web", Revision: "web-1", Content: c, Instance: instance("team-a", "web", map[string]any{"port": int64(80)}),
		Cluster: SampleCluster(), Overrides: overrides, Scope: sc}
}

func teamOverrideOf(name string, typ v1alpha1.PatchType, patch string, resources ...v1alpha1.ResourceSelector) v1alpha1.Override {
	o := override(name, typ, patch)
	o.Namespace = "team-a"
	o.Spec.Resources = resources
	return o
}

func TestScopeConfinesInstanceRender(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template string
		want     string
	}{{
		name:     "an undeclared cluster-scoped kind",
		template: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: evil\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n",
		want:     "ClusterRoleBinding.rbac.authorization.k8s.io evil: kind ClusterRoleBinding.rbac.authorization.k8s.io is not in the Promise's output.kinds (Service, ConfigMap)",
	}, {
		name:     "another namespace",
		template: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n  namespace: kube-system\n",
		want:     "ConfigMap kube-system/evil: namespace kube-system is neither the instance's (team-a) nor one the Promise's output.namespaces allow",
	}, {
		name:     "an undeclared namespaced kind",
		template: "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n",
		want:     "Secret team-a/s: kind Secret is not in the Promise's output.kinds",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := webInput(t, webPromise("extra.yaml", tc.template))
			_, err := Render(in)
			var v *scope.Violation
			if !errors.As(err, &v) {
				t.Fatalf("error %v, want a *scope.Violation", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rendering promise web for team-a/web") {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			// Without a scope (callers that check elsewhere) it renders.
			in.Scope = nil
			if _, err := Render(in); err != nil {
				t.Errorf("without scope: %v", err)
			}
		})
	}

	t.Run("a namespace rule allows its namespace, and a declared Namespace object", func(t *testing.T) {
		c := webPromise("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a-web-cache\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: team-a-web-cache\n")
		c.Output.Kinds = append(c.Output.Kinds, v1alpha1.OutputKind{Kind: "Namespace"})
		c.Output.Namespaces = []string{"${namespace}-${name}-cache"}
		if _, err := Render(webInput(t, c)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fleet resources are not confined", func(t *testing.T) {
		c := webPromise()
		c.FleetResources = []v1alpha1.Manifest{{RawExtension: raw(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"web-reader"}}`)}}
		if _, err := RenderFleetResources(webInput(t, c)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a platform Override is checked too", func(t *testing.T) {
		in := webInput(t, webPromise(), override("p", v1alpha1.PatchJSONMerge,
			`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","spec":null,"roleRef":{"kind":"ClusterRole","name":"cluster-admin"}}`))
		in.Overrides[0].Spec.Resources = []v1alpha1.ResourceSelector{{Kind: "Service"}}
		_, err := Render(in)
		var v *scope.Violation
		if !errors.As(err, &v) || !strings.Contains(v.Object, "ClusterRoleBinding") {
			t.Fatalf("error %v, want a *scope.Violation for the ClusterRoleBinding", err)
		}
	})

	t.Run("examples must stay inside the output", func(t *testing.T) {
		c := webPromise("extra.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n")
		c.Examples = []v1alpha1.PromiseExample{{Name: "small", Spec: raw(`{"port":80}`)}}
		err := RenderExamples(c, nil)
		if err == nil || !strings.Contains(err.Error(), `example "small"`) || !strings.Contains(err.Error(), "not in the Promise's output.kinds") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestTeamOverridesStayInsideTheirObjects(t *testing.T) {
	svc := v1alpha1.ResourceSelector{Kind: "Service"}
	for _, tc := range []struct {
		name string
		o    v1alpha1.Override
		want string
	}{{
		name: "JSONMerge changing apiVersion and kind",
		o: teamOverrideOf("escalate", v1alpha1.PatchJSONMerge,
			`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"}}`, svc),
		want: "override team-a/escalate: the patch sets apiVersion",
	}, {
		name: "JSONMerge changing only kind",
		o:    teamOverrideOf("kind", v1alpha1.PatchJSONMerge, `{"kind":"Secret"}`, svc),
		want: "the patch sets kind",
	}, {
		name: "StrategicMerge $retainKeys dropping the namespace",
		o:    teamOverrideOf("retain", v1alpha1.PatchStrategicMerge, `{"metadata":{"$retainKeys":["name","labels"]}}`, svc),
		want: `override team-a/retain: the patch uses "$retainKeys" at patch.metadata`,
	}, {
		name: "StrategicMerge $patch: replace",
		o:    teamOverrideOf("replace", v1alpha1.PatchStrategicMerge, `{"spec":{"$patch":"replace","ports":[{"port":1}]}}`, svc),
		want: `the patch uses "$patch" at patch.spec`,
	}, {
		name: "a directive deep in a list",
		o:    teamOverrideOf("deep", v1alpha1.PatchStrategicMerge, `{"spec":{"ports":[{"name":"http","$patch":"delete"}]}}`, svc),
		want: `"$patch" at patch.spec.ports[0]`,
	}, {
		name: "renaming",
		o:    teamOverrideOf("rename", v1alpha1.PatchJSONMerge, `{"metadata":{"name":"other"}}`, svc),
		want: "the patch sets metadata.name",
	}, {
		name: "moving",
		o:    teamOverrideOf("move", v1alpha1.PatchJSONMerge, `{"metadata":{"namespace":null}}`, svc),
		want: "the patch sets metadata.namespace",
	}, {
		name: "dropping metadata",
		o:    teamOverrideOf("nometa", v1alpha1.PatchJSONMerge, `{"metadata":null}`, svc),
		want: "the patch replaces metadata",
	}, {
		name: "values breaking the schema's type",
		o:    teamOverrideOf("inject", v1alpha1.PatchValues, `{"port":"80\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding"}`),
		want: "override team-a/inject: the values it patches in break the Promise's schema: spec.port: Invalid value: \"string\": port in body must be of type integer",
	}, {
		name: "values out of bounds",
		o:    teamOverrideOf("big", v1alpha1.PatchValues, `{"port":70000}`),
		want: "spec.port: Invalid value: 70000: port in body should be less than or equal to 65535",
	}, {
		name: "values with a field the schema does not declare",
		o:    teamOverrideOf("extra", v1alpha1.PatchValues, `{"annotations":{"a":"b"}}`),
		want: "spec.annotations: Forbidden: not a field of the Promise's schema",
	}, {
		name: "values breaking a CEL rule",
		o:    teamOverrideOf("ssh", v1alpha1.PatchValues, `{"port":22}`),
		want: "port 22 is for ssh",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(webInput(t, webPromise(), tc.o))
			var oe *OverrideError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v, want an *OverrideError", err)
			}
			if oe.Override != "team-a/"+tc.o.Name || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.o.Spec.Type != v1alpha1.PatchValues {
				// The controller judges the same from the spec alone.
				if err := CheckTeamPatch(&tc.o); !errors.As(err, &oe) {
					t.Errorf("CheckTeamPatch: %v", err)
				}
			}
		})
	}

	t.Run("a team may change what it owns", func(t *testing.T) {
		out, err := Render(webInput(t, webPromise(),
			teamOverrideOf("labels", v1alpha1.PatchStrategicMerge, `{"metadata":{"labels":{"tier":"web"}},"spec":{"ports":[{"name":"http","port":8080}]}}`, svc),
			teamOverrideOf("port", v1alpha1.PatchValues, `{"port":8081}`)))
		if err != nil {
			t.Fatal(err)
		}
		if got := out.AppliedOverrides; len(got) != 2 {
			t.Errorf("applied %v", got)
		}
		for _, m := range out.Manifests {
			if m.GetKind() == "Service" && m.GetLabels()["tier"] != "web" {
				t.Errorf("service labels %v", m.GetLabels())
			}
			if m.GetKind() == "ConfigMap" && m.Object["data"].(map[string]any)["port"] != "8081" {
				t.Errorf("configmap %v", m.Object["data"])
			}
		}
	})

	t.Run("the platform team's Overrides are not restricted", func(t *testing.T) {
		rename := override("rename", v1alpha1.PatchJSONMerge, `{"metadata":{"name":"web-edge"}}`)
		rename.Spec.Resources = []v1alpha1.ResourceSelector{svc}
		retain := override("retain", v1alpha1.PatchStrategicMerge, `{"metadata":{"$retainKeys":["name","labels"]}}`)
		retain.Spec.Resources = []v1alpha1.ResourceSelector{{Kind: "ConfigMap"}}
		values := override("values", v1alpha1.PatchValues, `{"port":"eighty"}`)
		out, err := Render(webInput(t, webPromise(), rename, retain, values))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Manifests {
			if m.GetKind() == "Service" && m.GetName() != "web-edge" {
				t.Errorf("service %s", m.GetName())
			}
			// The namespace $retainKeys dropped is the instance's again, never the member's default.
			if m.GetNamespace() != "team-a" {
				t.Errorf("%s %s in namespace %q", m.GetKind(), m.GetName(), m.GetNamespace())
			}
		}
	})

	t.Run("an identity change is refused however it came about", func(t *testing.T) {
		o := teamOverrideOf("o", v1alpha1.PatchJSONMerge, `{}`)
		before := instance("team-a", "web", nil)
		after := before.DeepCopy()
		unstructured.RemoveNestedField(after.Object, "metadata", "namespace")
		err := checkIdentity(&o, before, after)
		if err == nil || !strings.Contains(err.Error(), `would change metadata.namespace from "team-a" to ""`) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestCheckValuesPatch(t *testing.T) {
	c := webPromise()
	c.API.Schema = raw(`{"type":"object","required":["port"],"properties":{"port":{"type":"integer","maximum":65535},"name":{"type":"string"}}}`)
	for _, tc := range []struct {
		name, patch, want string
		team              bool
	}{
		{"a valid value, required fields aside", `{"name":"x"}`, "", true},
		{"removing a key", `{"name":null}`, "", true},
		{"a string into an integer", `{"port":"80\n---\nkind: Secret"}`, "spec.port: Invalid value: \"string\": port in body must be of type integer", true},
		{"out of bounds", `{"port":99999}`, "less than or equal to 65535", true},
		{"an undeclared field", `{"ports":[1]}`, "spec.ports: Forbidden: not a field of the Promise's schema", true},
		{"the platform's is not judged", `{"port":"x"}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := teamOverrideOf("v", v1alpha1.PatchValues, tc.patch)
			if !tc.team {
				o.Namespace = v1alpha1.PlatformNamespace
			}
			err := CheckValuesPatch(c, &o)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var oe *OverrideError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want an *OverrideError containing %q", err, tc.want)
			}
		})
	}
}

// The attack: a Promise that renders the instance's Namespace (as the
// per-team how-to's does) and a team's Override that labels it. A
// Namespace's labels are the member's policy for everything in it: Pod
// Security Admission's level (privileged lifts the cluster's default), the
// selectors of network and mesh policies. A team's Override never patches
// the Namespace object, whatever its resources say; its other objects it does.
func TestTeamOverridesLeaveTheNamespaceObject(t *testing.T) {
	c := webPromise(`ns.yaml`, `apiVersion: v1
kind: Namespace
metadata:
  name: {{ .instance.metadata.namespace | quote }}
  labels:
    pod-security.kubernetes.io/enforce: restricted
`)
	c.Output.Kinds = append(c.Output.Kinds, v1alpha1.OutputKind{Kind: "Namespace"})
	privileged := `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged","team":"a"}}}`
	for _, o := range []v1alpha1.Override{
		teamOverrideOf("psa", v1alpha1.PatchJSONMerge, privileged, v1alpha1.ResourceSelector{Kind: "Namespace"}),
		teamOverrideOf("psa-all", v1alpha1.PatchJSONMerge, privileged),
		teamOverrideOf("psa-smp", v1alpha1.PatchStrategicMerge, privileged),
	} {
		t.Run(o.Name, func(t *testing.T) {
			out, err := Render(webInput(t, c, o))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Manifests {
				level := m.GetLabels()["pod-security.kubernetes.io/enforce"]
				switch {
				case m.GetKind() == "Namespace" && (level != "restricted" || m.GetLabels()["team"] != ""):
					t.Errorf("the team's Override relabelled Namespace %s: %v", m.GetName(), m.GetLabels())
				case m.GetKind() != "Namespace" && len(o.Spec.Resources) == 0 && m.GetLabels()["team"] != "a":
					t.Errorf("the team's Override did not label %s %s", m.GetKind(), m.GetName())
				}
			}
		})
	}
	// The platform's Override may.
	platform := override("psa", v1alpha1.PatchJSONMerge, privileged)
	out, err := Render(webInput(t, c, platform))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.Manifests {
		if m.GetKind() == "Namespace" && m.GetLabels()["pod-security.kubernetes.io/enforce"] != "privileged" {
			t.Errorf("the platform's Override did not label the Namespace: %v", m.GetLabels())
		}
	}
}

// A team's Override may label and annotate its objects, but not with
// Flotilla's own keys: prune: disabled would leave them on members once the
// instance is deleted or the team's tenancy revoked, reconcile: disabled
// would take them out of drift correction. The render is refused; the
// platform's Override may set them.
func TestTeamOverridesLeaveFlotillasOwnKeys(t *testing.T) {
	c := webPromise()
	for _, tc := range []struct{ name, patch string }{
		{"prune disabled", `{"metadata":{"annotations":{"fleet.flotilla.dev/prune":"disabled"}}}`},
		{"reconcile disabled", `{"metadata":{"annotations":{"fleet.flotilla.dev/reconcile":"disabled"}}}`},
		{"a label of a subdomain", `{"metadata":{"labels":{"agent.fleet.flotilla.dev/x":"y"}}}`},
	} {
		for _, typ := range []v1alpha1.PatchType{v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge} {
			t.Run(tc.name+"/"+string(typ), func(t *testing.T) {
				o := teamOverrideOf("keep", typ, tc.patch)
				var oe *OverrideError
				if err := CheckTeamPatch(&o); !errors.As(err, &oe) {
					t.Errorf("CheckTeamPatch = %v, want the Override refused as written", err)
				}
				_, err := Render(webInput(t, c, o))
				if !errors.As(err, &oe) || !strings.Contains(err.Error(), "fleet.flotilla.dev") {
					t.Fatalf("render = %v, want the team's Override refused", err)
				}
			})
		}
		t.Run(tc.name+"/platform", func(t *testing.T) {
			if _, err := Render(webInput(t, c, override("keep", v1alpha1.PatchJSONMerge, tc.patch))); err != nil {
				t.Errorf("the platform's Override was refused: %v", err)
			}
		})
	}
	// Other keys stay the team's to set.
	if _, err := Render(webInput(t, c, teamOverrideOf("own", v1alpha1.PatchJSONMerge,
		`{"metadata":{"annotations":{"example.com/owner":"team-a","flotilla.dev.example.com/x":"y"}}}`))); err != nil {
		t.Errorf("a team's own annotation was refused: %v", err)
	}
}

// On a git-delivered cluster Argo CD or Flux applies and prunes what the hub
// commits, and reads their own annotations as Flotilla's agent reads
// fleet.flotilla.dev/prune: a team's Override annotating its objects
// kustomize.toolkit.fluxcd.io/prune: disabled, or argocd.argoproj.io/sync-options:
// Prune=false, would leave them on the member once its instance is deleted
// or its tenancy revoked; .../reconcile: disabled or ssa: IfNotPresent would
// take them out of drift correction.
func TestTeamOverridesLeaveTheGitOpsToolsKeys(t *testing.T) {
	c := webPromise()
	for _, patch := range []string{
		`{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/prune":"disabled"}}}`,
		`{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/reconcile":"disabled"}}}`,
		`{"metadata":{"annotations":{"kustomize.toolkit.fluxcd.io/ssa":"IfNotPresent"}}}`,
		`{"metadata":{"labels":{"kustomize.toolkit.fluxcd.io/name":"flux-system"}}}`,
		`{"metadata":{"annotations":{"argocd.argoproj.io/sync-options":"Prune=false"}}}`,
		`{"metadata":{"annotations":{"argocd.argoproj.io/compare-options":"IgnoreExtraneous"}}}`,
		// Argo CD reads Helm's hook annotations on any manifest: a hook is
		// never pruned when it leaves the directory, and resource-policy:
		// keep is its Delete=false.
		`{"metadata":{"annotations":{"helm.sh/hook":"post-install"}}}`,
		`{"metadata":{"annotations":{"helm.sh/resource-policy":"keep"}}}`,
	} {
		for _, typ := range []v1alpha1.PatchType{v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge} {
			o := teamOverrideOf("keep", typ, patch)
			var oe *OverrideError
			if err := CheckTeamPatch(&o); !errors.As(err, &oe) {
				t.Errorf("%s %s: CheckTeamPatch = %v, want the Override refused as written", typ, patch, err)
			}
			if _, err := Render(webInput(t, c, o)); !errors.As(err, &oe) {
				t.Errorf("%s %s: render = %v, want the team's Override refused", typ, patch, err)
			}
		}
		if _, err := Render(webInput(t, c, override("keep", v1alpha1.PatchJSONMerge, patch))); err != nil {
			t.Errorf("the platform's Override %s was refused: %v", patch, err)
		}
	}
}

// A Promise that prints a map of the instance's as labels or annotations
// (toYaml, or a range over its keys, as the templates page recommends; a
// chart's commonAnnotations) let the team choose their keys: with
// fleet.flotilla.dev/prune: disabled (or Flux's, or Argo CD's) the objects
// stayed on members once the instance was deleted or the team's tenancy
// revoked, which a team's Override may not do. A key of those domains is the
// platform's to write: one that a team's value made is refused.
func TestInstanceValuesLeaveFlotillasOwnKeys(t *testing.T) {
	const annotated = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-annotated" .instance.metadata.name | quote }}
  annotations:{{ toYaml .spec.annotations | nindent 4 }}
  labels:
    {{- range $k, $v := .spec.labels }}
    {{ $k }}: {{ $v | quote }}
    {{- end }}
`
	const copied = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-copied" .instance.metadata.name | quote }}
  annotations:{{ toYaml .instance.metadata.annotations | nindent 4 }}
`
	promise := func() *v1alpha1.PromiseContent {
		c := webPromise("annotated.yaml", annotated, "copied.yaml", copied)
		c.API.Schema = raw(`{"type":"object"}`)
		return c
	}
	input := func(t *testing.T, spec map[string]any, annotations map[string]string, overrides ...v1alpha1.Override) Input {
		in := webInput(t, promise(), overrides...)
		if spec == nil {
			spec = map[string]any{}
		}
		spec["port"] = int64(80)
		for _, f := range []string{"annotations", "labels"} {
			if _, ok := spec[f]; !ok {
				spec[f] = map[string]any{"example.com/owner": "team-a"}
			}
		}
		in.Instance = instance("team-a", "web", spec)
		in.Instance.SetAnnotations(annotations)
		return in
	}
	refused := func(t *testing.T, in Input, key string) {
		t.Helper()
		out, err := Render(in)
		if !errors.Is(err, ErrValueCreatesStructure) || !strings.Contains(err.Error(), key) {
			for _, m := range out.Manifests {
				t.Logf("rendered %s %s: labels %v annotations %v", m.GetKind(), m.GetName(), m.GetLabels(), m.GetAnnotations())
			}
			t.Fatalf("render = %v, want it refused (%v) naming %s", err, ErrValueCreatesStructure, key)
		}
	}
	for _, key := range []string{"fleet.flotilla.dev/prune", "fleet.flotilla.dev/reconcile",
		"kustomize.toolkit.fluxcd.io/prune", "argocd.argoproj.io/sync-options"} {
		t.Run("toYaml of the spec/"+key, func(t *testing.T) {
			refused(t, input(t, map[string]any{"annotations": map[string]any{key: "disabled"}}, nil), key)
		})
		t.Run("a range over the spec's keys/"+key, func(t *testing.T) {
			refused(t, input(t, map[string]any{"labels": map[string]any{key: "disabled"}}, nil), key)
		})
		t.Run("the instance's own annotations/"+key, func(t *testing.T) {
			// The templates do not see them: the object renders without.
			out, err := Render(input(t, nil, map[string]string{key: "disabled", "example.com/x": "y"}))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Manifests {
				if _, ok := m.GetAnnotations()[key]; ok || m.GetName() == "web-copied" && m.GetAnnotations()["example.com/x"] != "y" {
					t.Errorf("%s %s: annotations %v", m.GetKind(), m.GetName(), m.GetAnnotations())
				}
			}
		})
		t.Run("a team's Values Override/"+key, func(t *testing.T) {
			o := teamOverrideOf("keep", v1alpha1.PatchValues, `{"annotations":{"`+key+`":"disabled"}}`)
			refused(t, input(t, nil, nil, o), key)
		})
	}
	t.Run("a Helm chart's commonAnnotations", func(t *testing.T) {
		chart := pgChart(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n" +
			"  annotations:\n    {{- toYaml .Values.commonAnnotations | nindent 4 }}\ndata:\n  version: {{ .Values.version | quote }}\n"})
		refused(t, helmInput(chart, map[string]any{"commonAnnotations": map[string]any{"fleet.flotilla.dev/prune": "disabled"}}),
			"fleet.flotilla.dev/prune")
	})

	// Bitnami's charts render commonAnnotations (and most other maps of
	// values) through tpl, which runs a value as a template: the key is
	// built at render time and the value never holds it as written.
	t.Run("a Helm chart's commonAnnotations through tpl", func(t *testing.T) {
		chart := pgChart(t, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n" +
			"  annotations:\n    {{- tpl (toYaml .Values.commonAnnotations) . | nindent 4 }}\ndata:\n  version: {{ .Values.version | quote }}\n"})
		refused(t, helmInput(chart, map[string]any{"commonAnnotations": map[string]any{`{{ print "fleet.flotilla.dev" "/prune" }}`: "disabled"}}),
			"fleet.flotilla.dev/prune")
		// A chart's own key, and a team's harmless tpl, render.
		if _, err := Render(helmInput(chart, map[string]any{"commonAnnotations": map[string]any{`{{ print "example.com" "/x" }}`: "{{ .Release.Name }}"}})); err != nil {
			t.Errorf("a team's own tpl key was refused: %v", err)
		}
	})

	// The platform's own keys, and the team's other keys, still render.
	platform := override("keep", v1alpha1.PatchValues, `{"annotations":{"fleet.flotilla.dev/prune":"disabled"}}`)
	if _, err := Render(input(t, nil, nil, platform)); err != nil {
		t.Errorf("the platform's Values Override was refused: %v", err)
	}
	literal := webPromise("kept.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  annotations:\n    fleet.flotilla.dev/prune: disabled\n")
	if _, err := Render(webInput(t, literal)); err != nil {
		t.Errorf("the template's own key was refused: %v", err)
	}
	out, err := Render(input(t, map[string]any{"annotations": map[string]any{"example.com/x": "fleet.flotilla.dev/prune"}},
		map[string]string{"flotilla.dev.example.com/x": "y"}))
	if err != nil {
		t.Fatalf("a team's own keys were refused: %v", err)
	}
	if len(out.Manifests) != 4 {
		t.Errorf("rendered %d objects, want 4", len(out.Manifests))
	}
}

// Argo CD applies the items of any object with a top-level items list
// instead of the object (unstructured.Unstructured.IsList), kustomize those
// of a kind ending in List: a team's JSONMerge Override adding items to its
// own ConfigMap passed every check of the ConfigMap and put a
// ClusterRoleBinding to cluster-admin on a git-delivered member.
func TestAnInstancesObjectIsNoList(t *testing.T) {
	const crb = `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"evil"},` +
		`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},` +
		`"subjects":[{"kind":"ServiceAccount","name":"default","namespace":"team-a"}]}`
	for _, typ := range []v1alpha1.PatchType{v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge} {
		t.Run(string(typ), func(t *testing.T) {
			o := teamOverrideOf("list", typ, `{"items":[`+crb+`]}`)
			out, err := Render(webInput(t, webPromise(), o))
			var v *scope.Violation
			if !errors.As(err, &v) || !strings.Contains(err.Error(), "items") {
				for _, m := range out.Manifests {
					t.Logf("%s %s: list %v", m.GetKind(), m.GetName(), m.IsList())
				}
				t.Fatalf("render = %v, want the object refused as a list", err)
			}
		})
	}
	t.Run("a template's", func(t *testing.T) {
		_, err := Render(webInput(t, webPromise("list.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: list\nitems: []\n")))
		var v *scope.Violation
		if !errors.As(err, &v) {
			t.Fatalf("render = %v, want the object refused as a list", err)
		}
	})
	// The platform's fleet resources may hold what they like.
	c := webPromise()
	c.FleetResources = []v1alpha1.Manifest{{RawExtension: raw(`{"apiVersion":"v1","kind":"List","metadata":{"name":"l"},"items":[]}`)}}
	if _, err := RenderFleetResources(Input{Promise: "web", Revision: "web-1", Content: c, Cluster: SampleCluster()}); err != nil {
		t.Errorf("fleet resources: %v", err)
	}
}

// A team's Override never patches a Namespace object, whose labels set the
// member's Pod Security level for the whole namespace; a Promise that
// prints a map of the instance's as the labels of its Namespace object (to
// let teams label their namespaces for policy selectors) let the team's
// value lift it all the same.
func TestInstanceValuesLeaveTheNamespacesPodSecurity(t *testing.T) {
	c := webPromise(`ns.yaml`, `apiVersion: v1
kind: Namespace
metadata:
  name: {{ .instance.metadata.namespace | quote }}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    {{- range $k, $v := .spec.namespaceLabels }}
    {{ $k }}: {{ $v | quote }}
    {{- end }}
`)
	c.API.Schema = raw(`{"type":"object"}`)
	c.Output.Kinds = append(c.Output.Kinds, v1alpha1.OutputKind{Kind: "Namespace"})
	input := func(labels map[string]any) Input {
		in := webInput(t, c)
		in.Instance = instance("team-a", "web", map[string]any{"port": int64(80), "namespaceLabels": labels})
		return in
	}
	for _, key := range []string{"pod-security.kubernetes.io/enforce", "pod-security.kubernetes.io/warn"} {
		out, err := Render(input(map[string]any{key: "privileged"}))
		if !errors.Is(err, ErrValueCreatesStructure) || !strings.Contains(err.Error(), key) {
			for _, m := range out.Manifests {
				t.Logf("%s %s: %v", m.GetKind(), m.GetName(), m.GetLabels())
			}
			t.Errorf("%s: render = %v, want it refused", key, err)
		}
	}
	if _, err := Render(input(map[string]any{"team": "a"})); err != nil {
		t.Errorf("a team's own label was refused: %v", err)
	}
}

// An instance's render of no object is refused: its Work would have the
// agent prune all the instance runs and report that healthy.
func TestAnInstanceRenderOfNothingIsRefused(t *testing.T) {
	c := goPromise("web.yaml", `{{ if eq .instance.metadata.name "other" }}`+webTemplate+`{{ end }}`)
	c.Output = &v1alpha1.PromiseOutput{Kinds: []v1alpha1.OutputKind{{Kind: "Service"}}}
	if _, err := Render(webInput(t, c)); !errors.Is(err, ErrRenderedNothing) {
		t.Errorf("a render of nothing: error %v, want ErrRenderedNothing", err)
	}
}

// A team's Override (or a value the templates print) putting a finalizer of
// its own on its object: nobody would ever remove it, so the object, and
// what it runs, would stay on members once the instance or the team's
// tenancy is gone, as prune: disabled would.
func TestATeamsRenderSetsNoFinalizer(t *testing.T) {
	c := webPromise()
	for _, typ := range []v1alpha1.PatchType{v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge} {
		_, err := Render(webInput(t, c, teamOverrideOf("keep", typ, `{"metadata":{"finalizers":["team.example.com/keep"]}}`)))
		if err == nil || !strings.Contains(err.Error(), "metadata.finalizers") {
			t.Errorf("%s: render = %v, want it refused for the finalizer", typ, err)
		}
	}
}
