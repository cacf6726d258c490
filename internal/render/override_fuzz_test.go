package render

import (
	"testing"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const deploymentTemplate = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .instance.metadata.name | quote }}
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx
        ports: [{containerPort: 80}]
        env: [{name: A, value: b}]
      volumes: [{name: data, emptyDir: {}}]
`

// FuzzTeamOverride renders a Promise (a Service, a ConfigMap, a Deployment
// and the instance's Namespace) with a team's Override of any type and any
// patch: the render fails with an error or yields the objects it rendered,
// each the same object (apiVersion, kind, name, namespace), in the scope,
// the Namespace untouched; it never panics.
//
//	go test ./internal/render -run '^$' -fuzz FuzzTeamOverride -fuzztime 1m
func FuzzTeamOverride(f *testing.F) {
	for _, seed := range []string{
		`{"metadata":{"labels":{"tier":"web"}},"spec":{"ports":[{"name":"http","port":8080}]}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"evil"},{"name":"side","image":"x"}],"volumes":null}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"A","$patch":"delete"}]}]}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":null}],"$setElementOrder/containers":[{"name":"app"}]}}}}`,
		`{"metadata":{"annotations":{"fleet.flotilla.dev/prune":"disabled"},"finalizers":["x"]}}`,
		`{"items":[{"kind":"ClusterRoleBinding"}],"data":{"a":null,"b":1}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"app","ports":[{"containerPort":"80"}],"resources":{"limits":{"cpu":"x"}}}]}}}}`,
		`{"spec":{"selector":null,"template":{"metadata":{"labels":[]}}}}`,
		`{"port":8081}`, `{"port":"80\n---\nkind: X"}`, `{"port":null}`, `[]`, `null`, `"x"`,
	} {
		for typ := range uint8(3) {
			f.Add(seed, typ, []string{"", "Deployment", ""}[typ])
		}
	}
	types := []v1alpha1.PatchType{v1alpha1.PatchJSONMerge, v1alpha1.PatchStrategicMerge, v1alpha1.PatchValues}
	f.Fuzz(func(t *testing.T, patch string, typ uint8, kind string) {
		c := webPromise("deploy.yaml", deploymentTemplate, "ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n")
		c.Output.Kinds = append(c.Output.Kinds, v1alpha1.OutputKind{Group: "apps", Kind: "Deployment"}, v1alpha1.OutputKind{Kind: "Namespace"})
		var sels []v1alpha1.ResourceSelector
		if kind != "" {
			sels = []v1alpha1.ResourceSelector{{Group: "*", Kind: kind}}
		}
		o := teamOverrideOf("fuzz", types[int(typ)%len(types)], patch, sels...)
		_ = CheckTeamPatch(&o)
		in := webInput(t, c)
		plain, err := Render(in)
		if err != nil {
			t.Fatalf("the Promise does not render without the Override: %v", err)
		}
		in.Overrides = []v1alpha1.Override{o}
		out, err := Render(in)
		if err != nil {
			return
		}
		if len(out.Manifests) != len(plain.Manifests) {
			t.Fatalf("the Override made %d objects of %d", len(out.Manifests), len(plain.Manifests))
		}
		for i, m := range out.Manifests {
			was := plain.Manifests[i]
			if keyOf(m) != keyOf(was) {
				t.Fatalf("the Override made %s of %s", keyOf(m), keyOf(was))
			}
			if isNamespaceObject(m) && !equalJSON(m.Object, was.Object) {
				t.Fatalf("a team's Override patched the Namespace: %v", m.Object)
			}
		}
	})
}
