package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// At rest a resync reads nothing from the member: the drift watch saw no
// other version of the applied objects. Without the watch it reads them
// (health) but runs no dry run while the agent's managed fields are as
// applied. Either way a change to a field the agent owns is still corrected.
func TestResyncAtRestReadsNothingYetCorrectsDrift(t *testing.T) {
	e := newEnv(t)
	for _, watchOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("drift watch %v", watchOn), func(t *testing.T) {
			cluster := map[bool]string{true: "rest-watch", false: "rest-nowatch"}[watchOn]
			ns := cluster + "-app"
			counter := &requestCounter{counts: map[string]int{}}
			memberCfg := rest.CopyConfig(e.member.RESTConfig)
			memberCfg.Wrap(counter.wrap)
			opts := testOptions(t, cluster)
			opts.HeartbeatInterval, opts.HeartbeatGrace = time.Minute, 3*time.Minute // no member reads of its own
			opts.ResyncInterval = 2 * time.Second
			opts.DisableDriftWatch = !watchOn
			startAgentWithMember(t, e.join(t, cluster), memberCfg, opts)

			w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "a", map[string]string{"k": "v"}),
				configMapObj(ns, "b", map[string]string{"k": "v"}))
			mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
			e.waitWorkReady(t, cluster, "web", 60*time.Second)
			time.Sleep(3 * time.Second) // the first re-checks
			counter.take()
			time.Sleep(3 * opts.ResyncInterval)
			counts := counter.take()
			if n := counts["PATCH (dry run)"]; n != 0 {
				t.Errorf("dry runs at rest over three resyncs = %d, want 0 (all: %s)", n, describeCounts(counts))
			}
			if n := counts["GET"]; watchOn && n != 0 {
				t.Errorf("reads at rest over three resyncs = %d, want 0 (all: %s)", n, describeCounts(counts))
			}
			if n := counts["GET"]; !watchOn && n < 3 {
				t.Errorf("reads at rest over three resyncs without the drift watch = %d, want at least 3 (the health re-checks)", n)
			}
			if watchOn {
				// At rest, nothing is sent while the two are read: the agent's
				// own count is every request its member clients sent.
				counter.mu.Lock()
				sent := counter.sent
				counter.mu.Unlock()
				own := parseRequestCounts(httpGet(t, "http://"+opts.MetricsAddr+"/metrics"))
				if n := own.total(serverMember); n != sent {
					t.Errorf("flotilla_agent_api_requests_total for the member = %d (%s), want the %d requests sent", n, own.describe(serverMember), sent)
				}
				if own[[2]string{serverMember, "apply"}] < 3 || own.total(serverHub) == 0 {
					t.Errorf("want at least the 3 applies and some hub requests counted: %s; hub %s", own.describe(serverMember), own.describe(serverHub))
				}
			}

			e.editConfigMap(t, ns, "b", func(cm *corev1.ConfigMap) { cm.Data["k"] = "edited" })
			waitFor(t, 30*time.Second, "the edit corrected", func() (bool, string) {
				cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "b", metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return cm.Data["k"] == "v", describeAny(cm.Data)
			})
		})
	}
}

// startAgentWithMember runs an agent on the member through memberCfg.
func startAgentWithMember(t *testing.T, hub, memberCfg *rest.Config, opts Options) {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), zap.New(zap.UseDevMode(true), zap.WriteTo(w))))
	a := &runningAgent{cancel: cancel, done: make(chan error, 1), opts: opts}
	go func() { a.done <- Run(ctx, hub, memberCfg, opts) }()
	t.Cleanup(func() { a.stop(t) })
}

func TestAppliedFingerprint(t *testing.T) {
	at := metav1.NewTime(time.Unix(1_800_000_000, 0))
	later := metav1.NewTime(at.Add(time.Second))
	obj := func(entries ...metav1.ManagedFieldsEntry) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		u.SetUID(types.UID("uid-1"))
		u.SetManagedFields(entries)
		return u
	}
	entry := func(manager string, op metav1.ManagedFieldsOperationType, subresource, fields string, t metav1.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: subresource, APIVersion: "v1", Time: &t,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	const apply, update = metav1.ManagedFieldsOperationApply, metav1.ManagedFieldsOperationUpdate
	ours := entry("flotilla", apply, "", `{"f:data":{"f:a":{},"f:b":{}}}`, at)
	base := appliedFingerprint(obj(ours))
	if base == "" {
		t.Fatal("no fingerprint for an object the agent applied")
	}
	for _, tt := range []struct {
		name string
		obj  *unstructured.Unstructured
		same bool
	}{
		{"someone else's fields alongside", obj(ours, entry("kubectl-edit", update, "", `{"f:data":{"f:c":{}}}`, later)), true},
		{"a status update", obj(ours, entry("kcm", update, "status", `{"f:status":{}}`, later)), true},
		{"a field taken by an edit", obj(entry("flotilla", apply, "", `{"f:data":{"f:a":{}}}`, at),
			entry("kubectl-edit", update, "", `{"f:data":{"f:b":{}}}`, later)), false},
		{"applied again later", obj(entry("flotilla", apply, "", `{"f:data":{"f:a":{},"f:b":{}}}`, later)), false},
		{"the agent's entry gone", obj(entry("before-first-apply", update, "", `{"f:data":{}}`, at)), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := appliedFingerprint(tt.obj) == base; got != tt.same {
				t.Errorf("same fingerprint = %v, want %v", got, tt.same)
			}
		})
	}
	// Whoever may update the object may write its managedFields back as
	// they were after changing a value: the content tells.
	edited := obj(ours)
	edited.Object["data"] = map[string]any{"a": "changed"}
	if appliedFingerprint(edited) == base {
		t.Error("an object whose value changed under the agent's entry as it was has the same fingerprint")
	}
	status := obj(ours)
	status.Object["status"] = map[string]any{"observedGeneration": int64(2)}
	status.SetResourceVersion("42")
	if appliedFingerprint(status) != base {
		t.Error("a status write changed the fingerprint")
	}
	other := obj(ours)
	other.SetUID("uid-2")
	if appliedFingerprint(other) == base {
		t.Error("an object replaced by another with the same managed fields has the same fingerprint")
	}
}

func TestDriftWatchUnchanged(t *testing.T) {
	d := &driftWatch{check: func(string, time.Duration) {}, since: map[schema.GroupVersionResource]time.Time{},
		last: map[watchedObject]string{}, works: map[string]string{}, due: map[string]bool{}, converging: map[string]bool{}}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	t0 := time.Now()
	read := t0.Add(time.Second)
	if d.unchanged(gvr, "ns", "a", "10", read) {
		t.Error("unchanged without a watch")
	}
	d.streamStarted(gvr, read.Add(time.Millisecond))
	if d.unchanged(gvr, "ns", "a", "10", read) {
		t.Error("unchanged though the watch started after the read")
	}
	d.streamStarted(gvr, t0)
	if !d.unchanged(gvr, "ns", "a", "10", read) {
		t.Error("not unchanged: watched since before the read, no event")
	}
	event := func(typ watch.EventType, rv string) {
		d.observe(gvr, typ, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", ResourceVersion: rv}})
	}
	event(watch.Modified, "10") // the version read: still unchanged
	if !d.unchanged(gvr, "ns", "a", "10", read) {
		t.Error("not unchanged after an event of the version read")
	}
	event(watch.Modified, "11")
	if d.unchanged(gvr, "ns", "a", "10", read) {
		t.Error("unchanged after an event of another version")
	}
	event(watch.Deleted, "12")
	if d.unchanged(gvr, "ns", "a", "12", read) {
		t.Error("unchanged after its deletion")
	}
	d.streamStarted(gvr, time.Time{}) // the watch stopped
	if d.unchanged(gvr, "ns", "b", "1", read) {
		t.Error("unchanged after the watch stopped")
	}

	// A converging Work's object changing status asks for a look; the
	// agent's own apply does not, nor does it once the Work settled.
	var asked []string
	d.check = func(w string, _ time.Duration) { asked = append(asked, w) }
	d.works[fleetv1alpha1.WorkLabelValue("web")] = "web"
	d.setConverging("web", true)
	now := metav1.Now()
	status := []metav1.ManagedFieldsEntry{
		{Manager: "flotilla", Operation: metav1.ManagedFieldsOperationApply, Time: &metav1.Time{Time: now.Add(-time.Second)}},
		{Manager: "kcm", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &now},
	}
	own := status[:1]
	obj := func(entries []metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "20",
			Labels: map[string]string{fleetv1alpha1.LabelWork: fleetv1alpha1.WorkLabelValue("web")}, ManagedFields: entries}}
	}
	d.observe(gvr, watch.Modified, obj(own))
	d.observe(gvr, watch.Modified, obj(status))
	d.setConverging("web", false)
	d.observe(gvr, watch.Modified, obj(status))
	if len(asked) != 1 || !d.due["web"] {
		t.Errorf("looks asked = %v (due %v), want one, for the status update while converging", asked, d.due["web"])
	}
}

// requestCounter counts the HTTP requests a client sends, by verb.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	// sent counts every request, take or not.
	sent int
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		verb := req.Method
		switch {
		case req.Method == http.MethodPatch && strings.Contains(req.URL.RawQuery, "dryRun="):
			verb = "PATCH (dry run)"
		case req.Method == http.MethodGet && strings.Contains(req.URL.RawQuery, "watch=true"):
			verb = "WATCH"
		}
		c.mu.Lock()
		c.counts[verb]++
		c.sent++
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// take returns the counts so far and starts again from zero.
func (c *requestCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

func describeCounts(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// BenchmarkAppliedFingerprint is the cost of the fingerprint a look or a
// resync compares before it may skip an object's dry run: the agent's
// managedFields entry alone (as before the content was added) and with the
// object's content, for a Deployment of about 2 KB.
func BenchmarkAppliedFingerprint(b *testing.B) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "team-a", "uid": "uid-1", "resourceVersion": "42",
			"labels": map[string]any{"app": "web", fleetv1alpha1.LabelWork: "0123456789abcdef"}},
		"spec": map[string]any{"replicas": int64(3),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "web", "image": "registry.example.com/web:1.2.3",
					"ports":          []any{map[string]any{"containerPort": int64(8080), "protocol": "TCP"}},
					"env":            []any{map[string]any{"name": "MODE", "value": "production"}, map[string]any{"name": "LOG", "value": "info"}},
					"resources":      map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}},
					"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": int64(8080)}},
				}}},
			}},
		"status": map[string]any{"replicas": int64(3), "readyReplicas": int64(3)},
	}}
	at := metav1.NewTime(time.Unix(1_800_000_000, 0))
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: fleetv1alpha1.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		APIVersion: "apps/v1", Time: &at, FieldsType: "FieldsV1",
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`)}})
	b.Run("entry only", func(b *testing.B) {
		for b.Loop() {
			h := sha256.New()
			h.Write(u.GetManagedFields()[0].FieldsV1.GetRawBytes())
			_ = h.Sum(nil)
		}
	})
	b.Run("entry and content", func(b *testing.B) {
		for b.Loop() {
			if appliedFingerprint(u) == "" {
				b.Fatal("no fingerprint")
			}
		}
	})
}
