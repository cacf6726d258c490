package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
)

var (
	databaseKind = schema.GroupVersionKind{Group: "platform.example.com", Version: "v1alpha1", Kind: "Database"}
	cacheKind    = schema.GroupVersionKind{Group: "platform.example.com", Version: "v1alpha1", Kind: "Cache"}
)

// The story: the platform team publishes two APIs — a database rendered from
// Go templates and a cache from a Helm chart in its chart repository — onto
// two Fleets, one per team. Each team requests instances in its own
// namespace; each lands only on its team's Fleet and the agents make it
// healthy. The API server refuses bad parameters; a broken template changes
// nothing anywhere; an Override reshapes one cluster; deleting an instance
// removes it from every member.
func TestPromisesStory(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	f := givenFleet(t, 2)
	f.givenPlatformNamespace()
	f.givenTenantFleet("fleet-a", "member-1", "team-a")
	f.givenTenantFleet("fleet-b", "member-2", "team-b")
	f.givenTeamNamespaces("team-a", "team-b")
	dbRev := f.givenPromise(databasePromise())
	repo := charttest.Serve(t)
	repo.Add("cache", "1.0.0", cacheChart(t))
	f.givenPromise(cachePromise(repo.URL))

	f.whenInstanceIsRequested(databaseKind, "team-a", "orders", map[string]any{"size": "small"})
	f.whenInstanceIsRequested(databaseKind, "team-b", "billing", map[string]any{"size": "large", "replicas": int64(2)})
	f.whenInstanceIsRequested(cacheKind, "team-a", "sessions", map[string]any{"greeting": "hello"})
	f.whenInstanceIsRequested(cacheKind, "team-b", "tokens", map[string]any{"greeting": "bonjour"})

	t.Run("each instance lands on its team's Fleet and turns healthy", func(t *testing.T) {
		f := f.in(t)
		for _, i := range []struct {
			gvk              schema.GroupVersionKind
			ns, name, member string
			workload         client.Object
		}{
			{databaseKind, "team-a", "orders", "member-1", &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders"}}},
			{databaseKind, "team-b", "billing", "member-2", &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "billing"}}},
			{cacheKind, "team-a", "sessions", "member-1", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sessions"}}},
			{cacheKind, "team-b", "tokens", "member-2", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "tokens"}}},
		} {
			f.thenWorkloadReady(i.member, i.workload, 2*time.Minute)
			st := f.thenInstanceIsReady(i.gvk, i.ns, i.name, 1, time.Minute)
			other := "member-1"
			if i.member == other {
				other = "member-2"
			}
			f.thenAbsent(other, time.Second, i.workload)
			if !strings.HasPrefix(st.Revision, strings.ToLower(i.gvk.Kind)+"-") {
				t.Errorf("%s/%s status.revision %q", i.ns, i.name, st.Revision)
			}
		}
		// The database's rendered pieces are all there, shaped by the instance and the cluster.
		f.thenConfigMapHas("member-2", "team-b", "billing-config", "max_connections", "500", time.Second)
		f.thenConfigMapHas("member-2", "team-b", "billing-config", "cluster", "member-2", time.Second)
		for _, obj := range []client.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders-credentials"}},
		} {
			if err := f.members["member-1"].Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
				t.Errorf("%T %s on member-1: %v", obj, obj.GetName(), err)
			}
		}
		// The Helm chart rendered with the instance's values over the Promise's.
		f.thenConfigMapHas("member-1", "team-a", "sessions", "greeting", "hello", time.Second)
		f.thenConfigMapHas("member-1", "team-a", "sessions", "owner", "platform", time.Second)
		// Fleet resources are on every cluster of the placement.
		for _, m := range []string{"member-1", "member-2"} {
			f.thenConfigMapHas(m, "databases-system", "operator-config", "managed", "true", time.Minute)
		}
		// And the Promise counts where its revision runs.
		f.eventually(time.Minute, "promise status counts", func() (bool, string) {
			p := f.promise("database")
			ok := p.Status.Instances == 2 && len(p.Status.Revisions) == 1 && p.Status.Revisions[0].Name == dbRev &&
				p.Status.Revisions[0].Instances == 2 && p.Status.Revisions[0].Clusters == 2
			return ok, fmt.Sprintf("%+v", p.Status)
		})
	})

	t.Run("invalid parameters are refused by the API server", func(t *testing.T) {
		for spec, field := range map[string]string{
			`{"size":"huge"}`:               "spec.size",
			`{"size":"small","replicas":9}`: "spec.replicas",
			`{}`:                            "spec.size",
		} {
			var m map[string]any
			if err := json.Unmarshal([]byte(spec), &m); err != nil {
				t.Fatal(err)
			}
			err := f.hub.Create(context.Background(), newInstance(databaseKind, "team-a", "bad", m))
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Errorf("spec %s: got %v, want an error naming %s", spec, err, field)
			}
		}
	})

	t.Run("a broken template stalls the Promise and changes nothing", func(t *testing.T) {
		f := f.in(t)
		before := map[string]map[string]string{
			"member-1": f.memberState("member-1", "team-a"),
			"member-2": f.memberState("member-2", "team-b"),
		}
		works := f.workGenerations()
		revisions := len(f.promise("database").Status.Revisions)
		var original string
		f.whenPromiseIsChanged("database", func(p *fleetv1alpha1.Promise) {
			original = p.Spec.Templates.GoTemplates[0].Template
			p.Spec.Templates.GoTemplates[0].Template = strings.Replace(original, "{{ .spec.size | quote }}", "{{ .spec.size | quote ", 1)
		})
		f.eventually(time.Minute, "database Stalled", func() (bool, string) {
			p := f.promise("database")
			c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionStalled)
			return p.Status.ObservedGeneration == p.Generation && c != nil && c.Status == metav1.ConditionTrue && c.Reason == fleetv1alpha1.ReasonRenderFailed,
				fmt.Sprintf("%+v", p.Status.Conditions)
		})
		p := f.promise("database")
		if p.Status.LatestRevision != dbRev || len(p.Status.Revisions) != revisions {
			t.Errorf("a broken template made a revision: latest %s, revisions %+v", p.Status.LatestRevision, p.Status.Revisions)
		}
		time.Sleep(3 * time.Second) // room for a wrong write to happen and reach the members
		if after := f.workGenerations(); !mapsEqual(works, after) {
			t.Errorf("Works changed: before %v, after %v", works, after)
		}
		sameState(t, "member-1", before["member-1"], f.memberState("member-1", "team-a"))
		sameState(t, "member-2", before["member-2"], f.memberState("member-2", "team-b"))

		// Putting the template back recovers, still at the same revision.
		f.whenPromiseIsChanged("database", func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = original })
		if got := f.thenPromiseReady("database"); got != dbRev {
			t.Errorf("latest revision %s, want %s", got, dbRev)
		}
	})

	t.Run("an Override reshapes one cluster and is listed in its Work", func(t *testing.T) {
		f := f.in(t)
		f.create(f.hub, &fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Name: "member-2-connections", Namespace: fleetv1alpha1.PlatformNamespace},
			Spec: fleetv1alpha1.OverrideSpec{
				ClusterSelector: fleetv1alpha1.ClusterSelector{Names: []string{"member-2"}},
				Promise:         "database",
				Resources:       []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "billing-config"}},
				Type:            fleetv1alpha1.PatchStrategicMerge,
				Patch:           runtime.RawExtension{Raw: []byte(`{"data":{"max_connections":"42"}}`)},
			},
		})
		f.thenConfigMapHas("member-2", "team-b", "billing-config", "max_connections", "42", time.Minute)
		if w := f.workOf("database", "team-b", "billing", "member-2"); !slices.Equal(w.Spec.Overrides, []string{"flotilla-system/member-2-connections"}) {
			t.Errorf("member-2's Work lists overrides %v", w.Spec.Overrides)
		}
		if w := f.workOf("database", "team-a", "orders", "member-1"); len(w.Spec.Overrides) != 0 {
			t.Errorf("member-1's Work lists overrides %v", w.Spec.Overrides)
		}
		f.thenConfigMapHas("member-1", "team-a", "orders-config", "max_connections", "100", time.Second)
		f.eventually(time.Minute, "the Override counts one cluster", func() (bool, string) {
			o := &fleetv1alpha1.Override{}
			if err := f.hub.Get(context.Background(), client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: "member-2-connections"}, o); err != nil {
				return false, err.Error()
			}
			return o.Status.AffectedClusters == 1 && o.Status.AffectedWorks == 1, fmt.Sprintf("%+v", o.Status)
		})
	})

	t.Run("deleting an instance removes it from every member", func(t *testing.T) {
		f := f.in(t)
		if err := f.hub.Delete(context.Background(), newInstance(databaseKind, "team-a", "orders", nil)); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"member-1", "member-2"} {
			f.thenAbsent(m, time.Minute,
				&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders"}},
				&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders"}},
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders-credentials"}},
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "orders-config"}},
			)
		}
		if w := f.workOf("database", "team-a", "orders", "member-1"); w != nil {
			t.Errorf("the Work of a deleted instance is still there")
		}
		// The other team's database is untouched.
		f.thenWorkloadReady("member-2", &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "billing"}}, time.Second)
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// raw encodes a JSON value built from maps, slices and scalars (which cannot fail).
func raw(v any) runtime.RawExtension {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return runtime.RawExtension{Raw: b}
}

// databasePromise is a Postgres-like API rendered with Go templates: a
// StatefulSet, its headless Service, credentials and configuration, plus a
// fleet resource on every cluster of its placement.
func databasePromise() *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: "database"},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: databaseKind.Group, Kind: databaseKind.Kind,
					Schema: raw(map[string]any{
						"type":     "object",
						"required": []string{"size"},
						"properties": map[string]any{
							"size":     map[string]any{"type": "string", "enum": []string{"small", "large"}},
							"replicas": map[string]any{"type": "integer", "minimum": 1, "maximum": 3, "default": 1},
						},
					}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine: fleetv1alpha1.TemplateEngineGoTemplate,
					GoTemplates: []fleetv1alpha1.GoTemplate{
						{Name: "configmap.yaml", Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-config" .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  cluster: {{ .cluster.name | quote }}
  max_connections: "{{ if eq .spec.size "large" }}500{{ else }}100{{ end }}"
`},
						{Name: "secret.yaml", Template: `apiVersion: v1
kind: Secret
metadata:
  name: {{ printf "%s-credentials" .instance.metadata.name | quote }}
stringData:
  username: app
  database: {{ .instance.metadata.name | quote }}
`},
						{Name: "service.yaml", Template: `apiVersion: v1
kind: Service
metadata:
  name: {{ .instance.metadata.name | quote }}
spec:
  clusterIP: None
  selector:
    app: {{ .instance.metadata.name | quote }}
  ports:
  - name: postgres
    port: 5432
`},
						{Name: "statefulset.yaml", Template: `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .instance.metadata.name | quote }}
spec:
  serviceName: {{ .instance.metadata.name | quote }}
  replicas: {{ .spec.replicas }}
  selector:
    matchLabels:
      app: {{ .instance.metadata.name | quote }}
  template:
    metadata:
      labels:
        app: {{ .instance.metadata.name | quote }}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        envFrom:
        - configMapRef:
            name: {{ printf "%s-config" .instance.metadata.name | quote }}
        - secretRef:
            name: {{ printf "%s-credentials" .instance.metadata.name | quote }}
`},
					},
				},
				Output: &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{
					{Kind: "ConfigMap"}, {Kind: "Secret"}, {Kind: "Service"}, {Group: "apps", Kind: "StatefulSet"},
				}},
				FleetResources: []fleetv1alpha1.Manifest{
					{RawExtension: raw(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "databases-system"}})},
					{RawExtension: raw(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
						"metadata": map[string]any{"name": "operator-config", "namespace": "databases-system"}, "data": map[string]any{"managed": "true"}})},
				},
				Examples: []fleetv1alpha1.PromiseExample{
					{Name: "small", Spec: raw(map[string]any{"size": "small"})},
					{Name: "large", Spec: raw(map[string]any{"size": "large", "replicas": 3})},
				},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: []string{"fleet-a", "fleet-b"}},
		},
	}
}

// cacheChart is the packaged Helm chart of the cache API: a Deployment and
// its configuration.
func cacheChart(t *testing.T) []byte {
	return charttest.Package(t, "cache", "1.0.0", "greeting: hi\nowner: nobody\nreplicas: 1\n", map[string]string{
		"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name | quote }}
data:
  greeting: {{ .Values.greeting | quote }}
  owner: {{ .Values.owner | quote }}
`,
		"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name | quote }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name | quote }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name | quote }}
    spec:
      containers:
      - name: cache
        image: redis:7
`,
	})
}

// cachePromise is a cache API rendered from the chart in the repository at url.
func cachePromise(url string) *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: "cache"},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: cacheKind.Group, Kind: cacheKind.Kind,
					Schema: raw(map[string]any{
						"type":       "object",
						"properties": map[string]any{"greeting": map[string]any{"type": "string", "maxLength": 64}},
					}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine: fleetv1alpha1.TemplateEngineHelm,
					Helm: &fleetv1alpha1.HelmTemplate{
						Repository: &fleetv1alpha1.HelmRepository{URL: url, Chart: "cache", Version: "1.0.0"},
						Values:     &runtime.RawExtension{Raw: []byte(`{"owner":"platform"}`)},
					},
				},
				Output:   &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}}},
				Examples: []fleetv1alpha1.PromiseExample{{Name: "default", Spec: raw(map[string]any{"greeting": "hi"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: []string{"fleet-a", "fleet-b"}},
		},
	}
}
