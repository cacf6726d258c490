package agent

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// A team with edit rights in its member namespace changes a value the
// Promise sets (kubectl edit), then, within the drift watch's debounce,
// writes the object's managedFields back as they were before the edit,
// with the agent's apply entry, its fields and its time, as the newest
// entry. The API server takes managedFields written in an update as they
// are. The agent's own entry then looks untouched, so before the fix the
// look the watch asked for, and every resync after it, skipped the dry
// run: the change stayed on the member for good, never corrected nor
// reported, and the Work read Ready with no drift.
func TestDriftHiddenByRewrittenManagedFieldsIsFound(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-forged-fields", "drift-forged-fields-app"
	opts, _ := e.startWithSettings(t, cluster, ns)
	// Let a resync judge it as applied, so the agent knows its entry.
	time.Sleep(opts.ResyncInterval + 2*time.Second)

	cms := e.memberKube.CoreV1().ConfigMaps(ns)
	before, err := cms.Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	fields := before.ManagedFields
	if len(fields) != 1 || fields[0].Manager != fleetv1alpha1.FieldManager {
		t.Fatalf("managedFields = %+v, want the agent's entry alone", fields)
	}
	edited := before.DeepCopy()
	edited.Data["color"] = "red"
	edited, err = cms.Update(e.ctx, edited, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	mustf(t, err, "editing configmap")
	edited.ManagedFields = fields
	forged, err := cms.Update(e.ctx, edited, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	mustf(t, err, "rewriting managedFields")
	if len(forged.ManagedFields) != 1 || forged.Data["color"] != "red" {
		t.Fatalf("after the rewrite: managedFields %+v, data %v; want the agent's entry alone and color red", forged.ManagedFields, forged.Data)
	}

	waitFor(t, 3*opts.ResyncInterval+10*time.Second, "the hidden change corrected", func() (bool, string) {
		cm, err := cms.Get(e.ctx, "settings", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cm.Data["color"] == "blue", describeAny(map[string]any{"data": cm.Data, driftSeries: driftCorrections(t, opts)})
	})
	if n := driftCorrections(t, opts); n != 1 {
		t.Errorf("%s = %v, want the one correction", driftSeries, n)
	}
}
