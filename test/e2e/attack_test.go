package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/render/charttest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The attack suite: a hostile member of team-a, with exactly the RBAC of
// docs/howto/per-team-setup.md, tries to leave its slice of the fleet
// through the Promises the platform team published — naive templates that
// interpolate instance fields unquoted, as users write them. Every attack
// must fail, leave nothing outside team-a's namespace on any member, change
// nothing that existed before, and leave team-a's benign instances working.

var (
	appKind   = schema.GroupVersionKind{Group: "platform.example.com", Version: "v1alpha1", Kind: "App"}
	chartKind = schema.GroupVersionKind{Group: "platform.example.com", Version: "v1alpha1", Kind: "Chart"}
)

// injection is an instance value that, pasted unquoted into YAML, adds three
// documents: cluster-admin for team-a's ServiceAccount, a ConfigMap in
// kube-system, and an overwrite of team-b's ConfigMap, whose data takes in
// the template's lines that follow the value.
const injection = `16
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: flotilla-pwned
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: team-a}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: pwned, namespace: kube-system}
data: {owned: "yes"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: victim, namespace: team-b}
data:
  secret: stolen`

func TestAttacks(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	f := givenFleet(t, 2)
	f.givenPlatformNamespace()
	f.create(f.hub, &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: "everywhere"},
		Spec: fleetv1alpha1.FleetSpec{
			Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "member", Operator: metav1.LabelSelectorOpIn, Values: []string{"member-1", "member-2"}}}},
			Tenants: &fleetv1alpha1.Tenants{Namespaces: []string{"team-a", "team-b"}},
		},
	})
	f.givenTeamNamespaces("team-a", "team-b")
	f.givenPromise(appPromise())
	f.givenPromise(chartPromise(t))
	alice := f.givenTeamMember(t, "alice", "team-a")

	// What existed on the members before: team-b's ConfigMap and a member
	// admin's object in team-a's namespace.
	for _, m := range []string{"member-1", "member-2"} {
		f.create(f.members[m], &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "victim"}, Data: map[string]string{"secret": "keep"}})
		f.create(f.members[m], &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "db-root"}, Data: map[string]string{"password": "hunter2"}})
	}
	a := &attacker{fleet: f, c: alice}
	victimBefore := a.configMaps("team-b", "victim")
	a.request(appKind, "good", map[string]any{"version": "16"})
	f.thenInstanceIsReady(appKind, "team-a", "good", 2, 2*time.Minute)

	t.Run("field injection through a Go template", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.request(appKind, "inject", map[string]any{"version": injection})
		a.thenRefused(appKind, "inject", fleetv1alpha1.ReasonValueCreatesStructure)
		a.thenNoWork("app", "inject")
	})

	t.Run("field injection through Helm values", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.request(chartKind, "inject", map[string]any{"version": injection})
		a.thenRefused(chartKind, "inject", fleetv1alpha1.ReasonValueCreatesStructure)
		a.thenNoWork("chart", "inject")
	})

	t.Run("an Override turning a Service into a ClusterRoleBinding", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.override("escape-kind", fleetv1alpha1.PatchJSONMerge, []fleetv1alpha1.ResourceSelector{{Kind: "Service"}}, map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
			"roleRef":  map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
			"subjects": []any{map[string]any{"kind": "ServiceAccount", "name": "default", "namespace": "team-a"}},
			"spec":     nil,
		})
		a.thenOverrideRefused("escape-kind")
		a.withdrawOverride("escape-kind")
	})

	t.Run("an Override dropping the namespace with $retainKeys", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.override("escape-namespace", fleetv1alpha1.PatchStrategicMerge, []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, map[string]any{
			"metadata": map[string]any{"$retainKeys": []any{"name", "labels"}},
		})
		a.thenOverrideRefused("escape-namespace")
		a.withdrawOverride("escape-namespace")
	})

	t.Run("a Values Override breaking the schema", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.override("escape-values", fleetv1alpha1.PatchValues, nil, map[string]any{
			"replicas": "1\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: pwned, namespace: kube-system}\n---\n#",
		})
		a.thenOverrideRefused("escape-values")
		a.withdrawOverride("escape-values")
	})

	t.Run("taking over a pre-existing object, then removing it", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		rootBefore := a.configMaps("team-a", "db-root")
		a.request(appKind, "takeover", map[string]any{"version": "16", "extraName": "db-root"})
		a.thenConflict("takeover", "db-root")
		a.update(appKind, "takeover", map[string]any{"version": "16"})
		a.thenWorkApplied("takeover", func(w *fleetv1alpha1.Work) bool { return !hasResource(w, "db-root") })
		a.thenUnchanged(rootBefore)
	})

	t.Run("taking over another Work's object, then removing it", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		a.request(appKind, "owner", map[string]any{"version": "16", "extraName": "shared"})
		f.thenInstanceIsReady(appKind, "team-a", "owner", 2, time.Minute)
		sharedBefore := a.configMaps("team-a", "shared")
		a.request(appKind, "thief", map[string]any{"version": "16", "extraName": "shared"})
		a.thenConflict("thief", "shared")
		a.update(appKind, "thief", map[string]any{"version": "16"})
		a.thenWorkApplied("thief", func(w *fleetv1alpha1.Work) bool { return !hasResource(w, "shared") })
		a.thenUnchanged(sharedBefore)
	})

	t.Run("a hostile render loop does not stall other tenants", func(t *testing.T) {
		f := f.in(t)
		a := a.in(f)
		for i := range 16 {
			// Half render a ConfigMap per iteration, half loop without output.
			field := "copies"
			if i%2 == 1 {
				field = "spin"
			}
			a.request(appKind, fmt.Sprintf("loop-%d", i), map[string]any{"version": "16", field: int64(1) << 40})
		}
		start := time.Now()
		bob := &attacker{fleet: f, c: f.givenTeamMember(t, "bob", "team-b"), ns: "team-b"}
		bob.request(appKind, "benign", map[string]any{"version": "17"})
		f.thenInstanceIsReady(appKind, "team-b", "benign", 2, time.Minute)
		t.Logf("team-b's instance was Ready %v after 16 hostile instances were requested", time.Since(start).Round(time.Millisecond))
		for i := range 16 {
			a.thenRefused(appKind, fmt.Sprintf("loop-%d", i), fleetv1alpha1.ReasonRenderBudgetExceeded)
		}
	})

	t.Run("nothing outside team-a's slice changed, and team-a still rolls out", func(t *testing.T) {
		f := f.in(t)
		for _, m := range []string{"member-1", "member-2"} {
			err := f.members[m].Get(context.Background(), client.ObjectKey{Name: "flotilla-pwned"}, &rbacv1.ClusterRoleBinding{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s: ClusterRoleBinding flotilla-pwned: %v (want it absent)", m, err)
			}
			// The agent labels everything it applies with its Work: outside
			// team-a's namespace, no Work of an instance put anything.
			for _, l := range []client.ObjectList{&corev1.ConfigMapList{}, &corev1.ServiceList{}, &rbacv1.ClusterRoleBindingList{}} {
				if err := f.members[m].List(context.Background(), l, client.HasLabels{fleetv1alpha1.LabelWork}); err != nil {
					t.Fatal(err)
				}
				items, err := meta.ExtractList(l)
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range items {
					o := item.(client.Object)
					teamB := fleetv1alpha1.WorkLabelValue(fleetv1alpha1.WorkName("app", "team-b", "benign"))
					if o.GetNamespace() != "team-a" && (o.GetNamespace() != "team-b" || o.GetLabels()[fleetv1alpha1.LabelWork] != teamB) {
						t.Errorf("%s: %T %s/%s was applied by Work %s", m, o, o.GetNamespace(), o.GetName(), o.GetLabels()[fleetv1alpha1.LabelWork])
					}
				}
			}
		}
		a.in(f).thenUnchanged(victimBefore)
		f.thenInstanceIsReady(appKind, "team-a", "good", 2, time.Minute)
		a.in(f).update(appKind, "good", map[string]any{"version": "17"})
		f.eventually(time.Minute, "team-a's good instance runs the new version everywhere", func() (bool, string) {
			var got []string
			for _, m := range []string{"member-1", "member-2"} {
				cm := &corev1.ConfigMap{}
				if err := f.members[m].Get(context.Background(), client.ObjectKey{Namespace: "team-a", Name: "good-config"}, cm); err != nil {
					return false, err.Error()
				}
				got = append(got, cm.Data["image"])
			}
			return got[0] == "postgres:17" && got[1] == "postgres:17", strings.Join(got, ", ")
		})
	})
}

// attacker is a team member acting on the hub with its own credentials.
type attacker struct {
	*fleet
	c  client.Client
	ns string
}

func (a *attacker) in(f *fleet) *attacker { return &attacker{fleet: f, c: a.c, ns: a.ns} }

func (a *attacker) namespace() string {
	if a.ns == "" {
		return "team-a"
	}
	return a.ns
}

func (a *attacker) request(gvk schema.GroupVersionKind, name string, spec map[string]any) {
	a.t.Helper()
	if err := a.c.Create(context.Background(), newInstance(gvk, a.namespace(), name, spec)); err != nil {
		a.t.Fatalf("%s requesting %s %s: %v", a.namespace(), gvk.Kind, name, err)
	}
}

func (a *attacker) update(gvk schema.GroupVersionKind, name string, spec map[string]any) {
	a.t.Helper()
	a.eventually(30*time.Second, "update "+name, func() (bool, string) {
		u := newInstance(gvk, a.namespace(), name, nil)
		if err := a.c.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
			return false, err.Error()
		}
		u.Object["spec"] = spec
		err := a.c.Update(context.Background(), u)
		return err == nil, fmt.Sprint(err)
	})
}

// thenRefused waits until the instance is Ready=False with reason.
func (a *attacker) thenRefused(gvk schema.GroupVersionKind, name, reason string) {
	a.t.Helper()
	a.eventually(time.Minute, fmt.Sprintf("%s %s refused with %s", gvk.Kind, name, reason), func() (bool, string) {
		st, err := a.instanceStatus(gvk, a.namespace(), name)
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason, fmt.Sprintf("%+v", st.Conditions)
	})
}

// thenNoWork checks that no Work was written for the instance on any member.
func (a *attacker) thenNoWork(promise, name string) {
	a.t.Helper()
	for _, m := range []string{"member-1", "member-2"} {
		if w := a.workOf(promise, a.namespace(), name, m); w != nil {
			a.t.Errorf("a Work was written for %s on %s: %d manifests", name, m, len(w.Spec.Manifests))
		}
	}
}

func (a *attacker) override(name string, typ fleetv1alpha1.PatchType, resources []fleetv1alpha1.ResourceSelector, patch map[string]any) {
	a.t.Helper()
	o := &fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace(), Name: name},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "app", Type: typ, Resources: resources, Patch: raw(patch),
			InstanceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"target": name}},
		},
	}
	if err := a.c.Create(context.Background(), o); err != nil {
		if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
			a.t.Fatalf("creating Override %s: %v", name, err)
		}
		a.t.Logf("the API server refused Override %s (the earliest point): %v", name, err)
	}
	inst := newInstance(appKind, a.namespace(), name, map[string]any{"version": "16"})
	inst.SetLabels(map[string]string{"target": name})
	if err := a.c.Create(context.Background(), inst); err != nil {
		a.t.Fatalf("requesting the Override's target: %v", err)
	}
}

// thenOverrideRefused waits until the Override is Ready=False with
// PatchNotAllowed (unless the API server refused it outright), and checks
// that its target's render was refused: no Work for it anywhere.
func (a *attacker) thenOverrideRefused(name string) {
	a.t.Helper()
	o := &fleetv1alpha1.Override{}
	if err := a.c.Get(context.Background(), client.ObjectKey{Namespace: a.namespace(), Name: name}, o); apierrors.IsNotFound(err) {
		return
	}
	a.eventually(time.Minute, "Override "+name+" refused", func() (bool, string) {
		if err := a.c.Get(context.Background(), client.ObjectKey{Namespace: a.namespace(), Name: name}, o); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == fleetv1alpha1.ReasonPatchNotAllowed, fmt.Sprintf("%+v", o.Status.Conditions)
	})
	a.eventually(time.Minute, "the target of "+name+" is not Ready", func() (bool, string) {
		st, err := a.instanceStatus(appKind, a.namespace(), name)
		if err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionFalse(st.Conditions, fleetv1alpha1.ConditionReady), fmt.Sprintf("%+v", st.Conditions)
	})
	a.thenNoWork("app", name)
}

// withdrawOverride deletes the Override; its target then rolls out as the
// Promise renders it.
func (a *attacker) withdrawOverride(name string) {
	a.t.Helper()
	err := a.c.Delete(context.Background(), &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace(), Name: name}})
	if client.IgnoreNotFound(err) != nil {
		a.t.Fatal(err)
	}
	a.thenInstanceIsReady(appKind, a.namespace(), name, 2, time.Minute)
}

// thenConflict waits until every member reports the object Conflict in the instance's Work.
func (a *attacker) thenConflict(instance, object string) {
	a.t.Helper()
	for _, m := range []string{"member-1", "member-2"} {
		a.eventually(time.Minute, fmt.Sprintf("%s reports %s as a Conflict", m, object), func() (bool, string) {
			w := a.workOf("app", a.namespace(), instance, m)
			if w == nil {
				return false, "no Work yet"
			}
			for _, r := range w.Status.Resources {
				if r.Name == object && r.Kind == "ConfigMap" {
					return r.Result == fleetv1alpha1.ApplyResultConflict, fmt.Sprintf("%s: %s", r.Result, r.Message)
				}
			}
			return false, fmt.Sprintf("%+v", w.Status.Resources)
		})
	}
}

// thenWorkApplied waits until every member applied the instance's latest Work and ok holds for it.
func (a *attacker) thenWorkApplied(instance string, ok func(*fleetv1alpha1.Work) bool) {
	a.t.Helper()
	for _, m := range []string{"member-1", "member-2"} {
		a.eventually(time.Minute, fmt.Sprintf("%s applied the new Work of %s", m, instance), func() (bool, string) {
			w := a.workOf("app", a.namespace(), instance, m)
			if w == nil {
				return false, "no Work"
			}
			return w.Status.ObservedGeneration == w.Generation && ok(w), fmt.Sprintf("%+v", w.Status.Resources)
		})
	}
}

func hasResource(w *fleetv1alpha1.Work, name string) bool {
	for _, r := range w.Status.Resources {
		if r.Name == name && r.Result != fleetv1alpha1.ApplyResultPruned && r.Result != fleetv1alpha1.ApplyResultSkipped {
			return true
		}
	}
	return false
}

// configMaps reads a ConfigMap on every member.
func (a *attacker) configMaps(ns, name string) map[string]*corev1.ConfigMap {
	a.t.Helper()
	out := map[string]*corev1.ConfigMap{}
	for _, m := range []string{"member-1", "member-2"} {
		cm := &corev1.ConfigMap{}
		if err := a.members[m].Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
			a.t.Fatalf("%s: %v", m, err)
		}
		out[m] = cm
	}
	return out
}

// thenUnchanged checks that each ConfigMap still exists, the same object
// (UID), unmodified (resourceVersion), some seconds after the attack ended.
func (a *attacker) thenUnchanged(before map[string]*corev1.ConfigMap) {
	a.t.Helper()
	time.Sleep(2 * time.Second) // a prune or re-apply would have happened by now
	for m, want := range before {
		got := &corev1.ConfigMap{}
		if err := a.members[m].Get(context.Background(), client.ObjectKeyFromObject(want), got); err != nil {
			a.t.Errorf("%s: %s/%s is gone: %v", m, want.Namespace, want.Name, err)
			continue
		}
		if got.UID != want.UID || got.ResourceVersion != want.ResourceVersion {
			a.t.Errorf("%s: %s/%s changed: uid %s→%s, resourceVersion %s→%s, labels %v, data %v", m, want.Namespace, want.Name,
				want.UID, got.UID, want.ResourceVersion, got.ResourceVersion, got.Labels, got.Data)
		}
	}
}

// givenTeamMember grants user, in group team, the roles of
// docs/howto/per-team-setup.md (the page's own YAML, with this suite's
// Promises added to the tenant role as the page says to, and team-a's
// RoleBinding copied for other teams) and returns a client acting as them.
func (f *fleet) givenTeamMember(t *testing.T, user, team string) client.Client {
	t.Helper()
	for _, obj := range perTeamRBAC(t) {
		if cr, ok := obj.(*rbacv1.ClusterRole); ok && cr.Name == "flotilla-tenant" {
			for i, rule := range cr.Rules {
				if len(rule.APIGroups) == 1 && rule.APIGroups[0] == appKind.Group {
					cr.Rules[i].Resources = append(rule.Resources, "apps", "charts")
				}
			}
		}
		if rb, ok := obj.(*rbacv1.RoleBinding); ok && rb.Namespace == "team-a" {
			rb.Namespace = team
			for i := range rb.Subjects {
				rb.Subjects[i].Name = team
			}
		}
		if err := f.hub.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("granting the how-to's RBAC: %v", err)
		}
	}
	cfg := rest.CopyConfig(f.env.Hub.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{team, "system:authenticated"}}
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{Verb: "create", Group: appKind.Group, Resource: "apps", Namespace: team})
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{Verb: "create", Group: fleetv1alpha1.Group, Resource: "overrides", Namespace: team})
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// perTeamRBAC decodes the RBAC objects of docs/howto/per-team-setup.md.
func perTeamRBAC(t *testing.T) []client.Object {
	t.Helper()
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "howto", "per-team-setup.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []client.Object
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(page), -1) {
		for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(block[1], -1) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil || u.GetAPIVersion() != rbacv1.SchemeGroupVersion.String() {
				continue
			}
			var obj client.Object
			switch u.GetKind() {
			case "ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			case "Role":
				obj = &rbacv1.Role{}
			case "RoleBinding":
				obj = &rbacv1.RoleBinding{}
			default:
				continue
			}
			if err := yaml.Unmarshal([]byte(doc), obj); err != nil {
				t.Fatal(err)
			}
			out = append(out, obj)
		}
	}
	if len(out) < 4 {
		t.Fatalf("found %d RBAC objects in the per-team how-to", len(out))
	}
	return out
}

// appPromise is the platform's App API, written as users write templates:
// instance fields interpolated unquoted. It renders a ConfigMap and a
// Service, a ConfigMap named by the instance when asked, and one ConfigMap
// per copy; spin loops that many times without output.
func appPromise() *fleetv1alpha1.Promise {
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: appKind.Group, Kind: appKind.Kind,
					Schema: raw(map[string]any{
						"type":     "object",
						"required": []string{"version"},
						"properties": map[string]any{
							"version":   map[string]any{"type": "string", "maxLength": 4096},
							"replicas":  map[string]any{"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
							"copies":    map[string]any{"type": "integer", "minimum": 0, "default": 0},
							"extraName": map[string]any{"type": "string", "maxLength": 63, "default": ""},
							"spin":      map[string]any{"type": "integer", "minimum": 0, "default": 0},
						},
					}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine: fleetv1alpha1.TemplateEngineGoTemplate,
					GoTemplates: []fleetv1alpha1.GoTemplate{
						{Name: "configmap.yaml", Template: `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name }}-config
data:
  image: postgres:{{ .spec.version }}
  replicas: "{{ .spec.replicas }}"
`},
						{Name: "service.yaml", Template: `apiVersion: v1
kind: Service
metadata:
  name: {{ .instance.metadata.name }}
spec:
  selector:
    app: {{ .instance.metadata.name }}
  ports:
  - port: 80
`},
						{Name: "extra.yaml", Template: `{{- if .spec.extraName }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .spec.extraName }}
data:
  owner: {{ .instance.metadata.name }}
{{- end }}`},
						{Name: "copies.yaml", Template: `{{- range $i := .spec.copies }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.instance.metadata.name }}-copy-{{ $i }}
{{- end }}`},
						{Name: "spin.yaml", Template: `{{- range $i := .spec.spin }}{{- end }}`},
					},
				},
				Output:   &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}, {Kind: "Service"}}},
				Examples: []fleetv1alpha1.PromiseExample{{Name: "default", Spec: raw(map[string]any{"version": "16"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: []string{"everywhere"}},
		},
	}
}

// chartPromise is the same naive interpolation in a Helm chart.
func chartPromise(t *testing.T) *fleetv1alpha1.Promise {
	chart := charttest.Package(t, "naive", "1.0.0", "version: \"16\"\n", map[string]string{
		"configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  image: postgres:{{ .Values.version }}
`,
	})
	return &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: "chart"},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{
					Group: chartKind.Group, Kind: chartKind.Kind,
					Schema: raw(map[string]any{
						"type":       "object",
						"properties": map[string]any{"version": map[string]any{"type": "string", "maxLength": 4096}},
					}),
				},
				Templates: &fleetv1alpha1.Templates{
					Engine: fleetv1alpha1.TemplateEngineHelm,
					Helm:   &fleetv1alpha1.HelmTemplate{Inline: base64.StdEncoding.EncodeToString(chart)},
				},
				Output:   &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}},
				Examples: []fleetv1alpha1.PromiseExample{{Name: "default", Spec: raw(map[string]any{"version": "16"})}},
			},
			Placement: &fleetv1alpha1.ClusterSelector{Fleets: []string{"everywhere"}},
		},
	}
}
