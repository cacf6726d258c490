package instance_test

import (
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// A DriftException's matchedResources counts the resources whose drift it
// accepts right now, in full or beside unexplained drift, on the Works the
// hub gave it to. Three reports made it false: drift it accepts beside
// unexplained fields (a Report policy, another field edited too) was never
// counted, as the index the count lists Works by held only resources accepted
// in full; one member's agent naming team b's exception on team a's Work
// (which never carried it) counted on team b's exception; and once the
// exception expired, the report of an agent that went offline before (it
// writes nothing) kept it counting drift it no longer accepts.
func TestADriftExceptionCountsOnlyWhatItAccepts(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "dexc.example.com", "DexcDb"
	e.Cluster("dexc-1", map[string]string{"story": "dexc"})
	e.Fleet("dexc", map[string]string{"story": "dexc"}, "dexc-a", "dexc-b")
	e.Namespace("dexc-a", nil)
	e.Namespace("dexc-b", nil)
	e.Create(configMapPromise("dexc-db", group, kind, "dexc"))
	e.PromiseReady("dexc-db")
	e.Create(instance(group, kind, "dexc-a", "orders", map[string]any{"size": "small"}))
	e.Create(instance(group, kind, "dexc-b", "billing", map[string]any{"size": "small"}))
	hour := time.Now().Add(time.Hour)
	e.Create(driftException("dexc-a", "sale", hour, fleetv1alpha1.ClusterSelector{}, "ConfigMap", "data.size"))
	e.Create(driftException("dexc-b", "legacy", hour, fleetv1alpha1.ClusterSelector{}, "ConfigMap"))
	w := e.WaitWork("dexc-db", "dexc-a", "orders", "dexc-1", hasExceptions("dexc-a/sale"))
	e.WaitWork("dexc-db", "dexc-b", "billing", "dexc-1", hasExceptions("dexc-b/legacy"))

	cm := func(name string, d fleetv1alpha1.ResourceDrift) fleetv1alpha1.ResourceStatus {
		return fleetv1alpha1.ResourceStatus{Version: "v1", Kind: "ConfigMap", Namespace: "dexc-a", Name: name,
			Result: fleetv1alpha1.ApplyResultApplied, Drift: &d}
	}
	// dexc-1's agent reports on team a's Work: data.size (which dexc-a/sale
	// accepts) beside an unexplained data.color; and drift it says team b's
	// exception accepts, which the hub never gave this Work.
	e.UpdateWorkStatus(w, func(w *fleetv1alpha1.Work) {
		w.Status.Resources = []fleetv1alpha1.ResourceStatus{
			cm("orders", fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftUnexplained, Fields: []string{"data.color"},
				AcceptedFields: []string{"data.size"}, Exception: "dexc-a/sale"}),
			cm("orders-extra", fleetv1alpha1.ResourceDrift{State: fleetv1alpha1.DriftAccepted, Fields: []string{"data.size"},
				Exception: "dexc-b/legacy"}),
		}
	})
	waitException(t, e, "dexc-a", "sale", func(st fleetv1alpha1.DriftExceptionStatus) bool { return st.MatchedResources == 1 })
	// Team b's exception counts nothing it was not given (it starts at 0:
	// the pure TestStatusCountsOnlyWhatItAcceptsNow in
	// internal/controller/driftexception shows the count refusing it).
	waitException(t, e, "dexc-b", "legacy", func(st fleetv1alpha1.DriftExceptionStatus) bool { return st.MatchedResources == 0 })
}
