package sim

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard()) // the scenario's Work cache logs through controller-runtime
	os.Exit(testenv.MainWithHub(m, func(h *testenv.ControlPlane) { hubCP = h }))
}

// The seeded fleet of TestSimulatedRollout: 200 clusters in three waves,
// 5% failing and 5% offline.
var testFleet = Options{
	Clusters:     200,
	FailRate:     0.05,
	OfflineRate:  0.05,
	ApplyLatency: 300 * time.Millisecond,
	Seed:         8,
	Waves:        3,
}

// testDeadline is the progress deadline of every wave: what failing clusters
// cost each wave, and the slack a loaded machine gives healthy ones.
const testDeadline = 12 * time.Second

// testStrategy: one wave per LabelWave value, each allowing 20% failures
// with a short progress deadline; offline clusters are skipped.
func testStrategy(waves int) *fleetv1alpha1.RolloutStrategySpec {
	s := &fleetv1alpha1.RolloutStrategySpec{OfflinePolicy: fleetv1alpha1.OfflineSkip, OnFailure: fleetv1alpha1.FailureHalt}
	for i := 1; i <= waves; i++ {
		budget := intstr.FromString("20%")
		s.Waves = append(s.Waves, fleetv1alpha1.Wave{
			Name:             "wave-" + strconv.Itoa(i),
			Selector:         &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{LabelWave: strconv.Itoa(i)}},
			MaxFailures:      &budget,
			ProgressDeadline: &metav1.Duration{Duration: testDeadline},
		})
	}
	return s
}

// A Promise change goes through three waves of a 200-cluster simulated
// fleet. The seed decides exactly which clusters fail (their member cannot
// run the new image) and which are offline (their agent never started):
// the Rollout succeeds within its budgets, and its counts and failures name
// exactly those clusters.
func TestSimulatedRollout(t *testing.T) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hubtest.Start(t, hubCP.RESTConfig, hub.Options{})

	opts := testFleet
	opts.Dir = t.TempDir()
	plan := Plan(opts.Default())
	var failing, offline []string
	perWave := map[string][3]int{} // wave → healthy, failed, offline
	for _, c := range plan {
		w := "wave-" + strconv.Itoa(c.Wave)
		n := perWave[w]
		switch {
		case c.Offline:
			offline = append(offline, c.Name)
			n[2]++
		case c.Failing:
			failing = append(failing, c.Name)
			n[1]++
		default:
			n[0]++
		}
		perWave[w] = n
	}
	// The seed must make a test worth running: failures and offline
	// clusters in every wave, within each wave's 20% budget.
	for w, n := range perWave {
		total := n[0] + n[1] + n[2]
		if n[1] == 0 || n[1] > total/5 {
			t.Fatalf("seed %d puts %d failing clusters of %d in %s; pick a seed with 1 to 20%%", opts.Seed, n[1], total, w)
		}
	}
	if len(offline) == 0 {
		t.Fatalf("seed %d leaves no cluster offline", opts.Seed)
	}
	healthy := len(plan) - len(failing) - len(offline)
	t.Logf("plan: %d healthy, %d failing %v, %d offline %v", healthy, len(failing), failing, len(offline), offline)

	fleet, err := Join(ctx, hubCP.RESTConfig, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Stop)
	if got := fleet.Running(); got != len(plan)-len(offline) {
		t.Fatalf("%d agents running, want %d", got, len(plan)-len(offline))
	}
	t.Logf("joined %d clusters in %s", len(plan), time.Since(start).Round(time.Millisecond))

	sc, err := NewScenario(ctx, hubCP.RESTConfig, opts.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	v1, err := sc.Setup(ctx, "registry.example/web:1.0", testStrategy(opts.Waves), fleetv1alpha1.UpdatePolicy{})
	if err != nil {
		t.Fatal(err)
	}
	// Every running agent applies the first revision; failing members run
	// it too (they fail changes only).
	if _, err := sc.WaitWorksReady(ctx, v1, len(plan)-len(offline), time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("first revision ready on %d clusters at %s", len(plan)-len(offline), time.Since(start).Round(time.Millisecond))

	name, err := sc.ChangeImage(ctx, "registry.example/web:2.0")
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sc.WaitRolloutTerminal(ctx, name, 90*time.Second)
	if err != nil {
		if ro != nil {
			t.Logf("rollout: %s", describe(ro))
		}
		t.Fatal(err)
	}
	t.Logf("rollout %s ended at %s: %s", name, time.Since(start).Round(time.Millisecond), describe(ro))

	if ro.Spec.FromRevision != v1 || ro.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded {
		t.Fatalf("rollout from %s ended %s, want from %s Succeeded", ro.Spec.FromRevision, ro.Status.Phase, v1)
	}
	// Failures inside the budget: it says so.
	if c := meta.FindStatusCondition(ro.Status.Conditions, fleetv1alpha1.ConditionDegraded); c == nil ||
		c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonSucceededWithFailures {
		t.Errorf("Degraded = %+v, want True/%s", c, fleetv1alpha1.ReasonSucceededWithFailures)
	}
	want := fleetv1alpha1.RolloutCounts{Total: int32(len(plan)), Admitted: int32(healthy + len(failing)),
		Healthy: int32(healthy), Failed: int32(len(failing)), Offline: int32(len(offline))}
	if ro.Status.Counts != want {
		t.Errorf("counts %+v, want %+v", ro.Status.Counts, want)
	}
	var failed []string
	for _, f := range ro.Status.Failures {
		failed = append(failed, f.Cluster)
		if f.Reason != fleetv1alpha1.ReasonProgressDeadlineExceeded {
			t.Errorf("failure of %s: reason %s, want %s", f.Cluster, f.Reason, fleetv1alpha1.ReasonProgressDeadlineExceeded)
		}
	}
	sort.Strings(failed)
	if !slices.Equal(failed, failing) {
		t.Errorf("failed clusters %v, want exactly the seed's failing %v", failed, failing)
	}
	for _, w := range ro.Status.Waves {
		n := perWave[w.Name]
		// Every wave has failing clusters (the seed is picked so).
		if w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || int(w.Counts.Healthy) != n[0] || int(w.Counts.Failed) != n[1] || int(w.Counts.Offline) != n[2] {
			t.Errorf("wave %s: %s %s, want SucceededWithFailures healthy=%d failed=%d offline=%d", w.Name, w.Phase, counts(w.Counts), n[0], n[1], n[2])
		}
	}
	// The hub's view agrees with the agents': exactly the healthy clusters
	// report the new revision applied and Ready.
	ready, err := sc.ReadyClusters(ctx, ro.Spec.TargetRevision)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan {
		if want := !c.Failing && !c.Offline; ready[c.Name] != want {
			t.Errorf("cluster %s (failing=%v offline=%v) reports the target ready: %v", c.Name, c.Failing, c.Offline, ready[c.Name])
		}
	}
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

func describe(ro *fleetv1alpha1.Rollout) string {
	s := fmt.Sprintf("phase=%s wave=%s %s", ro.Status.Phase, ro.Status.CurrentWave, counts(ro.Status.Counts))
	for _, w := range ro.Status.Waves {
		s += fmt.Sprintf("\n  wave %s %s %s", w.Name, w.Phase, counts(w.Counts))
	}
	return s
}

func counts(c fleetv1alpha1.RolloutCounts) string {
	return fmt.Sprintf("total=%d admitted=%d healthy=%d failed=%d pending=%d offline=%d",
		c.Total, c.Admitted, c.Healthy, c.Failed, c.Pending, c.Offline)
}
