package agent

import (
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The hub's API server goes away twice: for a few seconds while the agent
// runs (its watch recovers and a new revision arrives), then for longer while
// the agent restarts: it applies what it recorded without waiting for the
// hub, deletes and recreates nothing, and reports status again once the hub
// is back.
func TestRestartWhileHubIsDownKeepsTheMemberAndCatchesUp(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "offline", "offline-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"a": "b"}), deploymentObj(ns, 2))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)

	// A short outage while the agent runs: its watch recovers by itself.
	e.hub.StopAPIServer()
	time.Sleep(3 * time.Second)
	mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"a": "c"}), deploymentObj(ns, 2))
	})
	waitFor(t, 45*time.Second, "rev-2 applied after the outage", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return got.Status.AppliedRevision == "rev-2" && conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady), describeStatus(got)
	})
	first.stop(t)

	// What must survive: the Namespace and the Deployment, neither deleted
	// nor rewritten.
	nsBefore, err := e.memberKube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	mustf(t, err, "reading namespace")
	deployBefore, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading deployment")
	// Clear the reported status, so the test sees the restarted agent write it.
	mustf(t, e.hubClient.Get(e.ctx, types.NamespacedName{Namespace: w.Namespace, Name: w.Name}, w), "reading work")
	w.Status = fleetv1alpha1.WorkStatus{}
	mustf(t, e.hubClient.Status().Update(e.ctx, w), "clearing work status")
	// Someone deletes a managed ConfigMap while the agent is down: the
	// restarted agent restores it from its local record, hub or no hub.
	mustf(t, e.memberKube.CoreV1().ConfigMaps(ns).Delete(e.ctx, "settings", metav1.DeleteOptions{}), "deleting configmap")

	outageStart := time.Now()
	e.hub.StopAPIServer()
	hubRestarted := false
	t.Cleanup(func() {
		if !hubRestarted {
			mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
		}
	})
	e.startAgent(t, hubCreds, opts)

	waitFor(t, 20*time.Second, "configmap restored from local state while the hub is down", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		return err == nil, errString(err)
	})
	time.Sleep(2 * time.Second) // let the agent retry the hub a few times

	mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
	hubRestarted = true
	t.Logf("hub was down for %s", time.Since(outageStart).Round(time.Second))

	got := e.waitWorkReady(t, cluster, "web", 45*time.Second)
	if got.Status.AppliedRevision != "rev-2" {
		t.Errorf("appliedRevision %q, want rev-2", got.Status.AppliedRevision)
	}
	nsAfter, err := e.memberKube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	mustf(t, err, "reading namespace")
	deployAfter, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading deployment")
	if nsAfter.UID != nsBefore.UID || nsAfter.ResourceVersion != nsBefore.ResourceVersion {
		t.Errorf("namespace changed: uid %s→%s rv %s→%s", nsBefore.UID, nsAfter.UID, nsBefore.ResourceVersion, nsAfter.ResourceVersion)
	}
	// The Deployment's status may still move (kube-controller-manager), so
	// what must not is its identity, its spec and the agent's last write.
	if deployAfter.UID != deployBefore.UID || deployAfter.Generation != deployBefore.Generation ||
		agentWrite(deployAfter) != agentWrite(deployBefore) {
		t.Errorf("deployment changed: uid %s→%s generation %d→%d agent's write %s→%s", deployBefore.UID, deployAfter.UID,
			deployBefore.Generation, deployAfter.Generation, agentWrite(deployBefore), agentWrite(deployAfter))
	}
	// The heartbeat resumed too.
	waitFor(t, 15*time.Second, "lease renewed after the outage", func() (bool, string) {
		lease, err := e.hubKube.CoordinationV1().Leases(w.Namespace).Get(e.ctx, fleetv1alpha1.AgentLease, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(outageStart.Add(time.Second)), lease.Spec.String()
	})
}

// A Work deleted on the hub while its agent was away is pruned once the
// agent sees the hub again, and not before.
func TestWorkDeletedWhileAgentAwayIsPrunedOnReturn(t *testing.T) {
	e := newEnv(t)
	const cluster = "away"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	w := work(cluster, "gone", configMapObj("default", "away-gone", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "gone", 30*time.Second)
	first.stop(t)
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")

	e.startAgent(t, hubCreds, opts)
	waitFor(t, 30*time.Second, "configmap of the deleted Work pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps("default").Get(e.ctx, "away-gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err), errString(err)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// agentWrite is when the agent last wrote obj's fields, as its managed fields
// record it.
func agentWrite(obj metav1.Object) string {
	for _, m := range obj.GetManagedFields() {
		if m.Manager == fleetv1alpha1.FieldManager && m.Time != nil {
			return m.Time.UTC().Format(time.RFC3339)
		}
	}
	return "never"
}
