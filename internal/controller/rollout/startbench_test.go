package rollout_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// TestRolloutStartBench measures how long a hub restart takes until the
// Rollout controller starts its workers, with FLOTILLA_ROLLOUT_START_BENCH
// clusters and ended instance Rollouts ("3000x3000"). Not part of
// `make test`: docs/benchmarks.md.
func TestRolloutStartBench(t *testing.T) {
	var clusters, rollouts int
	if _, err := fmt.Sscanf(os.Getenv("FLOTILLA_ROLLOUT_START_BENCH"), "%dx%d", &clusters, &rollouts); err != nil {
		t.Skip("set FLOTILLA_ROLLOUT_START_BENCH=<clusters>x<rollouts> to run")
	}
	s := promisetest.NewEnv(t, hubCP.RESTConfig) // no hub runs while they are made
	const team = "rsb-team"
	s.Namespace(team, nil)
	workqueue.ParallelizeUntil(s.Ctx, 8, clusters, func(i int) {
		s.Cluster(fmt.Sprintf("rsb-%d", i), map[string]string{"story": "rsb"})
	})
	now := metav1.Now()
	workqueue.ParallelizeUntil(s.Ctx, 8, rollouts, func(i int) {
		ro := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rsb-%d", i), Namespace: team},
			Spec: fleetv1alpha1.RolloutSpec{
				Subject:      fleetv1alpha1.RolloutSubject{Promise: "rsb", Instance: &fleetv1alpha1.LocalObjectReference{Name: fmt.Sprintf("i%d", i)}},
				FromRevision: "a", TargetRevision: "b",
			},
		}
		s.Create(ro)
		ro.Status = fleetv1alpha1.RolloutStatus{
			ObservedGeneration: ro.Generation, Phase: fleetv1alpha1.RolloutPhaseSucceeded,
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded",
				ObservedGeneration: ro.Generation, LastTransitionTime: now}},
		}
		if err := s.C.Status().Update(s.Ctx, ro); err != nil {
			t.Error(err)
		}
	})
	for run := range 3 {
		spy := hubtest.NewStartSpy(t, "rollout")
		begin := time.Now()
		stop := hubtest.Start(spy, hubCP.RESTConfig, hub.Options{})
		took := spy.WaitStarted(begin, 3*time.Minute)
		t.Logf("run %d, %d clusters, %d ended Rollouts: the Rollout controller started its workers %s after the hub",
			run+1, clusters, rollouts, took.Round(time.Millisecond))
		stop()
	}
}
