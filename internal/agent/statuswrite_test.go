package agent

import (
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent's Work informer may lag its own status writes (for seconds after
// the hub's API server returns, while the watch reconnects). A status that
// goes back to what the informer still shows must be written all the same:
// the hub holds the newer one the agent wrote meanwhile.
func TestWriteStatusBackToWhatALaggingInformerShows(t *testing.T) {
	e := newEnv(t)
	const cluster = "status-lag-1"
	creds := e.join(t, cluster)
	h, err := newHubClient(creds, cluster)
	mustf(t, err, "creating hub client")
	w := work(cluster, "lagged", configMapObj("default", "status-lag-1", nil))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	a := &agent{hub: h, metrics: newMetrics(nil)}
	st := &workState{}
	// What the informer shows throughout: the Work as created, no status.
	informer := w.DeepCopy()

	applied := fleetv1alpha1.WorkStatus{AppliedRevision: "r1"}
	if ok, err := a.writeStatus(e.ctx, st, informer, applied); !ok || err != nil {
		t.Fatalf("first write: %v, %v", ok, err)
	}
	// Back to no status, which is what the informer still shows.
	if ok, err := a.writeStatus(e.ctx, st, informer, fleetv1alpha1.WorkStatus{}); !ok || err != nil {
		t.Fatalf("second write: %v, %v", ok, err)
	}
	got := &fleetv1alpha1.Work{}
	mustf(t, e.hubClient.Get(e.ctx, client.ObjectKeyFromObject(w), got), "reading work")
	if got.Status.AppliedRevision != "" {
		t.Errorf("the hub holds appliedRevision %q, want none: the second write was skipped", got.Status.AppliedRevision)
	}
}
