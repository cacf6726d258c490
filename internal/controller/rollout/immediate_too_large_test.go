package rollout_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A fleet of 11,000 clusters rolled out in two waves of 6,000 and 5,000,
// each within the 10,000 clusters a wave's status holds. In an incident
// the on-call switched the Rollout to Immediate, the emergency lane: the
// plan merged every remaining target into one wave of 11,000, a status the
// API server refuses (status.waves[].clusters holds at most 10,000), so no
// status write of the Rollout went through again: the switch did nothing,
// the Rollout read as it was, and a Rollback FleetFreeze pulled next was
// never acted on, while the hub retried the write in its log alone. The
// switch is now refused when it is asked for, saying why, and the Rollout
// goes on in its mode, its status writable.
func TestASwitchToImmediateOfMoreClustersThanAWaveHoldsIsRefused(t *testing.T) {
	env := promisetest.NewEnv(t, hubCP.RESTConfig)
	const eu, us = 6000, 5000
	var observed []rollout.ClusterObservation
	for i := range eu + us {
		ring := "eu"
		if i >= eu {
			ring = "us"
		}
		observed = append(observed, rollout.ClusterObservation{Name: fmt.Sprintf("%s-%05d", ring, i), Labels: map[string]string{"ring": ring},
			Online: true, Revision: "big-1", AppliedRevision: "big-1", Health: rollout.HealthHealthy, HealthSince: time.Now().Add(-time.Hour)})
	}
	strategy := fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{
		{Name: "eu", Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "eu"}}},
		{Name: "us", Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "us"}}},
	}}
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "big-2", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "big"}, FromRevision: "big-1", TargetRevision: "big-2",
			Strategy: &strategy}}
	if err := env.C.Create(env.Ctx, ro); err != nil {
		t.Fatal(err)
	}
	plan := func() fleetv1alpha1.RolloutStatus {
		t.Helper()
		d, err := rollout.Plan(rollout.Input{Now: time.Now(), Generation: ro.Generation, Spec: ro.Spec, Strategy: strategy,
			Status: ro.Status, Clusters: observed})
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	// The hub's first plan: the target set frozen in two waves, written.
	ro.Status = plan()
	if err := env.C.Status().Update(env.Ctx, ro); err != nil {
		t.Fatalf("the start of a Rollout of %d clusters in two waves was not written: %v", eu+us, err)
	}

	// The switch to the emergency lane.
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	ro.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "incident 42"}
	ro.Spec.PolicyChange = &fleetv1alpha1.ChangeRecord{By: "oncall", At: &now, Message: "incident 42"}
	err := env.C.Update(env.Ctx, ro)
	if err == nil {
		// What the hub would plan and write next.
		ro.Status = plan()
		werr := env.C.Status().Update(env.Ctx, ro)
		t.Fatalf("the switch to Immediate of %d clusters was accepted; the next status write: %v", eu+us, werr)
	}
	if !strings.Contains(err.Error(), "10,000") {
		t.Fatalf("the switch was refused without saying why: %v", err)
	}

	// The Rollout goes on in its own mode: its next plan is written.
	if err := env.C.Get(env.Ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
		t.Fatal(err)
	}
	ro.Status = plan()
	if err := env.C.Status().Update(env.Ctx, ro); err != nil {
		t.Fatalf("the Rollout's next status was not written: %v", err)
	}
}
