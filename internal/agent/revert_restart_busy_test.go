package agent

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// huntCRD is a CustomResourceDefinition of kind in group hunt.example.com.
func huntCRD(kind, plural string) map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + ".hunt.example.com"},
		"spec": map[string]any{"group": "hunt.example.com", "scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}},
	}
}

// The same as TestARevertWhileTheAgentIsDownIsApplied, on an agent with a
// dozen other recorded Works to look at when it restarts (here: Works whose
// CRD's kind is taken, so it is never Established), as an agent with many
// Works has: the revert is first looked at after the hub's cache synced, so
// the look sees the hub's spec (rev-1) rather than the record's (rev-2).
// Before the fix this failed on every run tried (2 of 2): the ConfigMap kept
// rev-2's value, reported as drift, and the Work read Ready on rev-1.
func TestARevertWhileTheAgentIsDownIsAppliedByABusyAgent(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "revert-busy", "revert-busy-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	base := work(cluster, "base", huntCRD("Widget", "widgets"))
	mustf(t, e.hubClient.Create(e.ctx, base), "creating base work")
	e.waitWorkReady(t, cluster, "base", 60*time.Second)

	w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "blue"}))
	w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyReport
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	good := w.Spec.DeepCopy()

	widget := map[string]any{"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": map[string]any{"name": "w", "namespace": ns}}
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "green"}), widget)
	})
	color := func() string {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		mustf(t, err, "reading configmap")
		return cm.Data["color"]
	}
	waitFor(t, 60*time.Second, "rev-2's ConfigMap applied", func() (bool, string) { c := color(); return c == "green", c })

	// Busy Works: each CRD's kind is taken, so it is never Established.
	const busy = 11
	for i := range busy {
		mustf(t, e.hubClient.Create(e.ctx, work(cluster, fmt.Sprintf("busy-%d", i), huntCRD("Widget", fmt.Sprintf("gizmo%ds", i)))), "creating busy work")
	}
	// Every busy Work recorded (looked at once) before the agent stops.
	waitFor(t, 120*time.Second, "busy works looked at", func() (bool, string) {
		n := 0
		for i := range busy {
			if got, err := e.getWork(t, cluster, fmt.Sprintf("busy-%d", i)); err == nil && got.Status.ObservedGeneration == got.Generation {
				n++
			}
		}
		return n == busy, fmt.Sprint(n)
	})
	first.stop(t)

	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { w.Spec = *good.DeepCopy() })
	e.startAgent(t, hubCreds, opts)
	got := e.waitWorkReady(t, cluster, "web", 150*time.Second)
	t.Logf("after restart: color %s; %s", color(), describeStatus(got))
	waitFor(t, 30*time.Second, "rev-1's ConfigMap applied again", func() (bool, string) {
		c := color()
		got, _ := e.getWork(t, cluster, "web")
		return c == "blue", "color " + c + "; " + describeStatus(got)
	})
}
