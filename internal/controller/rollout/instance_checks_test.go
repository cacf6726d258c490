package rollout_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The Rollout of an instance's own change, under a strategy with an agent
// HTTP check: the hub copies the check onto the Work of each admitted
// cluster, named for that Rollout and its wave, and judges what the agent
// (here, the test) reports for that Rollout only — a failed report of a
// check of the same name for another Rollout changes nothing. A check added
// to the strategy while the canary bakes reaches its Work at once. The
// canary passes its checks and the wave completes; in the general wave a
// failed check fails its cluster (AnalysisFailed) and halts the Rollout.
func TestInstanceRolloutAgentChecks(t *testing.T) {
	s := newStory(t, "ichecks.example.com")
	s.strategy("ichecks", fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	s.givenSite("ichecks", "ichecks")
	// The check comes once the first revision runs everywhere.
	st := &fleetv1alpha1.RolloutStrategy{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: "ichecks"}, st); err != nil {
		t.Fatal(err)
	}
	st.Spec.Checks = []fleetv1alpha1.Check{{Name: "smoke", Condition: "result.code == 200",
		HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://shop.ichecks-team:8080/smoke"}}}
	if err := s.C.Update(s.Ctx, st); err != nil {
		t.Fatal(err)
	}

	const team = "ichecks-team"
	inst := promisetest.Instance(s.group, "Site", team, "shop", nil)
	if err := s.C.Patch(s.Ctx, inst, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"size":"large"}}`))); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKey{Namespace: team, Name: "site-shop-" + strconv.FormatInt(inst.GetGeneration(), 10)}
	ro := &fleetv1alpha1.Rollout{}
	waitRollout := func(what string, check func(*fleetv1alpha1.Rollout) bool) {
		t.Helper()
		promisetest.Eventually(t, time.Minute, "the instance's Rollout "+what, func() (bool, string) {
			if err := s.C.Get(s.Ctx, key, ro); err != nil {
				return false, err.Error()
			}
			return check(ro), fmt.Sprintf("phase %s wave %s waves %+v failures %+v", ro.Status.Phase, ro.Status.CurrentWave, ro.Status.Waves, ro.Status.Failures)
		})
	}
	waveIs := func(name string, phase fleetv1alpha1.WavePhase) func(*fleetv1alpha1.Rollout) bool {
		return func(ro *fleetv1alpha1.Rollout) bool {
			i := slices.IndexFunc(ro.Status.Waves, func(w fleetv1alpha1.WaveStatus) bool { return w.Name == name })
			return i >= 0 && ro.Status.Waves[i].Phase == phase
		}
	}
	// carries waits for the cluster's Work at the target carrying the
	// Rollout's checks names (sorted) for wave.
	carries := func(cluster, wave string, names ...string) *fleetv1alpha1.Work {
		t.Helper()
		want := ""
		for _, n := range names {
			want += fmt.Sprintf("%s@%s/%s ", n, ro.Name, wave)
		}
		w := s.WaitWork("ichecks", team, "shop", cluster, func(w *fleetv1alpha1.Work) (bool, string) {
			got := ""
			for _, c := range w.Spec.Checks {
				got += fmt.Sprintf("%s@%s/%s ", c.Name, c.Rollout, c.Wave)
			}
			return w.Spec.InstanceRevision == ro.Spec.TargetRevision && got == want, w.Spec.InstanceRevision + ": " + got
		})
		for _, c := range w.Spec.Checks {
			if c.HTTP == nil || c.HTTP.URL != "http://shop.ichecks-team:8080/"+c.Name {
				t.Fatalf("%s carries %+v, want the strategy's HTTP checks", cluster, w.Spec.Checks)
			}
		}
		return w
	}
	httpCheck := func(name string) fleetv1alpha1.Check {
		return fleetv1alpha1.Check{Name: name, Condition: "result.code == 200",
			HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://shop.ichecks-team:8080/" + name}}
	}
	type entry struct{ rollout, name, outcome string }
	// report writes the agent's state of checks, as the agent does: one
	// measurement at now each.
	report := func(cluster string, entries ...entry) {
		t.Helper()
		promisetest.Eventually(t, 30*time.Second, "the report of "+cluster, func() (bool, string) {
			w := s.Work("ichecks", team, "shop", cluster)
			now := metav1.Now()
			w.Status.Checks = nil
			for _, e := range entries {
				m := &fleetv1alpha1.CheckMeasurement{Time: now, Outcome: e.outcome, Value: "HTTP 200 in 3ms"}
				cs := fleetv1alpha1.WorkCheckStatus{Rollout: e.rollout, Name: e.name, Revision: w.Spec.Revision,
					CheckState: fleetv1alpha1.CheckState{Since: now, Measurements: 1, Last: m}}
				if e.outcome == "Failed" {
					m.Value = "HTTP 503 in 2ms"
					cs.Failures, cs.Decisive = 1, m
				}
				w.Status.Checks = append(w.Status.Checks, cs)
			}
			err := s.C.Status().Update(s.Ctx, w)
			if apierrors.IsConflict(err) {
				return false, err.Error()
			}
			if err != nil {
				t.Fatal(err)
			}
			return true, ""
		})
	}

	waitRollout("admitting the canary", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Counts.Admitted == 1 })
	s.ReportReady(carries("ichecks-c1", "canary", "smoke"))
	waitRollout("holding the canary's bake for its check", waveIs("canary", fleetv1alpha1.WavePhaseBaking))
	// The platform adds a check mid-bake: the Rollout judges it at once, so
	// the Work carries it at once.
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: "ichecks"}, st); err != nil {
		t.Fatal(err)
	}
	st.Spec.Checks = append(st.Spec.Checks, httpCheck("ready"))
	if err := s.C.Update(s.Ctx, st); err != nil {
		t.Fatal(err)
	}
	carries("ichecks-c1", "canary", "ready", "smoke")
	for _, c := range []string{"ichecks-g1", "ichecks-g2"} {
		if w := s.Work("ichecks", team, "shop", c); len(w.Spec.Checks) > 0 {
			t.Errorf("%s, not admitted, carries checks %+v", c, w.Spec.Checks)
		}
	}
	// Another Rollout's check of the same name failed on the Work: not this one's.
	report("ichecks-c1", entry{ro.Name, "ready", "Passed"}, entry{ro.Name, "smoke", "Passed"}, entry{"ichecks-9", "smoke", "Failed"})
	waitRollout("passing the canary", waveIs("canary", fleetv1alpha1.WavePhaseSucceeded))
	if len(ro.Status.Failures) > 0 {
		t.Fatalf("failures %+v", ro.Status.Failures)
	}
	s.WaitWork("ichecks", team, "shop", "ichecks-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Checks) == 0, fmt.Sprintf("%d checks after the wave", len(w.Spec.Checks))
	})

	s.ReportReady(carries("ichecks-g1", "general", "ready", "smoke"))
	s.ReportReady(carries("ichecks-g2", "general", "ready", "smoke"))
	waitRollout("baking the general wave", waveIs("general", fleetv1alpha1.WavePhaseBaking))
	report("ichecks-g2", entry{ro.Name, "ready", "Passed"}, entry{ro.Name, "smoke", "Passed"})
	report("ichecks-g1", entry{ro.Name, "ready", "Passed"}, entry{ro.Name, "smoke", "Failed"})
	waitRollout("failing g1 on its check", func(ro *fleetv1alpha1.Rollout) bool {
		return slices.ContainsFunc(ro.Status.Failures, func(f fleetv1alpha1.ClusterFailure) bool {
			return f.Cluster == "ichecks-g1" && f.Reason == fleetv1alpha1.ReasonAnalysisFailed
		})
	})
	waitRollout("halted", phaseIs(fleetv1alpha1.RolloutPhaseHalted))
}
