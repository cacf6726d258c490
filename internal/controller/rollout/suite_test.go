package rollout_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests share; each test runs
// its own hub manager and uses names of its own. No agents run: the tests
// write the Work status an agent would (promisetest.Env.ReportReady).
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

// story is one test's view of the hub.
type story struct {
	*promisetest.Env
	group string
}

func newStory(t *testing.T, group string) *story {
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	return &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: group}
}

// rollout reads a Rollout, or returns nil.
func (s *story) rollout(name string) *fleetv1alpha1.Rollout {
	s.TB.Helper()
	ro := &fleetv1alpha1.Rollout{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, ro); err != nil {
		return nil
	}
	return ro
}

// waitRollout waits until the Rollout exists and check passes.
func (s *story) waitRollout(name, what string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
	s.TB.Helper()
	var ro *fleetv1alpha1.Rollout
	promisetest.Eventually(s.TB, time.Minute, "rollout "+name+" "+what, func() (bool, string) {
		ro = s.rollout(name)
		if ro == nil {
			return false, "not found"
		}
		return check(ro), fmt.Sprintf("phase %s wave %s counts %+v conditions %+v", ro.Status.Phase, ro.Status.CurrentWave,
			ro.Status.Counts, ro.Status.Conditions)
	})
	return ro
}

// waitTeamRollout waits until Rollout name in namespace ns (an instance's)
// exists and check passes, and returns it.
func (s *story) waitTeamRollout(ns, name, what string, check func(*fleetv1alpha1.Rollout) bool) *fleetv1alpha1.Rollout {
	s.TB.Helper()
	ro := &fleetv1alpha1.Rollout{}
	promisetest.Eventually(s.TB, time.Minute, "rollout "+name+" "+what, func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
			return false, err.Error()
		}
		return check(ro), fmt.Sprintf("phase %s, %+v", ro.Status.Phase, ro.Status.Counts)
	})
	return ro
}

// changePromise gives the Promise new content (a new revision) and returns the
// generation that changed it.
func (s *story) changePromise(name, template string) int64 {
	s.TB.Helper()
	p := s.UpdatePromise(name, func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = template })
	return p.Generation
}

// reportReady writes, for each cluster, the status of an agent that applied
// the current revision of instance shop's Work and found it healthy.
func (s *story) reportReady(promise, ns string, clusters ...string) {
	s.TB.Helper()
	for _, c := range clusters {
		s.ReportReady(s.Work(promise, ns, "shop", c))
	}
}

// workRevision is the revision the Work of instance "shop" renders on cluster.
func (s *story) workRevision(promise, ns, cluster string) string {
	s.TB.Helper()
	if w := s.Work(promise, ns, "shop", cluster); w != nil {
		return w.Spec.Revision
	}
	return ""
}

// strategy creates a RolloutStrategy.
func (s *story) strategy(name string, onFailure fleetv1alpha1.FailureAction, waves ...fleetv1alpha1.Wave) {
	s.TB.Helper()
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       fleetv1alpha1.RolloutStrategySpec{Waves: waves, OnFailure: onFailure},
	})
}

// wave is a wave selecting clusters labelled ring=<name>.
func wave(name string, tweak ...func(*fleetv1alpha1.Wave)) fleetv1alpha1.Wave {
	w := fleetv1alpha1.Wave{
		Name:           name,
		Selector:       &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}},
		MaxConcurrency: ptrTo(intstr.FromString("100%")),
		MaxFailures:    ptrTo(intstr.FromInt32(0)),
	}
	for _, t := range tweak {
		t(&w)
	}
	return w
}

func ptrTo[T any](v T) *T { return &v }

func phaseIs(p fleetv1alpha1.RolloutPhase) func(*fleetv1alpha1.Rollout) bool {
	return func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Phase == p }
}
