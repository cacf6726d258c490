// Package promisetest holds what the hub's Promise and instance tests share:
// a hub control plane for TestMain, the hub manager, and Given/When/Then
// helpers over Clusters, Fleets, Promises, instances and Works.
package promisetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Main runs a package's tests against one shared hub control plane with
// Flotilla's CRDs (testenv.MainWithHub), stored in *cp: a TestMain.
func Main(m *testing.M, cp **testenv.ControlPlane) int {
	return testenv.MainWithHub(m, func(hub *testenv.ControlPlane) { *cp = hub })
}

// StartHub runs the hub manager against cfg until tb ends or stop is
// called (see hubtest.Start).
func StartHub(tb testing.TB, cfg *rest.Config, opts hub.Options) (stop func()) {
	tb.Helper()
	return hubtest.Start(tb, cfg, opts)
}

// AdminClient is an admin client of cfg.
func AdminClient(tb testing.TB, cfg *rest.Config) client.Client {
	tb.Helper()
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestContext is a context that ends with tb (or after 3 minutes).
func TestContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// Env builds the objects a story needs on a shared hub.
type Env struct {
	TB  testing.TB
	Ctx context.Context
	C   client.Client
}

// NewEnv returns an Env on the hub at cfg, whose platform namespace exists.
func NewEnv(tb testing.TB, cfg *rest.Config) *Env {
	e := &Env{TB: tb, Ctx: TestContext(tb), C: AdminClient(tb, cfg)}
	err := e.C.Create(e.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.PlatformNamespace}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("creating the platform namespace: %v", err)
	}
	return e
}

// Create creates obj or fails the test.
func (e *Env) Create(obj client.Object) {
	e.TB.Helper()
	if err := e.C.Create(e.Ctx, obj); err != nil {
		e.TB.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// Cluster registers a member cluster and its namespace, as `flotilla join` does.
func (e *Env) Cluster(name string, labels map[string]string) {
	e.TB.Helper()
	e.Create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.ClusterNamespace(name)}})
	e.Create(&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

// OnlineCluster registers a member that counts as online without an agent:
// Git delivery without a health source (the tests write Work status
// themselves), so that Rollouts admit it.
func (e *Env) OnlineCluster(name string, labels map[string]string) {
	e.TB.Helper()
	e.Create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.ClusterNamespace(name)}})
	e.Create(&fleetv1alpha1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{
			URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}},
	})
}

// Namespace creates a namespace.
func (e *Env) Namespace(name string, labels map[string]string) {
	e.TB.Helper()
	e.Create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
}

// Fleet creates a Fleet selecting clusters by labels, with tenant namespaces.
func (e *Env) Fleet(name string, selector map[string]string, tenants ...string) {
	e.TB.Helper()
	f := &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1alpha1.FleetSpec{Selector: metav1.LabelSelector{MatchLabels: selector}},
	}
	if len(tenants) > 0 {
		f.Spec.Tenants = &fleetv1alpha1.Tenants{Namespaces: tenants}
	}
	e.Create(f)
}

// ConfigMapPromise is a Promise of kind <kind> in group <group> whose
// instances render one ConfigMap carrying spec.size and the cluster name.
func ConfigMapPromise(name, group, kind string, fleets ...string) *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: group, Kind: kind,
					Schema: Raw(map[string]any{
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
  name: {{ .instance.metadata.name | quote }}
data:
  size: {{ .spec.size | quote }}
  cluster: {{ .cluster.name | quote }}
`}},
				},
				Output:   &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}},
				Examples: []fleetv1alpha1.PromiseExample{{Name: "small", Spec: Raw(map[string]any{"size": "small"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: fleets},
		},
	}
}

// Raw encodes v as a RawExtension.
func Raw(v any) runtime.RawExtension {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return runtime.RawExtension{Raw: b}
}

// Instance returns an instance of kind in group (version v1alpha1).
func Instance(group, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion(group + "/v1alpha1")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// Eventually polls check every 100ms until it passes or within elapses.
func Eventually(tb testing.TB, within time.Duration, what string, check func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			// A hub that stalled on a lock cycle shows where.
			if waits := hubtest.LockWaits(); waits != "" {
				tb.Log(waits)
			}
			tb.Fatalf("timed out after %s waiting for %s; last: %s", within, what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// UpdatePromise applies change to the latest Promise and updates it,
// retrying on conflicts: the hub writes the Promise's status at any moment,
// so a plain get-and-update races with it. It returns the updated Promise.
func (e *Env) UpdatePromise(name string, change func(*fleetv1alpha1.Promise)) *fleetv1alpha1.Promise {
	e.TB.Helper()
	p := &fleetv1alpha1.Promise{}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, p); err != nil {
			return err
		}
		change(p)
		return e.C.Update(e.Ctx, p)
	})
	if err != nil {
		e.TB.Fatalf("update promise %s: %v", name, err)
	}
	return p
}

// UpdateInstance is UpdatePromise for an instance: the hub writes its status.
func (e *Env) UpdateInstance(u *unstructured.Unstructured, change func(*unstructured.Unstructured)) {
	e.TB.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return err
		}
		change(u)
		return e.C.Update(e.Ctx, u)
	})
	if err != nil {
		e.TB.Fatalf("update instance %s/%s: %v", u.GetNamespace(), u.GetName(), err)
	}
}

// UpdateWorkStatus changes a Work's status as an agent does, reading it
// again and changing it anew when the hub wrote the Work meanwhile.
func (e *Env) UpdateWorkStatus(w *fleetv1alpha1.Work, change func(*fleetv1alpha1.Work)) {
	e.TB.Helper()
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), w); err != nil {
				return err
			}
		}
		first = false
		change(w)
		return e.C.Status().Update(e.Ctx, w)
	})
	if err != nil {
		e.TB.Fatalf("update work %s/%s status: %v", w.Namespace, w.Name, err)
	}
}

// PromiseReady waits until the Promise is Ready and returns its latest revision.
func (e *Env) PromiseReady(name string) string {
	e.TB.Helper()
	var latest string
	Eventually(e.TB, time.Minute, "promise "+name+" ready", func() (bool, string) {
		p := &fleetv1alpha1.Promise{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, p); err != nil {
			return false, err.Error()
		}
		latest = p.Status.LatestRevision
		return ConditionIs(p.Status.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) && p.Status.ObservedGeneration == p.Generation,
			fmt.Sprintf("%+v", p.Status.Conditions)
	})
	return latest
}

// Work returns the Work of an instance on a cluster, or nil.
func (e *Env) Work(promise, ns, name, cluster string) *fleetv1alpha1.Work {
	e.TB.Helper()
	w := &fleetv1alpha1.Work{}
	err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: fleetv1alpha1.WorkName(promise, ns, name)}, w)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.TB.Fatal(err)
	}
	return w
}

// WaitWork waits until the Work exists and check passes.
func (e *Env) WaitWork(promise, ns, name, cluster string, check func(*fleetv1alpha1.Work) (bool, string)) *fleetv1alpha1.Work {
	e.TB.Helper()
	var w *fleetv1alpha1.Work
	Eventually(e.TB, time.Minute, fmt.Sprintf("work of %s/%s on %s", ns, name, cluster), func() (bool, string) {
		w = e.Work(promise, ns, name, cluster)
		if w == nil {
			return false, "not found"
		}
		return check(w)
	})
	return w
}

// InstanceStatus reads an instance's status.
func (e *Env) InstanceStatus(group, kind, ns, name string) fleetv1alpha1.InstanceStatus {
	e.TB.Helper()
	u := Instance(group, kind, ns, name, nil)
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(u), u); err != nil {
		e.TB.Fatal(err)
	}
	st := fleetv1alpha1.InstanceStatus{}
	if m, ok := u.Object["status"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st); err != nil {
			e.TB.Fatal(err)
		}
	}
	return st
}

// WaitInstance waits until check passes on the instance's status.
func (e *Env) WaitInstance(group, kind, ns, name, what string, check func(fleetv1alpha1.InstanceStatus) bool) fleetv1alpha1.InstanceStatus {
	e.TB.Helper()
	var st fleetv1alpha1.InstanceStatus
	Eventually(e.TB, time.Minute, fmt.Sprintf("%s %s/%s: %s", kind, ns, name, what), func() (bool, string) {
		st = e.InstanceStatus(group, kind, ns, name)
		return check(st), fmt.Sprintf("%+v", st)
	})
	return st
}

// ConditionIs reports whether condition typ has status.
func ConditionIs(conds []metav1.Condition, typ string, status metav1.ConditionStatus) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == status
		}
	}
	return false
}

// ConditionReason is the reason of condition typ, or "".
func ConditionReason(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Reason
		}
	}
	return ""
}

// ReportReady writes the Work status the agent writes once every resource is
// applied and healthy.
func (e *Env) ReportReady(w *fleetv1alpha1.Work) {
	e.TB.Helper()
	now := metav1.Now()
	w.Status = fleetv1alpha1.WorkStatus{
		ObservedGeneration:      w.Generation,
		AppliedRevision:         w.Spec.Revision,
		AppliedInstanceRevision: w.Spec.InstanceRevision,
		LastAppliedTime:         &now,
		Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now, ObservedGeneration: w.Generation},
			{Type: fleetv1alpha1.ConditionHealthy, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonHealthy, LastTransitionTime: now, ObservedGeneration: w.Generation},
			{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonHealthy, LastTransitionTime: now, ObservedGeneration: w.Generation},
		},
	}
	err := e.C.Status().Update(e.Ctx, w)
	if apierrors.IsConflict(err) {
		// The hub changed the Work meanwhile: report on what it asks now,
		// as an agent would.
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), w); err != nil {
			e.TB.Fatal(err)
		}
		e.ReportReady(w)
		return
	}
	if err != nil {
		e.TB.Fatal(err)
	}
}

// ManifestData returns data[key] of the ConfigMap manifest in w.
func ManifestData(tb testing.TB, w *fleetv1alpha1.Work, key string) string {
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
