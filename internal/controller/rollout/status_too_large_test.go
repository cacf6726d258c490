package rollout_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// longClusters are n clusters in ring ring, named as a careless platform
// names them, to the 46 characters a Cluster name may have.
func longClusters(ring string, from, n int) []rollout.ClusterObservation {
	out := make([]rollout.ClusterObservation, n)
	for i := range out {
		name := fmt.Sprintf("%s-customer-production-%06d-0123456789abcdef", ring, from+i)[:fleetv1alpha1.MaxClusterNameLength]
		out[i] = rollout.ClusterObservation{Name: name, Labels: map[string]string{"ring": ring}, Online: true,
			Revision: "huge-1", AppliedRevision: "huge-1", Health: rollout.HealthHealthy, HealthSince: time.Now().Add(-time.Hour)}
	}
	return out
}

// grown is the status a run of the waves leaves, at most: every cluster
// decided and counted (admitted, relapses) and marked by each check of its
// wave (marks), as the plans of a run that reached every wave write them.
func grown(st fleetv1alpha1.RolloutStatus, checks int) fleetv1alpha1.RolloutStatus {
	for i := range st.Waves {
		w := &st.Waves[i]
		w.Admitted = strings.Repeat("T", len(w.Clusters))
		w.Relapses = strings.Repeat("0", len(w.Clusters))
		w.Checks = nil
		for c := range checks {
			w.Checks = append(w.Checks, fleetv1alpha1.WaveCheckStatus{Name: fmt.Sprintf("check-%d", c),
				Scope: fleetv1alpha1.CheckEachCluster, Marks: strings.Repeat("+", len(w.Clusters))})
		}
	}
	return st
}

// A fleet of 26,000 clusters named to the 46 characters a Cluster name
// may have, rolled out in three waves of at most 10,000 (each within what
// a wave's status holds) under 8 per-cluster checks. The target set froze
// in a status of 1.3 MB, which etcd stored; the waves then grew it (a
// decision and a relapse count per cluster, a mark per check) past the
// 1.5 MiB etcd stores in one object, and from that plan on no status
// write of the Rollout went through: it read as it was, its verdict
// stale, its gates never evaluated, a Rollback FleetFreeze never acted
// on, while the hub retried in its log alone. (A few thousand clusters
// more and not even the start was written.) The hub now refuses, at the
// start, a target set whose status could outgrow what etcd stores: the
// Rollout is Stalled, saying why; and the largest it takes, grown in
// full, is written.
func TestARolloutStatusThatCouldOutgrowEtcdIsRefusedAtTheStart(t *testing.T) {
	env := promisetest.NewEnv(t, hubCP.RESTConfig)
	perCluster := fleetv1alpha1.Check{Name: "errors", Scope: fleetv1alpha1.CheckEachCluster, Condition: "result[0] < 0.05",
		Metric: &fleetv1alpha1.MetricCheck{Address: "http://prometheus.invalid", Query: `errors{cluster="{{ .Cluster }}"}`}}
	var checks []fleetv1alpha1.Check
	for i := range 8 {
		c := perCluster
		c.Name = fmt.Sprintf("check-%d", i)
		checks = append(checks, c)
	}
	strategy := fleetv1alpha1.RolloutStrategySpec{Checks: checks, Waves: []fleetv1alpha1.Wave{
		{Name: "eu", Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "eu"}}},
		{Name: "us", Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "us"}}},
		{Name: "ap", Selector: &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": "ap"}}},
	}}
	start := func(name string, clusters []rollout.ClusterObservation) (*fleetv1alpha1.Rollout, error) {
		t.Helper()
		ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace},
			Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "huge"}, FromRevision: "huge-1", TargetRevision: "huge-2",
				Strategy: &strategy}}
		if err := env.C.Create(env.Ctx, ro); err != nil {
			t.Fatal(err)
		}
		d, err := rollout.Plan(rollout.Input{Now: time.Now(), Generation: ro.Generation, Spec: ro.Spec, Strategy: strategy, Clusters: clusters})
		if err != nil {
			return ro, err
		}
		ro.Status = d.Status
		if err := env.C.Status().Update(env.Ctx, ro); err != nil {
			t.Fatalf("the start of %s (%d clusters) was not written: %v", name, len(clusters), err)
		}
		return ro, nil
	}

	var fleet []rollout.ClusterObservation
	fleet = append(fleet, longClusters("eu", 0, 10000)...)
	fleet = append(fleet, longClusters("us", 10000, 10000)...)
	fleet = append(fleet, longClusters("ap", 20000, 8000)...)
	ro, err := start("huge-2", fleet)
	if err == nil {
		ro.Status = grown(ro.Status, len(checks))
		werr := env.C.Status().Update(env.Ctx, ro)
		t.Fatalf("a target set of %d clusters was frozen; its status grown by its waves: %v", len(fleet), werr)
	}
	if !strings.Contains(err.Error(), "etcd stores in one object") {
		t.Fatalf("the plan does not say why: %v", err)
	}

	// The largest target set of such names and checks the hub takes, its
	// status grown in full, with its history and failure lists full too.
	largest := append(longClusters("eu", 0, 10000), longClusters("us", 10000, 7700)...)
	ro, err = start("huge-3", largest)
	if err != nil {
		t.Fatalf("a target set of %d clusters was refused: %v", len(largest), err)
	}
	ro.Status = grown(ro.Status, len(checks))
	long := strings.Repeat("x", 1024)
	at := metav1.NewTime(time.Now().Truncate(time.Second))
	ro.Status.History = nil
	for i := range 50 {
		ro.Status.History = append(ro.Status.History, fleetv1alpha1.HistoryEntry{Time: at, To: fleetv1alpha1.RolloutPhaseProgressing,
			Wave: "eu", Actor: strings.Repeat("a", 253), Message: long})
		f := fleetv1alpha1.ClusterFailure{Cluster: largest[i].Name, Wave: "eu", Reason: "ProgressDeadlineExceeded", Message: long, Time: at,
			Revision: "huge-2"}
		ro.Status.Failures = append(ro.Status.Failures, f)
		ro.Status.UnattributedFailures = append(ro.Status.UnattributedFailures, f)
	}
	if err := env.C.Status().Update(env.Ctx, ro); err != nil {
		t.Fatalf("the grown status of the largest target set the hub takes (%d clusters) was not written: %v", len(largest), err)
	}
}
