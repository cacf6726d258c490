package instance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests (and the benchmark)
// share. Each test runs its own hub manager against it and uses names of its own.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	hubCP, err = testenv.Start(ctx, testenv.Options{Name: "hub"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the hub:", err)
		return 1
	}
	defer func() { _ = hubCP.Stop() }()
	crds, err := crd.CRDs()
	if err == nil {
		err = hubCP.InstallCRDs(ctx, crds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installing CRDs:", err)
		return 1
	}
	c, err := client.New(hubCP.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err == nil {
		err = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.PlatformNamespace}})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the platform namespace:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "hub logs:\n%s", hubCP.Logs(30))
	}
	return code
}

// startHub runs the hub manager, as `flotilla hub` does, until tb ends.
func startHub(tb testing.TB, opts hub.Options) {
	tb.Helper()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	log := logr.Discard()
	if t, ok := tb.(*testing.T); ok {
		log = testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	}
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, hubCP.RESTConfig, opts) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				tb.Errorf("hub stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			tb.Error("hub did not stop within 30s")
		}
	})
}

func adminClient(tb testing.TB) client.Client {
	tb.Helper()
	c, err := client.New(hubCP.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// env builds the objects a story needs on the shared hub.
type env struct {
	tb  testing.TB
	ctx context.Context
	c   client.Client
}

func newEnv(tb testing.TB) *env {
	return &env{tb: tb, ctx: testContext(tb), c: adminClient(tb)}
}

func (e *env) create(obj client.Object) {
	e.tb.Helper()
	if err := e.c.Create(e.ctx, obj); err != nil {
		e.tb.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// cluster registers a member cluster and its namespace, as `flotilla join` does.
func (e *env) cluster(name string, labels map[string]string) {
	e.tb.Helper()
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.ClusterNamespace(name)}})
	e.create(&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

func (e *env) namespace(name string, labels map[string]string) {
	e.tb.Helper()
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

func (e *env) fleet(name string, selector map[string]string, tenants ...string) {
	e.tb.Helper()
	f := &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1alpha1.FleetSpec{Selector: metav1.LabelSelector{MatchLabels: selector}},
	}
	if len(tenants) > 0 {
		f.Spec.Tenants = &fleetv1alpha1.Tenants{Namespaces: tenants}
	}
	e.create(f)
}

// configMapPromise is a Promise of kind <kind> in group <group> whose
// instances render one ConfigMap carrying spec.size and the cluster name.
func configMapPromise(name, group, kind string, fleets ...string) *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: group, Kind: kind,
					Schema: raw(map[string]any{
						"type":     "object",
						"required": []string{"size"},
						"properties": map[string]any{
							"size": map[string]any{"type": "string", "enum": []string{"small", "large"}},
						},
					}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine: fleetv1alpha1.TemplateEngineGoTemplate,
					GoTemplates: []fleetv1alpha1.GoTemplate{{Name: "configmap.yaml", Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name }}
data:
  size: {{ .spec.size }}
  cluster: {{ .cluster.name }}
`}},
				},
				Examples: []fleetv1alpha1.PromiseExample{{Name: "small", Spec: raw(map[string]any{"size": "small"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: fleets},
		},
	}
}

func raw(v any) runtime.RawExtension {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return runtime.RawExtension{Raw: b}
}

// instance returns an instance of kind in group (version v1alpha1).
func instance(group, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(group + "/v1alpha1")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// eventually polls check every 100ms until it passes or within elapses.
func eventually(tb testing.TB, within time.Duration, what string, check func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s; last: %s", within, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promiseReady waits until the Promise is Ready and returns its latest revision.
func (e *env) promiseReady(name string) string {
	e.tb.Helper()
	var latest string
	eventually(e.tb, time.Minute, "promise "+name+" ready", func() (bool, string) {
		p := &fleetv1alpha1.Promise{}
		if err := e.c.Get(e.ctx, client.ObjectKey{Name: name}, p); err != nil {
			return false, err.Error()
		}
		latest = p.Status.LatestRevision
		return conditionIs(p.Status.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) && p.Status.ObservedGeneration == p.Generation,
			fmt.Sprintf("%+v", p.Status.Conditions)
	})
	return latest
}

// work returns the Work of an instance on a cluster, or nil.
func (e *env) work(promise, ns, name, cluster string) *fleetv1alpha1.Work {
	e.tb.Helper()
	w := &fleetv1alpha1.Work{}
	err := e.c.Get(e.ctx, client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: fleetv1alpha1.WorkName(promise, ns, name)}, w)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.tb.Fatal(err)
	}
	return w
}

// waitWork waits until the Work exists and check passes.
func (e *env) waitWork(promise, ns, name, cluster string, check func(*fleetv1alpha1.Work) (bool, string)) *fleetv1alpha1.Work {
	e.tb.Helper()
	var w *fleetv1alpha1.Work
	eventually(e.tb, time.Minute, fmt.Sprintf("work of %s/%s on %s", ns, name, cluster), func() (bool, string) {
		w = e.work(promise, ns, name, cluster)
		if w == nil {
			return false, "not found"
		}
		return check(w)
	})
	return w
}

// instanceStatus reads an instance's status.
func (e *env) instanceStatus(group, kind, ns, name string) fleetv1alpha1.InstanceStatus {
	e.tb.Helper()
	u := instance(group, kind, ns, name, nil)
	if err := e.c.Get(e.ctx, client.ObjectKeyFromObject(u), u); err != nil {
		e.tb.Fatal(err)
	}
	st := fleetv1alpha1.InstanceStatus{}
	if m, ok := u.Object["status"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st); err != nil {
			e.tb.Fatal(err)
		}
	}
	return st
}

func (e *env) waitInstance(group, kind, ns, name, what string, check func(fleetv1alpha1.InstanceStatus) bool) fleetv1alpha1.InstanceStatus {
	e.tb.Helper()
	var st fleetv1alpha1.InstanceStatus
	eventually(e.tb, time.Minute, fmt.Sprintf("%s %s/%s: %s", kind, ns, name, what), func() (bool, string) {
		st = e.instanceStatus(group, kind, ns, name)
		return check(st), fmt.Sprintf("%+v", st)
	})
	return st
}

func conditionIs(conds []metav1.Condition, typ string, status metav1.ConditionStatus) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

func conditionReason(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

// reportReady writes the Work status the agent writes once every resource is
// applied and healthy.
func (e *env) reportReady(w *fleetv1alpha1.Work) {
	e.tb.Helper()
	now := metav1.Now()
	w.Status = fleetv1alpha1.WorkStatus{
		ObservedGeneration: w.Generation,
		AppliedRevision:    w.Spec.Revision,
		LastAppliedTime:    &now,
		Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
			{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonHealthy, LastTransitionTime: now},
		},
	}
	if err := e.c.Status().Update(e.ctx, w); err != nil {
		e.tb.Fatal(err)
	}
}

// manifestData returns data[key] of the ConfigMap manifest in w.
func manifestData(tb testing.TB, w *fleetv1alpha1.Work, key string) string {
	tb.Helper()
	for _, m := range w.Spec.Manifests {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(m.Raw); err != nil {
			tb.Fatal(err)
		}
		if u.GetKind() == "ConfigMap" {
			v, _, _ := unstructured.NestedString(u.Object, "data", key)
			return v
		}
	}
	return ""
}
