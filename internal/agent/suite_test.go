package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// One hub and one member serve every integration test of the package (they
// take most of a test's time to start). Each test joins its own cluster name,
// so tests share nothing else. Tests run one after another: the outage test
// stops the hub's API server.
var shared struct {
	once   sync.Once
	err    error
	hub    *testenv.ControlPlane
	member *testenv.ControlPlane
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, cp := range []*testenv.ControlPlane{shared.hub, shared.member} {
		if cp != nil {
			_ = cp.Stop()
		}
	}
	os.Exit(code)
}

// env is one test's view of the shared control planes.
type env struct {
	hub, member   *testenv.ControlPlane
	hubClient     client.Client
	memberKube    kubernetes.Interface
	memberDynamic dynamic.Interface
	hubKube       kubernetes.Interface
	ctx           context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts real control planes")
	}
	shared.once.Do(func() {
		var wg sync.WaitGroup
		var hubErr, memberErr error
		wg.Go(func() {
			shared.hub, hubErr = testenv.Start(context.Background(), testenv.Options{Name: "agent-hub", Role: testenv.RoleHub})
			if hubErr != nil {
				return
			}
			crds, err := crd.CRDs()
			if err != nil {
				hubErr = err
				return
			}
			hubErr = shared.hub.InstallCRDs(context.Background(), crds)
		})
		wg.Go(func() {
			shared.member, memberErr = testenv.Start(context.Background(), testenv.Options{Name: "agent-member", Role: testenv.RoleMember})
		})
		wg.Wait()
		shared.err = errors.Join(hubErr, memberErr)
	})
	if shared.err != nil {
		t.Fatalf("starting control planes: %v", shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub logs:\n%s\nmember logs:\n%s", shared.hub.Logs(20), shared.member.Logs(20))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	hc, err := client.New(shared.hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		hub: shared.hub, member: shared.member, hubClient: hc, ctx: ctx,
		hubKube:       kubernetes.NewForConfigOrDie(shared.hub.RESTConfig),
		memberKube:    kubernetes.NewForConfigOrDie(shared.member.RESTConfig),
		memberDynamic: dynamic.NewForConfigOrDie(shared.member.RESTConfig),
	}
}

// join does on the hub what `flotilla join` does for the agent, with exactly
// the agent's RBAC, and returns the agent's hub credentials: a bounded
// service-account token, no client certificate.
func (e *env) join(t *testing.T, cluster string) *rest.Config {
	t.Helper()
	ns := fleetv1alpha1.ClusterNamespace(cluster)
	sa := fleetv1alpha1.AgentServiceAccount
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}},
		&rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent", Namespace: ns},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"works"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"works/status"}, Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{fleetv1alpha1.AgentLease}, Verbs: []string{"get", "update", "patch"}},
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
				{APIGroups: []string{""}, Resources: []string{"serviceaccounts/token"}, ResourceNames: []string{sa}, Verbs: []string{"create"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "flotilla-agent", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "flotilla-agent"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
		},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.AgentLease, Namespace: ns}},
	}
	for _, obj := range objs {
		if err := e.hubClient.Create(e.ctx, obj); err != nil {
			t.Fatalf("joining %s: creating %T %s: %v", cluster, obj, obj.GetName(), err)
		}
	}
	tr, err := e.hubKube.CoreV1().ServiceAccounts(ns).CreateToken(e.ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("minting agent token: %v", err)
	}
	return &rest.Config{
		Host:            e.hub.RESTConfig.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.hub.RESTConfig.CAData},
		BearerToken:     tr.Status.Token,
	}
}

// runningAgent is an agent started by a test.
type runningAgent struct {
	cancel context.CancelFunc
	done   chan error
	opts   Options
}

// testOptions are short intervals, so tests see heartbeats and re-checks quickly.
func testOptions(t *testing.T, cluster string) Options {
	return Options{
		ClusterName:       cluster,
		StateDir:          t.TempDir(),
		HeartbeatInterval: time.Second,
		HeartbeatGrace:    3 * time.Second,
		ResyncInterval:    5 * time.Second,
		MetricsAddr:       testenv.FreeAddr(t),
		ProbeAddr:         testenv.FreeAddr(t),
		Version:           "v0.0.0-test",
	}
}

func (e *env) startAgent(t *testing.T, hub *rest.Config, opts Options) *runningAgent {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.close) // after the agent stopped (cleanups run last-in first-out)
	logger := zap.New(zap.UseDevMode(true), zap.WriteTo(w))
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logger))
	a := &runningAgent{cancel: cancel, done: make(chan error, 1), opts: opts}
	go func() { a.done <- Run(ctx, hub, e.member.RESTConfig, opts) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop stops the agent and checks it returned nil; safe to call twice.
func (a *runningAgent) stop(t *testing.T) {
	t.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("agent returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("agent did not stop within 30s")
	}
}

// testWriter sends an agent's log to its test, and drops what comes after
// the test (a client-go goroutine finishing late must not fail it).
type testWriter struct {
	t      *testing.T
	mu     sync.Mutex
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// work builds a Work of cluster at revision rev-1 holding the given objects.
func work(cluster, name string, objs ...any) *fleetv1alpha1.Work {
	w := &fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.ClusterNamespace(cluster)},
		Spec: fleetv1alpha1.WorkSpec{
			Cluster:  cluster,
			Subject:  fleetv1alpha1.WorkSubject{Promise: "test"},
			Revision: "rev-1",
		},
	}
	setManifests(w, objs...)
	return w
}

func setManifests(w *fleetv1alpha1.Work, objs ...any) {
	w.Spec.Manifests = nil
	for _, o := range objs {
		var raw []byte
		switch o := o.(type) {
		case string:
			raw = []byte(o)
		default:
			var err error
			if raw, err = json.Marshal(o); err != nil {
				panic(err)
			}
		}
		w.Spec.Manifests = append(w.Spec.Manifests, fleetv1alpha1.Manifest{})
		w.Spec.Manifests[len(w.Spec.Manifests)-1].Raw = raw
	}
}

func namespaceObj(name string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}
}

func configMapObj(ns, name string, data map[string]string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns}, "data": data}
}

// deploymentObj is Deployment "web" in ns.
func deploymentObj(ns string, replicas int) map[string]any {
	const name = "web"
	labels := map[string]any{"app": name}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "app", "image": "registry.example/" + name + ":1.0"},
				}},
			},
		},
	}
}

// waitFor polls cond until it holds or the timeout passes, then fails with
// the last state cond described.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// getWork reads a Work from the hub as the admin.
func (e *env) getWork(t *testing.T, cluster, name string) (*fleetv1alpha1.Work, error) {
	t.Helper()
	w := &fleetv1alpha1.Work{}
	err := e.hubClient.Get(e.ctx, types.NamespacedName{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: name}, w)
	return w, err
}

// workRef is a Work to read by name: a cluster's Work called name.
func workRef(cluster, name string) *fleetv1alpha1.Work {
	return &fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: name}}
}

// updateWork changes the Work as the hub would and updates it, re-reading
// and retrying on conflicts: the agent writes the Work's status meanwhile.
// w holds the updated Work afterwards.
func (e *env) updateWork(t *testing.T, w *fleetv1alpha1.Work, change func(*fleetv1alpha1.Work)) {
	t.Helper()
	key := client.ObjectKeyFromObject(w)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.hubClient.Get(e.ctx, key, w); err != nil {
			return err
		}
		change(w)
		return e.hubClient.Update(e.ctx, w)
	})
	mustf(t, err, "updating work %s", key)
}

// waitWorkReady waits until the Work's status is Ready for its current generation.
func (e *env) waitWorkReady(t *testing.T, cluster, name string, timeout time.Duration) *fleetv1alpha1.Work {
	t.Helper()
	var w *fleetv1alpha1.Work
	waitFor(t, timeout, "work "+name+" Ready", func() (bool, string) {
		var err error
		w, err = e.getWork(t, cluster, name)
		if err != nil {
			return false, err.Error()
		}
		return w.Status.ObservedGeneration == w.Generation && conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady),
			describeStatus(w)
	})
	return w
}

func conditionTrue(conds []metav1.Condition, t string) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func describeStatus(w *fleetv1alpha1.Work) string {
	return describeAny(map[string]any{"generation": w.Generation, "status": w.Status})
}

func describeAny(v any) string {
	data, _ := json.MarshalIndent(v, "", " ")
	return string(data)
}

func findResource(w *fleetv1alpha1.Work, kind, name string, result fleetv1alpha1.ApplyResult) *fleetv1alpha1.ResourceStatus {
	for i, r := range w.Status.Resources {
		if r.Kind == kind && r.Name == name && (result == "" || r.Result == result) {
			return &w.Status.Resources[i]
		}
	}
	return nil
}

func mustf(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
