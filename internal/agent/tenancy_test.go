package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// instanceWork is an instance's Work, as the hub writes it: confined to the
// instance's namespace and the kinds given.
func instanceWork(cluster, name, ns string, kinds []fleetv1alpha1.OutputKind, objs ...any) *fleetv1alpha1.Work {
	w := work(cluster, name, objs...)
	w.Spec.Subject.Instance = &fleetv1alpha1.InstanceReference{Namespace: ns, Name: name}
	w.Spec.Scope = &fleetv1alpha1.WorkScope{Namespaces: []string{ns}, Kinds: kinds}
	return w
}

func (e *env) createNamespace(t *testing.T, name string) {
	t.Helper()
	_, err := e.memberKube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// waitWorkResults waits until the Work reports, for its current generation,
// the given result for each resource (by kind/name), and returns it.
func (e *env) waitWorkResults(t *testing.T, cluster, name string, want map[string]fleetv1alpha1.ApplyResult) *fleetv1alpha1.Work {
	t.Helper()
	var w *fleetv1alpha1.Work
	waitFor(t, 60*time.Second, "results of work "+name, func() (bool, string) {
		var err error
		w, err = e.getWork(t, cluster, name)
		if err != nil {
			return false, err.Error()
		}
		if w.Status.ObservedGeneration != w.Generation {
			return false, describeStatus(w)
		}
		for key, result := range want {
			kind, n, _ := strings.Cut(key, "/")
			if findResource(w, kind, n, result) == nil {
				return false, describeStatus(w)
			}
		}
		return true, ""
	})
	return w
}

// The tenant boundary: a team's Work may not put objects outside its scope
// on the member, whatever the render says.
func TestScopedWorkRefusesObjectsOutsideItsScope(t *testing.T) {
	e := newEnv(t)
	const cluster, ns, otherTeam = "scope", "scope-team-a", "scope-team-b"
	e.createNamespace(t, ns)
	e.createNamespace(t, otherTeam)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))

	crbDeclared := clusterRoleBindingObj("scope-pwn")
	// Argo CD would apply its items instead of it, on a git-delivered cluster.
	wrapper := configMapObj(ns, "wrapper", map[string]string{"k": "v"})
	wrapper["items"] = []any{clusterRoleBindingObj("scope-pwn-items")}
	kinds := []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}}
	w := instanceWork(cluster, "team-a-app", ns, kinds,
		configMapObj(ns, "settings", map[string]string{"k": "v"}),
		configMapObj("kube-system", "coredns-custom", map[string]string{"evil": "yes"}),
		crbDeclared, // declared, but cluster-scoped: never from an instance
		map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "undeclared", "namespace": ns}},
		configMapObj(otherTeam, "db-root", map[string]string{"password": "mine"}),
		wrapper,
	)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	got := e.waitWorkResults(t, cluster, w.Name, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/wrapper":            fleetv1alpha1.ApplyResultRefused,
		"ConfigMap/settings":           fleetv1alpha1.ApplyResultApplied,
		"ConfigMap/coredns-custom":     fleetv1alpha1.ApplyResultRefused,
		"ClusterRoleBinding/scope-pwn": fleetv1alpha1.ApplyResultRefused,
		"ServiceAccount/undeclared":    fleetv1alpha1.ApplyResultRefused,
		"ConfigMap/db-root":            fleetv1alpha1.ApplyResultRefused,
	})
	for _, r := range got.Status.Resources {
		if r.Result == fleetv1alpha1.ApplyResultRefused && (r.Health != fleetv1alpha1.HealthFailed || !strings.Contains(r.Message, "outside the Work's scope")) {
			t.Errorf("refused resource %+v", r)
		}
	}
	applied := findCondition(got, fleetv1alpha1.ConditionApplied)
	if applied == nil || applied.Status != metav1.ConditionFalse || applied.Reason != fleetv1alpha1.ReasonApplyFailed ||
		!strings.Contains(applied.Message, "5 refused") || !strings.Contains(applied.Message, "ConfigMap/kube-system/coredns-custom") {
		t.Errorf("Applied %+v", applied)
	}
	if conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady) || got.Status.AppliedRevision != "" {
		t.Errorf("a Work with refused resources is Ready or applied: %s", describeStatus(got))
	}

	// Nothing outside the scope reached the member; the rest did.
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{}); err != nil {
		t.Errorf("in-scope configmap: %v", err)
	}
	absent := map[string]error{}
	_, absent["kube-system/coredns-custom"] = e.memberKube.CoreV1().ConfigMaps("kube-system").Get(e.ctx, "coredns-custom", metav1.GetOptions{})
	_, absent["ClusterRoleBinding scope-pwn"] = e.memberKube.RbacV1().ClusterRoleBindings().Get(e.ctx, "scope-pwn", metav1.GetOptions{})
	_, absent["ServiceAccount undeclared"] = e.memberKube.CoreV1().ServiceAccounts(ns).Get(e.ctx, "undeclared", metav1.GetOptions{})
	_, absent["team-b/db-root"] = e.memberKube.CoreV1().ConfigMaps(otherTeam).Get(e.ctx, "db-root", metav1.GetOptions{})
	for what, err := range absent {
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s on the member: %v", what, err)
		}
	}

	// A ClusterRoleBinding whose kind is not even declared is refused too.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		w.Spec.Scope.Kinds = []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}
		setManifests(w, configMapObj(ns, "settings", map[string]string{"k": "v"}), clusterRoleBindingObj("scope-pwn-2"))
	})
	got = e.waitWorkResults(t, cluster, w.Name, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/settings":             fleetv1alpha1.ApplyResultApplied,
		"ClusterRoleBinding/scope-pwn-2": fleetv1alpha1.ApplyResultRefused,
	})
	if r := findResource(got, "ClusterRoleBinding", "scope-pwn-2", ""); !strings.Contains(r.Message, "not in the Promise's output.kinds") {
		t.Errorf("undeclared ClusterRoleBinding: %+v", r)
	}
	if _, err := e.memberKube.RbacV1().ClusterRoleBindings().Get(e.ctx, "scope-pwn-2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("undeclared ClusterRoleBinding on the member: %v", err)
	}
}

// An instance's Work without a scope (only an older hub writes one; the
// hub's CRD refuses it now, so the applier is driven directly here, against
// the real member) has every object refused.
func TestInstanceWorkWithoutScopeIsRefused(t *testing.T) {
	e := newEnv(t)
	const ns = "unscoped-team"
	e.createNamespace(t, ns)
	m, err := newAPIMember(e.member.RESTConfig)
	mustf(t, err, "member client")
	a := &applier{member: m, metrics: newMetrics(nil)}
	w := instanceWork("unscoped", "app", ns, nil, configMapObj(ns, "settings", nil), clusterRoleBindingObj("unscoped-pwn"))
	w.Spec.Scope = nil
	var saved inventory
	pass := a.apply(context.Background(), w, nil, func(inv inventory) error { saved = inv; return nil }, nil, nil, time.Now())
	for _, r := range pass.resources {
		if r.result != fleetv1alpha1.ApplyResultRefused || !strings.Contains(r.message, "no spec.scope") {
			t.Errorf("%s: %s %q, want Refused", r.ref, r.result, r.message)
		}
	}
	if len(saved) != 0 {
		t.Errorf("inventory saved: %v", saved)
	}
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap on the member: %v", err)
	}
	if _, err := e.memberKube.RbacV1().ClusterRoleBindings().Get(e.ctx, "unscoped-pwn", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("clusterrolebinding on the member: %v", err)
	}
}

// A Work never takes over an object it did not create, and so never prunes
// one: not one that existed before, not another Work's. Adoption IfUnowned
// takes over only objects no Work owns and no controller keeps.
func TestWorkNeverTakesOverOrPrunesWhatItDidNotCreate(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "owner", "owner-team"
	e.createNamespace(t, ns)
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))
	kinds := []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}

	// Someone's ConfigMap, there before any Work.
	pre, err := e.memberKube.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "preexisting", Namespace: ns}, Data: map[string]string{"owner": "someone"},
	}, metav1.CreateOptions{})
	mustf(t, err, "creating preexisting configmap")
	// Work "victim" creates db-root.
	victim := instanceWork(cluster, "victim", ns, kinds, configMapObj(ns, "db-root", map[string]string{"password": "s3cret"}))
	mustf(t, e.hubClient.Create(e.ctx, victim), "creating victim work")
	e.waitWorkReady(t, cluster, victim.Name, 60*time.Second)
	owned, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "db-root", metav1.GetOptions{})
	mustf(t, err, "reading db-root")

	unchanged := func(before *corev1.ConfigMap) {
		t.Helper()
		live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, before.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: %v", before.Name, err)
			return
		}
		if live.UID != before.UID || live.ResourceVersion != before.ResourceVersion || live.Data["owner"] != before.Data["owner"] ||
			live.Data["password"] != before.Data["password"] || live.Labels[fleetv1alpha1.LabelWork] != before.Labels[fleetv1alpha1.LabelWork] {
			t.Errorf("%s was changed: %+v, was %+v", before.Name, live.ObjectMeta, before.ObjectMeta)
		}
	}

	// The attacker's Work lists both, and one of its own.
	attacker := instanceWork(cluster, "attacker", ns, kinds,
		configMapObj(ns, "preexisting", map[string]string{"owner": "attacker"}),
		configMapObj(ns, "db-root", map[string]string{"password": "attacker"}),
		configMapObj(ns, "attacker-own", nil),
	)
	mustf(t, e.hubClient.Create(e.ctx, attacker), "creating attacker work")
	got := e.waitWorkResults(t, cluster, attacker.Name, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/preexisting":  fleetv1alpha1.ApplyResultConflict,
		"ConfigMap/db-root":      fleetv1alpha1.ApplyResultConflict,
		"ConfigMap/attacker-own": fleetv1alpha1.ApplyResultApplied,
	})
	if r := findResource(got, "ConfigMap", "preexisting", ""); !strings.Contains(r.Message, "not created by Flotilla: it existed before") {
		t.Errorf("preexisting: %+v", r)
	}
	if r := findResource(got, "ConfigMap", "db-root", ""); !strings.Contains(r.Message, "owned by Work victim") {
		t.Errorf("db-root: %+v", r)
	}
	if a := findCondition(got, fleetv1alpha1.ConditionApplied); a == nil || a.Status != metav1.ConditionFalse || a.Reason != fleetv1alpha1.ReasonApplyFailed ||
		!strings.Contains(a.Message, "2 in conflict") {
		t.Errorf("Applied %+v", a)
	}
	unchanged(pre)
	unchanged(owned)

	// Removed from the attacker's Work, they stay; its own object is pruned.
	e.updateWork(t, attacker, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, configMapObj(ns, "attacker-new", nil))
	})
	e.waitWorkReady(t, cluster, attacker.Name, 30*time.Second)
	waitFor(t, 30*time.Second, "attacker-own pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "attacker-own", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	unchanged(pre)
	unchanged(owned)
	// Deleting the attacker's Work prunes only its own.
	mustf(t, e.hubClient.Delete(e.ctx, attacker), "deleting attacker work")
	waitFor(t, 30*time.Second, "attacker-new pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "attacker-new", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	unchanged(pre)
	unchanged(owned)

	// An operator's ConfigMap, kept by its controller (an owner reference
	// with controller: true): adopted, the Work would fight the controller
	// and, once it left the Work, prune what the controller made.
	operator, err := e.memberKube.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "operator-state", Namespace: ns},
	}, metav1.CreateOptions{})
	mustf(t, err, "creating the operator's configmap")
	controlled, err := e.memberKube.CoreV1().ConfigMaps(ns).Create(e.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "controlled", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "ConfigMap", Name: operator.Name, UID: operator.UID, Controller: ptr.To(true),
		}}},
		Data: map[string]string{"owner": "operator"},
	}, metav1.CreateOptions{})
	mustf(t, err, "creating the controlled configmap")

	// Adoption IfUnowned: the unowned ConfigMap is adopted, the victim's
	// and the controller's are not.
	adopter := instanceWork(cluster, "adopter", ns, kinds,
		configMapObj(ns, "preexisting", map[string]string{"owner": "adopter"}),
		configMapObj(ns, "db-root", map[string]string{"password": "adopter"}),
		configMapObj(ns, "controlled", map[string]string{"owner": "adopter"}),
	)
	adopter.Spec.Adoption = fleetv1alpha1.AdoptionIfUnowned
	mustf(t, e.hubClient.Create(e.ctx, adopter), "creating adopter work")
	got = e.waitWorkResults(t, cluster, adopter.Name, map[string]fleetv1alpha1.ApplyResult{
		"ConfigMap/preexisting": fleetv1alpha1.ApplyResultApplied,
		"ConfigMap/db-root":     fleetv1alpha1.ApplyResultConflict,
		"ConfigMap/controlled":  fleetv1alpha1.ApplyResultConflict,
	})
	if r := findResource(got, "ConfigMap", "preexisting", ""); !strings.Contains(r.Message, "adopted") {
		t.Errorf("preexisting: %+v", r)
	}
	if r := findResource(got, "ConfigMap", "controlled", ""); !strings.Contains(r.Message, "controlled by ConfigMap operator-state") {
		t.Errorf("controlled: %+v", r)
	}
	unchanged(owned)
	unchanged(controlled)
	adopted, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "preexisting", metav1.GetOptions{})
	mustf(t, err, "reading preexisting")
	if adopted.UID != pre.UID || adopted.Data["owner"] != "adopter" || adopted.Labels[fleetv1alpha1.LabelWork] != "adopter" {
		t.Errorf("adopted configmap %+v %v", adopted.ObjectMeta, adopted.Data)
	}
	// Adopted, it is the adopter's: pruned when it leaves the Work.
	e.updateWork(t, adopter, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, configMapObj(ns, "db-root", map[string]string{"password": "adopter"}))
	})
	waitFor(t, 30*time.Second, "adopted configmap pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "preexisting", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
	unchanged(owned)
	unchanged(controlled)
}

// With its local store lost, a restarted agent recognises the objects it
// created by their Work label, records their UIDs, and can prune them later.
func TestAgentWithEmptyStoreReclaimsItsObjectsAndPrunesThem(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "reclaim", "reclaim-team"
	e.createNamespace(t, ns)
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	kinds := []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}
	w := instanceWork(cluster, "app", ns, kinds, configMapObj(ns, "a", nil), configMapObj(ns, "b", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, w.Name, 60*time.Second)
	b, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "b", metav1.GetOptions{})
	mustf(t, err, "reading b")

	first.stop(t)
	opts.StateDir = t.TempDir() // the store is lost
	e.startAgent(t, hubCreds, opts)
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec.Revision = "rev-2" })
	waitFor(t, 60*time.Second, "rev-2 applied by the new agent", func() (bool, string) {
		got, err := e.getWork(t, cluster, w.Name)
		if err != nil {
			return false, err.Error()
		}
		return got.Status.AppliedRevision == "rev-2" && conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady), describeStatus(got)
	})
	store, err := newStore(opts.StateDir, cluster)
	mustf(t, err, "opening the new store")
	recs, _, err := store.load()
	mustf(t, err, "loading the new store")
	if rec := recs[w.Name]; rec == nil || rec.Inventory.uid(objectRef{Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "b"}) != b.UID {
		t.Fatalf("the new store does not record b's UID %s: %+v", b.UID, rec)
	}

	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-3"
		setManifests(w, configMapObj(ns, "a", nil))
	})
	waitFor(t, 30*time.Second, "b pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "b", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
}

func findCondition(w *fleetv1alpha1.Work, typ string) *metav1.Condition {
	for i, c := range w.Status.Conditions {
		if c.Type == typ {
			return &w.Status.Conditions[i]
		}
	}
	return nil
}
