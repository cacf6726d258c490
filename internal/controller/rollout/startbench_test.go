package rollout_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	// Made on 8 goroutines, which may not stop the test (t.Error, not
	// Fatal), with no deadline: 10,000 of each take minutes.
	ctx := context.Background()
	const team = "rsb-team"
	s.Namespace(team, nil)
	workqueue.ParallelizeUntil(ctx, 8, clusters, func(i int) {
		name := fmt.Sprintf("rsb-%d", i)
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.ClusterNamespace(name)}},
			&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"story": "rsb"}}},
		} {
			if err := s.C.Create(ctx, o); err != nil {
				t.Error(err)
			}
		}
	})
	now := metav1.Now()
	workqueue.ParallelizeUntil(ctx, 8, rollouts, func(i int) {
		ro := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rsb-%d", i), Namespace: team},
			Spec: fleetv1alpha1.RolloutSpec{
				Subject:      fleetv1alpha1.RolloutSubject{Promise: "rsb", Instance: &fleetv1alpha1.LocalObjectReference{Name: fmt.Sprintf("i%d", i)}},
				FromRevision: "a", TargetRevision: "b",
			},
		}
		if err := s.C.Create(ctx, ro); err != nil {
			t.Error(err)
			return
		}
		ro.Status = fleetv1alpha1.RolloutStatus{
			ObservedGeneration: ro.Generation, Phase: fleetv1alpha1.RolloutPhaseSucceeded,
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Succeeded",
				ObservedGeneration: ro.Generation, LastTransitionTime: now}},
		}
		if err := s.C.Status().Update(ctx, ro); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
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
