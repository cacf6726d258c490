package gitdelivery

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/gitdelivery/stamp"
)

func work(promise, ns, name string, rollout *fleetv1alpha1.RolloutReference, manifests ...string) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-cluster-a", Name: promise + "-" + name},
		Spec:       fleetv1alpha1.WorkSpec{Cluster: "a", Subject: fleetv1alpha1.WorkSubject{Promise: promise}, Revision: promise + "-r1", Rollout: rollout},
	}
	if name != "" {
		w.Spec.Subject.Instance = &fleetv1alpha1.InstanceReference{Namespace: ns, Name: name}
		w.Spec.InstanceRevision = name + "-i1"
		w.Spec.Scope = &fleetv1alpha1.WorkScope{Namespaces: []string{ns, "shared"}, Kinds: []fleetv1alpha1.OutputKind{
			{Kind: "ConfigMap"}, {Kind: "Service"}, {Group: "apps", Kind: "Deployment"}}}
	}
	for _, m := range manifests {
		w.Spec.Manifests = append(w.Spec.Manifests, fleetv1alpha1.Manifest{RawExtension: runtime.RawExtension{Raw: []byte(m)}})
	}
	return w
}

func TestFilesLayoutAndOrder(t *testing.T) {
	deleting := work("db", "team", "old", nil, `{"kind":"ConfigMap","metadata":{"name":"old"}}`)
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	files, err := Files("clusters/a", []fleetv1alpha1.Work{
		work("db", "team", "orders", nil,
			`{"apiVersion":"v1","kind":"Service","metadata":{"name":"orders","namespace":"team"}}`,
			`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders","namespace":"team"}}`),
		work("db", "", "", nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"db-system"}}`),
		deleting,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files: %v", files)
	}
	got := string(files["clusters/a/db/team/orders.yaml"])
	// Each manifest carries its rendered hash, for report-only agents.
	deploy, _ := stamp.Hash([]byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"orders","namespace":"team"}}`))
	service, _ := stamp.Hash([]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"orders","namespace":"team"}}`))
	want := `# Written by Flotilla from Work flotilla-cluster-a/db-orders; changes here are overwritten.
# revision: db-r1
# instanceRevision: orders-i1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    fleet.flotilla.dev/rendered-hash: ` + deploy + `
    kustomize.toolkit.fluxcd.io/substitute: disabled
  name: orders
  namespace: team
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    fleet.flotilla.dev/rendered-hash: ` + service + `
    kustomize.toolkit.fluxcd.io/substitute: disabled
  name: orders
  namespace: team
`
	if got != want {
		t.Errorf("orders.yaml:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(string(files["clusters/a/db/_fleet.yaml"]), "kind: Namespace") {
		t.Errorf("fleet file: %s", files["clusters/a/db/_fleet.yaml"])
	}
	if _, err := Files("x", []fleetv1alpha1.Work{work("db", "team", "bad", nil, `not json`)}); err == nil {
		t.Error("a manifest that is not JSON was accepted")
	}
}

func TestCommitMessage(t *testing.T) {
	canary := &fleetv1alpha1.RolloutReference{Namespace: "flotilla-system", Name: "db-7", Wave: "canary"}
	a, b := work("db", "team", "a", canary), work("db", "team", "b", canary)
	msg := CommitMessage("store-1", []*fleetv1alpha1.Work{&b, &a})
	for _, want := range []string{
		"flotilla(store-1): rollout flotilla-system/db-7 wave canary\n\n",
		"db team/a: revision db-r1, instance revision a-i1 (rollout flotilla-system/db-7 wave canary)\ndb team/b:",
		"Flotilla-Cluster: store-1\nFlotilla-Rollout: flotilla-system/db-7 wave canary\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	other := work("web", "team", "c", &fleetv1alpha1.RolloutReference{Namespace: "flotilla-system", Name: "web-2"})
	if msg := CommitMessage("store-1", []*fleetv1alpha1.Work{&a, &other}); !strings.HasPrefix(msg, "flotilla(store-1): 2 works from 2 rollouts\n") {
		t.Errorf("two rollouts:\n%s", msg)
	}
	if msg := CommitMessage("store-1", nil); !strings.HasPrefix(msg, "flotilla(store-1): update 0 works") {
		t.Errorf("no works:\n%s", msg)
	}
}
