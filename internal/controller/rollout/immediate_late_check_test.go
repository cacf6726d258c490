package rollout_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// The canary's agent measured its check failed just before the platform
// switched the instance's Rollout to Immediate; its report reached the
// hub's Work just after. The merged Immediate wave runs no checks and had
// carried nothing (no plan had seen the failure): once the other clusters
// turned healthy the Rollout ended Succeeded, "0 failed". The report, of
// the run the canary was measured in, dated before the switch, now fails
// the canary (AnalysisFailed).
func TestACheckFailureReportedAfterTheSwitchToImmediateFailsTheCanary(t *testing.T) {
	s := newStory(t, "latecheck.example.com")
	const name, team = "latecheck", "latecheck-team"
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	s.givenSite(name, name)
	st := &fleetv1alpha1.RolloutStrategy{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: name}, st); err != nil {
		t.Fatal(err)
	}
	st.Spec.Checks = []fleetv1alpha1.Check{{Name: "smoke", Condition: "result.code == 200",
		HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://shop.latecheck-team:8080/smoke"}}}
	if err := s.C.Update(s.Ctx, st); err != nil {
		t.Fatal(err)
	}

	s.editShop(team, func(u *unstructured.Unstructured) { _ = unstructured.SetNestedField(u.Object, "large", "spec", "size") })
	const ro = "site-shop-2"
	started := s.waitTeamRollout(team, ro, "admitting the canary", func(r *fleetv1alpha1.Rollout) bool { return r.Status.Counts.Admitted == 1 })
	canary := name + "-c1"
	s.ReportReady(s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.InstanceRevision == started.Spec.TargetRevision && len(w.Spec.Checks) == 1, fmt.Sprintf("%d checks", len(w.Spec.Checks))
	}))
	s.waitTeamRollout(team, ro, "baking the canary for its check", func(r *fleetv1alpha1.Rollout) bool {
		return r.Status.Phase == fleetv1alpha1.RolloutPhaseBaking
	})

	// The agent measures the failure now; the platform switches first.
	time.Sleep(time.Second)
	measured := metav1.NewTime(time.Now().Truncate(time.Second))
	promisetest.Eventually(t, 30*time.Second, "the switch to Immediate", func() (bool, string) {
		r := &fleetv1alpha1.Rollout{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: team, Name: ro}, r); err != nil {
			return false, err.Error()
		}
		r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "incident"}
		r.Spec.PolicyChange = &fleetv1alpha1.ChangeRecord{By: "oncall", At: &measured, Message: "incident"}
		if err := s.C.Update(s.Ctx, r); err != nil {
			if apierrors.IsConflict(err) {
				return false, err.Error()
			}
			t.Fatal(err)
		}
		return true, ""
	})
	s.waitTeamRollout(team, ro, "merged into the Immediate wave", func(r *fleetv1alpha1.Rollout) bool {
		return len(r.Status.Waves) == 1 && r.Status.Waves[0].Name == rollout.ImmediateWaveName
	})

	// The report arrives, on the Work that no longer carries the check.
	w := s.WaitWork(name, team, "shop", canary, func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Checks) == 0, fmt.Sprintf("%d checks", len(w.Spec.Checks))
	})
	s.ReportReady(w)
	s.UpdateWorkStatus(s.Work(name, team, "shop", canary), func(w *fleetv1alpha1.Work) {
		m := &fleetv1alpha1.CheckMeasurement{Time: measured, Outcome: "Failed", Value: "HTTP 503 in 2ms"}
		w.Status.Checks = []fleetv1alpha1.WorkCheckStatus{{Rollout: ro, Name: "smoke", Revision: w.Spec.Revision,
			CheckState: fleetv1alpha1.CheckState{Since: measured, Measurements: 1, Failures: 1, Last: m, Decisive: m}}}
	})
	for _, c := range []string{name + "-g1", name + "-g2"} {
		s.ReportReady(s.WaitWork(name, team, "shop", c, func(w *fleetv1alpha1.Work) (bool, string) {
			return w.Spec.InstanceRevision == started.Spec.TargetRevision, w.Spec.InstanceRevision
		}))
	}
	got := s.waitTeamRollout(team, ro, "failing the canary on its check", func(r *fleetv1alpha1.Rollout) bool {
		return slices.ContainsFunc(r.Status.Failures, func(f fleetv1alpha1.ClusterFailure) bool { return f.Cluster == canary }) ||
			r.Status.Phase.IsTerminal()
	})
	i := slices.IndexFunc(got.Status.Failures, func(f fleetv1alpha1.ClusterFailure) bool { return f.Cluster == canary })
	if i < 0 {
		t.Fatalf("phase %s, failures %+v: want %s failed on its check", got.Status.Phase, got.Status.Failures, canary)
	}
	if f := got.Status.Failures[i]; f.Reason != fleetv1alpha1.ReasonAnalysisFailed || !strings.Contains(f.Message, "failed before the switch to Immediate") {
		t.Errorf("failure %+v, want AnalysisFailed before the switch", f)
	}
}
