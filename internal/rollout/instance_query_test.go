package rollout_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// The gap: a team's change to its own instance is judged by the platform's
// checks, per cluster; but a query could name only the cluster (and the
// revisions), so it read every instance of the Promise there, every team's:
// a change that broke the team's instance (100% errors) was diluted by the
// other teams' healthy traffic and passed. A query now sees .Namespace and
// .Instance, the instance whose own change the Rollout moves (empty for a
// Promise's Rollout), on the hub and on the agents alike.
func TestAnInstanceRolloutsQueryNamesItsInstance(t *testing.T) {
	c := metricCheck("errors", "result[0] < 0.05")
	c.Metric.Placement = fleetv1alpha1.CheckOnAgent
	c.Metric.Query = `errors{cluster="{{ .Cluster }}"{{ if .Instance }},namespace={{ quote .Namespace }},instance={{ quote .Instance }}{{ end }}}`
	s := fleetv1alpha1.RolloutStrategySpec{Checks: []fleetv1alpha1.Check{c}, Waves: []fleetv1alpha1.Wave{{Name: "canary"}}}
	started := metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "site-shop-3", Namespace: "team-a"},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web", Instance: &fleetv1alpha1.LocalObjectReference{Name: "shop"}},
			FromRevision: "site-shop-a1", TargetRevision: "site-shop-b2"},
		Status: fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseBaking, Waves: []fleetv1alpha1.WaveStatus{
			{Name: "canary", Phase: fleetv1alpha1.WavePhaseBaking, StartedAt: &started, Clusters: []string{"eu-1"}, Admitted: "T"}}}}
	got, err := rollout.WorkChecksFor(ro, s, nil, nil, "eu-1", nil)
	if err != nil || len(got) != 1 || got[0].Metric.Query != `errors{cluster="eu-1",namespace="team-a",instance="shop"}` {
		t.Fatalf("an instance's Rollout: %+v, %v", got, err)
	}
	if v := rollout.QueryVarsOf(ro); v.Namespace != "team-a" || v.Instance != "shop" || v.Revision != "site-shop-b2" {
		t.Errorf("the hub's query vars %+v", v)
	}

	promise := ro.DeepCopy()
	promise.Namespace, promise.Spec.Subject.Instance = fleetv1alpha1.PlatformNamespace, nil
	got, err = rollout.WorkChecksFor(promise, s, nil, nil, "eu-1", nil)
	if err != nil || len(got) != 1 || got[0].Metric.Query != `errors{cluster="eu-1"}` {
		t.Fatalf("a Promise's Rollout: %+v, %v", got, err)
	}
}
