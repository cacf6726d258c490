package gitdelivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team names its instance "kustomization": its file must not be one that
// kustomize (and so Flux's kustomize-controller, which then builds the
// team's directory as a kustomization instead of generating one for the
// cluster) reads as a Kustomization. Such a file holds the team's objects,
// not a Kustomization, so the build of the whole cluster's directory fails
// and no team's change reaches the member.
func TestAnInstanceNamedKustomizationIsNotAKustomizationFile(t *testing.T) {
	files, err := Files("clusters/a", []fleetv1alpha1.Work{
		work("db", "team-a", "kustomization", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kustomization","namespace":"team-a"}}`),
		work("db", "team-a", "orders", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"orders","namespace":"team-a"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	for p := range files {
		switch path.Base(p) {
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			t.Errorf("%s is a file kustomize reads as a Kustomization", p)
		}
	}
}

// An object two Works render stays in the file that held it, even when the
// other Work is older: team b cannot take team a's object over by changing
// its (older) instance to render it. Without a file holding it, the fleet
// resources keep it, else the oldest Work.
func TestAnObjectStaysWithTheWorkThatWroteItFirst(t *testing.T) {
	cm := func(team string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"shared"},"data":{"team":"` + team + `"}}`
	}
	older := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := work("mon", "team-a", "web", nil, cm("a"))
	a.CreationTimestamp = metav1.NewTime(older.Add(time.Hour))
	b := work("mon", "team-b", "evil", nil, cm("b"))
	b.Name = "mon-evil"
	b.CreationTimestamp = older
	fileA, fileB := "clusters/a/mon/team-a/web.yaml", "clusters/a/mon/team-b/evil.yaml"

	before, err := Plan("clusters/a", []fleetv1alpha1.Work{a}, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Plan("clusters/a", []fleetv1alpha1.Work{b, a}, before.Files)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(after.Files[fileA]), "team: a") || strings.Contains(string(after.Files[fileB]), "kind: ConfigMap") {
		t.Errorf("the object moved to team b's file:\n%s\n%s", after.Files[fileA], after.Files[fileB])
	}
	if msg := after.LeftOut[b.Name]; !strings.Contains(msg, "ConfigMap shared/web: another Work of this cluster holds it, "+a.Name+" (mon team-a/web)") {
		t.Errorf("team b's conflict: %q", msg)
	}
	if len(after.LeftOut) != 1 {
		t.Errorf("conflicts: %v", after.LeftOut)
	}

	// No file held it (both new in one publish): the oldest Work keeps it,
	// and a Promise's fleet resources before any instance.
	fresh, _ := Plan("clusters/a", []fleetv1alpha1.Work{a, b}, nil)
	if !strings.Contains(string(fresh.Files[fileB]), "team: b") || strings.Contains(string(fresh.Files[fileA]), "kind: ConfigMap") {
		t.Errorf("the oldest Work did not keep it:\n%s", fresh.Files[fileB])
	}
	fleet := work("mon", "", "", nil, cm("platform"))
	fleet.CreationTimestamp = metav1.NewTime(older.Add(2 * time.Hour))
	withFleet, _ := Plan("clusters/a", []fleetv1alpha1.Work{a, b, fleet}, nil)
	if !strings.Contains(string(withFleet.Files["clusters/a/mon/_fleet.yaml"]), "team: platform") || len(withFleet.LeftOut) != 2 {
		t.Errorf("the fleet resources did not keep it: %v", withFleet.LeftOut)
	}

	// A copy added by hand to team b's file does not make it team b's.
	edited := map[string][]byte{fileA: before.Files[fileA], fileB: before.Files[fileA]}
	again, _ := Plan("clusters/a", []fleetv1alpha1.Work{a, b}, edited)
	if n := strings.Count(string(again.Files[fileA])+string(again.Files[fileB]), "kind: ConfigMap"); n != 1 {
		t.Errorf("%d copies of the object", n)
	}
}

// A team's value that holds YAML document separators and keys stays inside
// its scalar in the file: no line of the file outside the documents' own
// separators is "---", "..." or starts at the left margin with a key the
// Work did not have.
func TestAValueCannotStartADocumentInTheFile(t *testing.T) {
	evil := "x\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n...\n--- \n"
	for _, v := range []string{evil, "\n" + evil, evil + "\n\n", "'" + evil + "'", "|\n" + evil, "\r\n---\r\nkind: X\r\n"} {
		raw, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "c", "namespace": "team-a", "annotations": map[string]any{"a": v}},
			"data":     map[string]any{"k": v}})
		files, err := Files("r", []fleetv1alpha1.Work{work("p", "team-a", "c", nil, string(raw))})
		if err != nil {
			t.Fatal(err)
		}
		content := string(files["r/p/team-a/c.yaml"])
		if n := strings.Count(content, "\n---"); n != 1 {
			t.Errorf("%d lines start a document:\n%s", n, content)
		}
		for _, line := range strings.Split(strings.ReplaceAll(content, "\r", "\n"), "\n") {
			if strings.HasPrefix(line, "kind:") && line != "kind: ConfigMap" || strings.HasPrefix(line, "...") {
				t.Errorf("line %q left its scalar:\n%s", line, content)
			}
		}
	}
}

// The publisher checks an instance's objects against its Work's scope, as
// the agent does on agent clusters: an object outside it (another namespace,
// a kind the Promise does not declare, a cluster-scoped kind) is not
// committed, and an instance's Work without a scope commits nothing.
func TestTheScopeIsCheckedAgainBeforeCommitting(t *testing.T) {
	w := work("db", "team-a", "orders", nil,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok","namespace":"team-a"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"kube-system"}}`,
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"team-a"}}`,
		`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"evil"}}`)
	w.Spec.Scope.Kinds = append(w.Spec.Scope.Kinds, fleetv1alpha1.OutputKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"})
	unscoped := work("db", "team-a", "old", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"old","namespace":"team-a"}}`)
	unscoped.Spec.Scope = nil
	l, err := Plan("r", []fleetv1alpha1.Work{w, unscoped}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := string(l.Files["r/db/team-a/orders.yaml"])
	if strings.Count(got, "kind:") != 1 || !strings.Contains(got, "name: ok") {
		t.Errorf("orders.yaml:\n%s", got)
	}
	for _, want := range []string{"ConfigMap kube-system/x", "Secret team-a/s", "ClusterRoleBinding.rbac.authorization.k8s.io evil"} {
		if !strings.Contains(l.LeftOut[w.Name], want) {
			t.Errorf("left out of %s: %q lacks %s", w.Name, l.LeftOut[w.Name], want)
		}
	}
	if got := string(l.Files["r/db/team-a/old.yaml"]); strings.Contains(got, "kind:") || !strings.Contains(l.LeftOut[unscoped.Name], "no spec.scope") {
		t.Errorf("unscoped Work: %s %q", got, l.LeftOut[unscoped.Name])
	}
}

// A team's value "${db_password}" in its instance's object must reach the
// member as written, not as a Flux Kustomization's post-build variable (one
// of substituteFrom's Secret, say): every instance object the hub commits
// opts out of substitution; the platform's fleet resources do not.
func TestATeamValueIsNotAFluxVariable(t *testing.T) {
	files, err := Files("r", []fleetv1alpha1.Work{
		work("db", "team-a", "c", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"team-a"},"data":{"k":"${db_password}"}}`),
		work("db", "", "", nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"f","namespace":"db-system"},"data":{"region":"${region}"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(files["r/db/team-a/c.yaml"]); !strings.Contains(got, "    "+FluxSubstitute+": disabled\n") {
		t.Errorf("the instance's object does not opt out of substitution:\n%s", got)
	}
	if got := string(files["r/db/_fleet.yaml"]); strings.Contains(got, FluxSubstitute) {
		t.Errorf("the fleet resources opt out of substitution:\n%s", got)
	}
}

// Argo CD reads any object with a top-level items list as a List
// (unstructured.Unstructured.IsList) and applies its items instead of it;
// kustomize, and so Flux, does the same for a kind ending in List. A team's
// JSONMerge Override adding items to its own ConfigMap (or a Work written by
// hand) put a ClusterRoleBinding to cluster-admin and an object in
// kube-system into the team's file, inside an object the scope allowed.
func TestAnObjectWithItemsIsNotCommitted(t *testing.T) {
	const items = `"items":[{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"evil"},` +
		`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},` +
		`"subjects":[{"kind":"ServiceAccount","name":"default","namespace":"team-a"}]},` +
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"kube-system"}}]`
	w := work("db", "team-a", "orders", nil,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ok","namespace":"team-a"}}`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"wrapper","namespace":"team-a"},`+items+`}`,
		`{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"name":"list","namespace":"team-a"},`+items+`}`)
	w.Spec.Scope.Kinds = append(w.Spec.Scope.Kinds, fleetv1alpha1.OutputKind{Kind: "ConfigMapList"})
	l, err := Plan("r", []fleetv1alpha1.Work{w}, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := l.Files["r/db/team-a/orders.yaml"]
	// What Argo CD's repo-server applies from the file.
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(file), 4096)
	var applied []string
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		if obj.Object == nil {
			continue
		}
		objs := []*unstructured.Unstructured{obj}
		if obj.IsList() {
			objs = nil
			if err := obj.EachListItem(func(o runtime.Object) error {
				objs = append(objs, o.(*unstructured.Unstructured))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range objs {
			applied = append(applied, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	if len(applied) != 1 || applied[0] != "ConfigMap team-a/ok" {
		t.Errorf("Argo CD would apply %v from the file:\n%s", applied, file)
	}
	for _, want := range []string{"ConfigMap team-a/wrapper", "ConfigMapList team-a/list"} {
		if !strings.Contains(l.LeftOut[w.Name], want) {
			t.Errorf("left out of %s: %q lacks %s", w.Name, l.LeftOut[w.Name], want)
		}
	}
}

// A Work whose subject is not a name the API server gives a Promise, a
// namespace or an instance (written by hand, or by a hub bug: the Work API
// does not check them) must not place a file outside the cluster's
// directory, nor in another cluster's: "../b" gave clusters/b/..., which the
// commit left out (only the cluster's directory is added) while the Work was
// marked applied, "committed", and the hub wrote the file in its clone's
// working tree, or with more "../", anywhere on its own disk. It is not
// committed, and says so.
func TestAWorksSubjectCannotLeaveTheClustersDirectory(t *testing.T) {
	cm := func(name string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `","namespace":"team-a"}}`
	}
	promise := work("../b/db", "team-a", "c", nil, cm("p"))
	promise.Name = "w-promise"
	ns := work("db", "../../../../../../tmp", "c", nil, cm("n"))
	ns.Name = "w-namespace"
	ns.Spec.Scope.Namespaces = []string{"team-a"}
	name := work("db", "team-a", "../../x", nil, cm("i"))
	name.Name = "w-name"
	fleet := work("..", "", "", nil, cm("f"))
	fleet.Name = "w-fleet"
	ok := work("db", "team-a", "fine", nil, cm("ok"))
	l, err := Plan("clusters/a", []fleetv1alpha1.Work{promise, ns, name, fleet, ok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p := range l.Files {
		if !strings.HasPrefix(p, "clusters/a/") || strings.Contains(p, "..") {
			t.Errorf("file %s is outside the cluster's directory", p)
		}
	}
	for _, w := range []string{"w-promise", "w-namespace", "w-name", "w-fleet"} {
		if !strings.Contains(l.LeftOut[w], "not committed") {
			t.Errorf("Work %s: %q, want it not committed", w, l.LeftOut[w])
		}
	}
	if _, found := l.Files["clusters/a/db/team-a/fine.yaml"]; !found || l.LeftOut[ok.Name] != "" {
		t.Errorf("a Work with a valid subject was not laid out: %v", l.LeftOut)
	}
}
