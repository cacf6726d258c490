package instance_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story: the agent's verification checks follow the governing
// Rollout's stored status onto the Works. No Rollout controller runs: the
// test writes what a plan would. A cluster admitted to the target in a
// wave at work gets the Promise's HTTP check, named for the Rollout and
// wave; one not admitted gets none; a re-run counts the run up on the Work
// without touching its manifests or revision; the end of the Rollout takes
// the checks off.
func TestChecksFollowTheGoverningRollout(t *testing.T) {
	e := newEnv(t)
	registry := prometheus.NewRegistry()
	startHub(t, hub.Options{NoRolloutController: true, MetricsRegistry: registry})
	const group, kind = "wirechk.example.com", "WireDb"
	e.Cluster("wirechk-1", map[string]string{"story": "wirechk"})
	e.Cluster("wirechk-2", map[string]string{"story": "wirechk"})
	e.Fleet("wirechk", map[string]string{"story": "wirechk"}, "wirechk-team")
	e.Namespace("wirechk-team", nil)
	p := configMapPromise("wirechk-db", group, kind, "wirechk")
	p.Spec.Checks = []fleetv1alpha1.Check{{Name: "smoke", Condition: "result.code == 200",
		HTTP: &fleetv1alpha1.HTTPCheck{URL: "http://127.0.0.1:1/healthz"}}}
	e.Create(p)
	rev1 := e.PromiseReady("wirechk-db")
	e.Create(instance(group, kind, "wirechk-team", "orders", map[string]any{"size": "small"}))
	for _, c := range []string{"wirechk-1", "wirechk-2"} {
		e.WaitWork("wirechk-db", "wirechk-team", "orders", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == rev1, w.Spec.Revision })
	}
	e.UpdatePromise("wirechk-db", func(cur *fleetv1alpha1.Promise) {
		cur.Spec.Templates.GoTemplates[0].Template = p.Spec.Templates.GoTemplates[0].Template + "  version: two\n"
	})
	ro := waitPromiseRollout(t, e, "wirechk-db", rev1)
	store := func(phase fleetv1alpha1.RolloutPhase, wave fleetv1alpha1.WavePhase, run int32) {
		t.Helper()
		eventually(t, 30*time.Second, "status stored", func() (bool, string) {
			cur := &fleetv1alpha1.Rollout{}
			if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
				return false, err.Error()
			}
			cur.Status.Phase, cur.Status.CurrentWave = phase, "all"
			cur.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "all", Phase: wave, StartedAt: &metav1.Time{Time: time.Now()},
				Clusters: []string{"wirechk-1", "wirechk-2"}, Admitted: "T.",
				Checks: []fleetv1alpha1.WaveCheckStatus{{Name: "smoke", Verdict: fleetv1alpha1.CheckPending, Run: run}}}}
			err := e.C.Status().Update(e.Ctx, cur)
			return err == nil, fmt.Sprint(err)
		})
	}
	checks := func(want string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			got := ""
			for _, c := range w.Spec.Checks {
				got += fmt.Sprintf("%s#%d@%s/%s ", c.Name, c.Run, c.Rollout, c.Wave)
			}
			return got == want, got
		}
	}
	store(fleetv1alpha1.RolloutPhaseProgressing, fleetv1alpha1.WavePhaseProgressing, 0)
	w := e.WaitWork("wirechk-db", "wirechk-team", "orders", "wirechk-1", checks("smoke#0@"+ro.Name+"/all "))
	if w.Spec.Revision != ro.Spec.TargetRevision || w.Spec.Checks[0].HTTP == nil {
		t.Fatalf("wirechk-1 at %s with %+v", w.Spec.Revision, w.Spec.Checks)
	}
	if other := e.Work("wirechk-db", "wirechk-team", "orders", "wirechk-2"); len(other.Spec.Checks) > 0 {
		t.Errorf("wirechk-2, not admitted, carries checks %+v", other.Spec.Checks)
	}

	// A re-run: the run counts up; nothing else of the Work changes, and
	// the change renders each of the instance's Works once (the reconcile
	// that writes them; the one that reports reuses its renders).
	time.Sleep(time.Second) // the report of the first checks
	before := renders(t, registry)
	store(fleetv1alpha1.RolloutPhaseBaking, fleetv1alpha1.WavePhaseBaking, 1)
	rerun := e.WaitWork("wirechk-db", "wirechk-team", "orders", "wirechk-1", checks("smoke#1@"+ro.Name+"/all "))
	time.Sleep(time.Second) // the report, and any further reconcile
	n := renders(t, registry) - before
	t.Logf("renders: %d before the re-run, %d for it", before, n)
	if n > 2 {
		t.Errorf("a re-run rendered %d times, want at most once per Work (2)", n)
	}
	if rerun.Spec.Revision != w.Spec.Revision || !slices.EqualFunc(rerun.Spec.Manifests, w.Spec.Manifests,
		func(a, b fleetv1alpha1.Manifest) bool { return string(a.Raw) == string(b.Raw) }) {
		t.Error("a re-run changed the Work's revision or manifests")
	}

	// The Rollout ends: the checks leave the Work.
	store(fleetv1alpha1.RolloutPhaseSucceeded, fleetv1alpha1.WavePhaseSucceeded, 1)
	e.WaitWork("wirechk-db", "wirechk-team", "orders", "wirechk-1", checks(""))
}

// renders is how many renders the hub has timed (flotilla_render_duration_seconds).
func renders(t *testing.T, registry *prometheus.Registry) uint64 {
	t.Helper()
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, f := range families {
		if f.GetName() == "flotilla_render_duration_seconds" {
			for _, m := range f.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// waitPromiseRollout waits for the hub's Rollout of promise to a revision
// other than from, and returns it.
func waitPromiseRollout(t *testing.T, e *promisetest.Env, promise, from string) *fleetv1alpha1.Rollout {
	t.Helper()
	ro := &fleetv1alpha1.Rollout{}
	eventually(t, time.Minute, "the rollout of "+promise+" from "+from, func() (bool, string) {
		list := &fleetv1alpha1.RolloutList{}
		if err := e.C.List(e.Ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
			return false, err.Error()
		}
		for _, r := range list.Items {
			if r.Spec.Subject.Promise == promise && r.Spec.TargetRevision != from {
				*ro = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d rollouts", len(list.Items))
	})
	return ro
}
