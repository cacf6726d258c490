package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// The agent's own discovery maps every kind of a real API server as
// client-go's discovery-backed REST mapper does, and lists the same
// preferred namespaced resources (what a Namespace prune checks).
func TestMemberKindsMapAsClientGo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A kind served at two versions, cluster-scoped.
	group := "kinds.test.flotilla.dev"
	version := func(name string, storage bool) map[string]any {
		return map[string]any{"name": name, "served": true, "storage": storage,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "gizmos." + group},
		"spec": map[string]any{"group": group, "scope": "Cluster",
			"names":    map[string]any{"kind": "Gizmo", "plural": "gizmos", "singular": "gizmo", "listKind": "GizmoList"},
			"versions": []any{version("v1beta1", false), version("v1", true)}},
	}}
	crds := e.memberDynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	_, err := crds.Create(ctx, crd, metav1.CreateOptions{})
	mustf(t, err, "creating CRD")
	defer func() { _ = crds.Delete(ctx, crd.GetName(), metav1.DeleteOptions{}) }()
	dc := discovery.NewDiscoveryClientForConfigOrDie(e.member.RESTConfig)
	theirs := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	ours, err := newMemberKinds(e.member.RESTConfig)
	mustf(t, err, "creating member kinds")
	waitFor(t, time.Minute, "the CRD served at both versions", func() (bool, string) {
		ours.reset()
		theirs.Reset()
		_, err1 := ours.RESTMapping(schema.GroupKind{Group: group, Kind: "Gizmo"}, "v1")
		_, err2 := ours.RESTMapping(schema.GroupKind{Group: group, Kind: "Gizmo"}, "v1beta1")
		return err1 == nil && err2 == nil, fmt.Sprint(err1, err2)
	})
	if m, err := ours.RESTMapping(schema.GroupKind{Group: group, Kind: "Gizmo"}); err != nil || m.Resource.Version != "v1" || m.Scope.Name() != meta.RESTScopeNameRoot {
		t.Errorf("Gizmo at its preferred version: %+v, %v; want v1, cluster-scoped", m, err)
	}

	_, lists, err := dc.ServerGroupsAndResources()
	mustf(t, err, "client-go discovery")
	kinds := 0
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		mustf(t, err, "parsing group version")
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			kinds++
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			for _, versions := range [][]string{{gv.Version}, nil} {
				want, wantErr := theirs.RESTMapping(gk, versions...)
				got, gotErr := ours.RESTMapping(gk, versions...)
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || (want != nil) != (got != nil) ||
					(want != nil && (want.Resource != got.Resource || want.GroupVersionKind != got.GroupVersionKind || want.Scope.Name() != got.Scope.Name())) {
					t.Errorf("%s at %v: ours %+v, %v; client-go's %+v, %v", gk, versions, got, gotErr, want, wantErr)
				}
			}
		}
	}
	if kinds < 40 {
		t.Fatalf("compared %d kinds only", kinds)
	}
	for _, gvk := range []schema.GroupVersionKind{{Group: "example.com", Version: "v1", Kind: "Widget"}, {Version: "v2", Kind: "ConfigMap"}} {
		_, wantErr := theirs.RESTMapping(gvk.GroupKind(), gvk.Version)
		_, gotErr := ours.RESTMapping(gvk.GroupKind(), gvk.Version)
		if !meta.IsNoMatchError(gotErr) || gotErr.Error() != wantErr.Error() {
			t.Errorf("%s: ours %v, client-go's %v", gvk, gotErr, wantErr)
		}
	}

	want, err := dc.ServerPreferredNamespacedResources()
	mustf(t, err, "client-go preferred namespaced resources")
	got, err := ours.preferredNamespacedResources(ctx)
	mustf(t, err, "preferred namespaced resources")
	if g, w := resourceSet(got), resourceSet(want); !reflect.DeepEqual(g, w) {
		t.Errorf("preferred namespaced resources:\nours     %v\nclient-go %v", g, w)
	}
}

// resourceSet lists group/version/resource (kind, verbs) of discovery lists.
func resourceSet(lists []*metav1.APIResourceList) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			out = append(out, fmt.Sprintf("%s/%s (%s, %v)", l.GroupVersion, r.Name, r.Kind, r.Verbs))
		}
	}
	sort.Strings(out)
	return out
}

// fakeDiscovery serves discovery documents by path, as an API server
// without aggregated discovery does (or one that answers aggregated).
func fakeDiscovery(t *testing.T, contentType string, docs map[string]string) *memberKinds {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"%s not found"}`, r.URL.Path)
			return
		}
		ct := "application/json"
		if r.URL.Path == "/api" || r.URL.Path == "/apis" {
			ct = contentType
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	k, err := newMemberKinds(&rest.Config{Host: srv.URL, QPS: -1})
	mustf(t, err, "creating member kinds")
	return k
}

// Without aggregated discovery every group version is read on its own; one
// that fails is left out of the mappings and fails the namespaced list.
func TestMemberKindsWithoutAggregatedDiscovery(t *testing.T) {
	docs := map[string]string{
		"/api":    `{"kind":"APIVersions","versions":["v1"]}`,
		"/api/v1": `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["get","list","delete"]},{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list","delete"]},{"name":"pods/status","namespaced":true,"kind":"Pod","verbs":["get"]}]}`,
		"/apis": `{"kind":"APIGroupList","groups":[` +
			`{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}},` +
			`{"name":"example.com","versions":[{"groupVersion":"example.com/v2","version":"v2"},{"groupVersion":"example.com/v1","version":"v1"}],"preferredVersion":{"groupVersion":"example.com/v2","version":"v2"}},` +
			`{"name":"broken.example.com","versions":[{"groupVersion":"broken.example.com/v1","version":"v1"}],"preferredVersion":{"groupVersion":"broken.example.com/v1","version":"v1"}}]}`,
		"/apis/apps/v1":        `{"kind":"APIResourceList","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["get","list","delete"]}]}`,
		"/apis/example.com/v2": `{"kind":"APIResourceList","groupVersion":"example.com/v2","resources":[{"name":"widgets","singularName":"widget","namespaced":true,"kind":"Widget","verbs":["get","list","delete"]}]}`,
		"/apis/example.com/v1": `{"kind":"APIResourceList","groupVersion":"example.com/v1","resources":[{"name":"widgets","singularName":"widget","namespaced":true,"kind":"Widget","verbs":["get","list","delete"]},{"name":"gadgets","namespaced":false,"kind":"Gadget","verbs":["get"]}]}`,
	}
	k := fakeDiscovery(t, "application/json", docs)
	checkMapping(t, k, schema.GroupKind{Kind: "ConfigMap"}, nil, "/v1, Resource=configmaps", meta.RESTScopeNameNamespace)
	checkMapping(t, k, schema.GroupKind{Kind: "Namespace"}, []string{"v1"}, "/v1, Resource=namespaces", meta.RESTScopeNameRoot)
	checkMapping(t, k, schema.GroupKind{Group: "apps", Kind: "Deployment"}, []string{"v1"}, "apps/v1, Resource=deployments", meta.RESTScopeNameNamespace)
	checkMapping(t, k, schema.GroupKind{Group: "example.com", Kind: "Widget"}, nil, "example.com/v2, Resource=widgets", meta.RESTScopeNameNamespace)
	checkMapping(t, k, schema.GroupKind{Group: "example.com", Kind: "Widget"}, []string{"v1"}, "example.com/v1, Resource=widgets", meta.RESTScopeNameNamespace)
	checkMapping(t, k, schema.GroupKind{Group: "example.com", Kind: "Gadget"}, nil, "example.com/v1, Resource=gadgets", meta.RESTScopeNameRoot)
	if _, err := k.RESTMapping(schema.GroupKind{Group: "broken.example.com", Kind: "Thing"}, "v1"); !meta.IsNoMatchError(err) {
		t.Errorf("a kind of a group that failed discovery: %v, want no match", err)
	}
	if _, err := k.preferredNamespacedResources(context.Background()); err == nil || !strings.Contains(err.Error(), "broken.example.com/v1") {
		t.Errorf("namespaced resources with a group version that failed: %v, want an error naming it", err)
	}

	// Once the group answers, the list is whole again (a failure is read
	// again before it is reported): each resource at its group's preferred
	// version, the namespaced ones only.
	docs["/apis/broken.example.com/v1"] = `{"kind":"APIResourceList","groupVersion":"broken.example.com/v1","resources":[{"name":"things","namespaced":true,"kind":"Thing","verbs":["get"]}]}`
	got, err := k.preferredNamespacedResources(context.Background())
	mustf(t, err, "namespaced resources")
	want := []string{
		"apps/v1/deployments (Deployment, [get list delete])",
		"broken.example.com/v1/things (Thing, [get])",
		"example.com/v2/widgets (Widget, [get list delete])",
		"v1/configmaps (ConfigMap, [get list delete])",
	}
	if g := resourceSet(got); !reflect.DeepEqual(g, want) {
		t.Errorf("namespaced resources %v, want %v", g, want)
	}
}

// Aggregated discovery: groups and resources in two responses; a stale
// group version is left out, the first fresh version is preferred, and an
// API server without a core group (404 on /api) is fine.
func TestMemberKindsFromAggregatedDiscovery(t *testing.T) {
	docs := map[string]string{
		"/apis": `{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","items":[` +
			`{"metadata":{"name":"example.com"},"versions":[` +
			`{"version":"v3","freshness":"Stale","resources":[{"resource":"widgets","responseKind":{"group":"example.com","version":"v3","kind":"Widget"},"scope":"Namespaced","verbs":["get"]}]},` +
			`{"version":"v2","resources":[{"resource":"widgets","responseKind":{"group":"example.com","version":"v2","kind":"Widget"},"scope":"Namespaced","singularResource":"widget","verbs":["get","list","delete"],` +
			`"subresources":[{"subresource":"status","responseKind":{"group":"example.com","version":"v2","kind":"Widget"},"verbs":["get"]}]},` +
			`{"resource":"nokind","scope":"Cluster","verbs":["get"]}]},` +
			`{"version":"v1","resources":[{"resource":"gadgets","responseKind":{"group":"example.com","version":"v1","kind":"Gadget"},"scope":"Cluster","verbs":["get"]}]}]}]}`,
	}
	k := fakeDiscovery(t, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", docs)
	checkMapping(t, k, schema.GroupKind{Group: "example.com", Kind: "Widget"}, nil, "example.com/v2, Resource=widgets", meta.RESTScopeNameNamespace)
	checkMapping(t, k, schema.GroupKind{Group: "example.com", Kind: "Gadget"}, nil, "example.com/v1, Resource=gadgets", meta.RESTScopeNameRoot)
	if _, err := k.RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Widget"}, "v3"); !meta.IsNoMatchError(err) {
		t.Errorf("a kind at a stale version: %v, want no match", err)
	}
	d, err := k.get(context.Background())
	mustf(t, err, "discovery")
	if names := resourceSet([]*metav1.APIResourceList{{GroupVersion: "example.com/v2", APIResources: d.resources[schema.GroupVersion{Group: "example.com", Version: "v2"}]}}); len(names) != 1 {
		t.Errorf("example.com/v2 resources %v, want widgets alone (no subresource, nothing without a kind)", names)
	}
	if _, err := k.preferredNamespacedResources(context.Background()); err == nil || !strings.Contains(err.Error(), "stale GroupVersion discovery: example.com/v3") {
		t.Errorf("namespaced resources with a stale group version: %v, want an error naming it", err)
	}
}

// checkMapping checks the mapping of gk at versions.
func checkMapping(t *testing.T, k *memberKinds, gk schema.GroupKind, versions []string, resource string, scope meta.RESTScopeName) {
	t.Helper()
	m, err := k.RESTMapping(gk, versions...)
	if err != nil {
		t.Errorf("%s at %v: %v", gk, versions, err)
		return
	}
	if m.Resource.String() != resource || m.Scope.Name() != scope {
		t.Errorf("%s at %v: %s (%s), want %s (%s)", gk, versions, m.Resource, m.Scope.Name(), resource, scope)
	}
}
