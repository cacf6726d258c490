package agent

import (
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestPrunesWhatLeavesTheWorkAndNothingElse(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "prune", "prune-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)

	keep := configMapObj(ns, "app-a", map[string]string{"k": "v"})
	kept := configMapObj(ns, "app-keep", nil)
	kept["metadata"].(map[string]any)["annotations"] = map[string]any{fleetv1alpha1.AnnotationPrune: fleetv1alpha1.PruneDisabled}
	w := work(cluster, "app", namespaceObj(ns), keep, configMapObj(ns, "app-b", nil), kept)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "app", 60*time.Second)

	// Someone else's objects in the same namespace: one with a name like
	// ours, one even claiming to be Flotilla's but for another Work.
	foreign := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "app-c", Namespace: ns}},
		{ObjectMeta: metav1.ObjectMeta{Name: "app-b-copy", Namespace: ns, Labels: map[string]string{
			fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue, fleetv1alpha1.LabelWork: "other"}}},
	}
	for i, cm := range foreign {
		created, err := e.memberKube.CoreV1().ConfigMaps(ns).Create(e.ctx, cm, metav1.CreateOptions{})
		mustf(t, err, "creating foreign configmap")
		foreign[i] = created
	}
	checkForeignUntouched := func() {
		t.Helper()
		for _, cm := range foreign {
			live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, cm.Name, metav1.GetOptions{})
			if err != nil {
				t.Errorf("foreign configmap %s: %v", cm.Name, err)
				continue
			}
			if live.UID != cm.UID || live.ResourceVersion != cm.ResourceVersion {
				t.Errorf("foreign configmap %s was touched: uid %s→%s, resourceVersion %s→%s", cm.Name, cm.UID, live.UID, cm.ResourceVersion, live.ResourceVersion)
			}
		}
	}

	// app-b and app-keep leave the Work: app-b is pruned, app-keep opted out.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), keep)
	})
	waitFor(t, 30*time.Second, "app-b pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "app-b", metav1.GetOptions{})
		return apierrors.IsNotFound(err), "app-b still there"
	})
	got := e.waitWorkReady(t, cluster, "app", 30*time.Second)
	waitFor(t, 10*time.Second, "rev-2 reported", func() (bool, string) {
		got, _ = e.getWork(t, cluster, "app")
		return got.Status.AppliedRevision == "rev-2", describeStatus(got)
	})
	if r := findResource(got, "ConfigMap", "app-b", fleetv1alpha1.ApplyResultPruned); r == nil {
		t.Errorf("app-b not reported Pruned: %s", describeStatus(got))
	}
	if r := findResource(got, "ConfigMap", "app-keep", fleetv1alpha1.ApplyResultSkipped); r == nil {
		t.Errorf("app-keep not reported Skipped: %s", describeStatus(got))
	}
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "app-keep", metav1.GetOptions{}); err != nil {
		t.Errorf("app-keep (prune disabled) was deleted: %v", err)
	}
	checkForeignUntouched()

	// A second Work with prunePolicy Orphan in the same namespace.
	orphan := work(cluster, "orphan", configMapObj(ns, "orphan-a", nil))
	orphan.Spec.PrunePolicy = fleetv1alpha1.PruneOrphan
	mustf(t, e.hubClient.Create(e.ctx, orphan), "creating orphan work")
	e.waitWorkReady(t, cluster, "orphan", 30*time.Second)

	// Deleting the Works: app's objects go; its Namespace stays because it
	// holds objects the Work did not create; orphan's objects stay.
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")
	mustf(t, e.hubClient.Delete(e.ctx, orphan), "deleting orphan work")
	waitFor(t, 30*time.Second, "app-a pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "app-a", metav1.GetOptions{})
		return apierrors.IsNotFound(err), "app-a still there"
	})
	store, err := newStore(opts.StateDir, cluster)
	mustf(t, err, "opening state")
	waitFor(t, 30*time.Second, "local state of both Works removed", func() (bool, string) {
		entries, err := os.ReadDir(store.dir)
		if err != nil {
			return false, err.Error()
		}
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return len(entries) == 0, describeAny(names)
	})
	nsObj, err := e.memberKube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	if err != nil || nsObj.DeletionTimestamp != nil {
		t.Errorf("namespace %s holding foreign objects was deleted: %v", ns, err)
	}
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "orphan-a", metav1.GetOptions{}); err != nil {
		t.Errorf("orphan-a (prunePolicy Orphan) was deleted: %v", err)
	}
	checkForeignUntouched()
}

// A Namespace the Work created and nobody else uses goes with the Work.
func TestPrunesEmptyNamespaceWithTheWork(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "prune-ns", "prune-ns-app"
	hubCreds := e.join(t, cluster)
	e.startAgent(t, hubCreds, testOptions(t, cluster))

	w := work(cluster, "app", namespaceObj(ns), configMapObj(ns, "a", nil), deploymentObj(ns, 1))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "app", 60*time.Second)
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")
	waitFor(t, 60*time.Second, "namespace deleted", func() (bool, string) {
		n, err := e.memberKube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return n.DeletionTimestamp != nil, "namespace not being deleted"
	})
}

// Unjoin revokes the agent's access, then deletes the cluster's namespace and
// with it the Works. The agent's open watch still reports the deletions; the
// agent must not prune on them: the member keeps its workloads.
func TestRevokedAgentDoesNotPruneOnDeletedWorks(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "revoked", "revoked-app"
	hubCreds := e.join(t, cluster)
	e.startAgent(t, hubCreds, testOptions(t, cluster))

	w := work(cluster, "app", namespaceObj(ns), configMapObj(ns, "a", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "app", 30*time.Second)
	before, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "a", metav1.GetOptions{})
	mustf(t, err, "reading configmap")

	// Revoke, as unjoin does first, then delete the Work.
	mustf(t, e.hubKube.RbacV1().RoleBindings(w.Namespace).Delete(e.ctx, "flotilla-agent", metav1.DeleteOptions{}), "revoking the agent's rights")
	waitFor(t, 10*time.Second, "revocation effective", func() (bool, string) {
		h, err := newHubClient(hubCreds, cluster)
		if err != nil {
			return false, err.Error()
		}
		err = h.fleet.Get().Namespace(w.Namespace).Resource("works").Name("app").Do(e.ctx).Error()
		return apierrors.IsForbidden(err), errString(err)
	})
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")

	time.Sleep(3 * time.Second)
	after, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "a", metav1.GetOptions{})
	if err != nil || after.UID != before.UID {
		t.Fatalf("configmap of a Work deleted after revocation was pruned: %v", err)
	}
}
