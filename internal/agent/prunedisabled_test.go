package agent

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// An object marked fleet.flotilla.dev/prune: disabled (on the manifest, say
// a database's data, or on the live object) stays when its Work is deleted:
// so must the Namespace it is in, whose deletion would take it along.
func TestANamespaceIsNotPrunedOverWhatPruneLeavesInPlace(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "keep-ns", "keep-ns-db"
	e.startAgent(t, e.join(t, cluster), testOptions(t, cluster))

	data := configMapObj(ns, "data", map[string]string{"rows": "precious"})
	data["metadata"].(map[string]any)["annotations"] = map[string]any{fleetv1alpha1.AnnotationPrune: fleetv1alpha1.PruneDisabled}
	w := work(cluster, "db", namespaceObj(ns), data, configMapObj(ns, "config", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, w.Name, 60*time.Second)
	before, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "data", metav1.GetOptions{})
	mustf(t, err, "reading data")

	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")
	waitFor(t, 30*time.Second, "config pruned", func() (bool, string) {
		_, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "config", metav1.GetOptions{})
		return err != nil, "config still there"
	})
	// Long enough for a namespace deletion to take the data along.
	time.Sleep(5 * time.Second)
	n, err := e.memberKube.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
	if err != nil || n.DeletionTimestamp != nil {
		t.Errorf("namespace %s pruned with the data it holds: %v %v", ns, err, n.GetDeletionTimestamp())
	}
	live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "data", metav1.GetOptions{})
	if err != nil || live.UID != before.UID || strings.TrimSpace(live.Data["rows"]) != "precious" {
		t.Errorf("data marked prune: disabled is gone: %v", err)
	}
}
