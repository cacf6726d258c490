package rollout_test

import (
	"context"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/controller/rollout"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
)

// laggingWorks lists Works as a cache that has not seen one cluster's yet.
type laggingWorks struct {
	client.Client
	hidden string
}

func (c laggingWorks) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if works, ok := list.(*fleetv1alpha1.WorkList); ok {
		works.Items = slices.DeleteFunc(works.Items, func(w fleetv1alpha1.Work) bool { return w.Spec.Cluster == c.hidden })
	}
	return nil
}

// countingReader counts the lists read through it.
type countingReader struct {
	client.Reader
	lists *int
}

func (c countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	*c.lists++
	return c.Reader.List(ctx, list, opts...)
}

// rolloutByHand publishes Promise name on three clusters (givenSite, with a
// canary and a general wave), stops the hub, and creates a Rollout of its
// revision that only the test's own reconcilers plan. It returns the
// Rollout's key, a manager whose cache holds it, and the Rollout as cached.
func rolloutByHand(t *testing.T, name string, tweak ...func(*fleetv1alpha1.Rollout)) (*story, client.ObjectKey, manager.Manager, *fleetv1alpha1.Rollout) {
	t.Helper()
	stop := promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: name + ".example.com"}
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite(name, name)
	stop()

	ro := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name + "-by-hand",
			Labels: map[string]string{fleetv1alpha1.LabelPromise: name, fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue}},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: name},
			TargetRevision: r1,
			UpdatePolicy:   fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeProgressive},
			DesiredState:   fleetv1alpha1.RolloutRunning,
		},
	}
	for _, f := range tweak {
		f(ro)
	}
	s.Create(ro)
	key := client.ObjectKeyFromObject(ro)
	mgr := hubtest.StartManager(t, s.Ctx, hubCP.RESTConfig)
	cached := &fleetv1alpha1.Rollout{}
	promisetest.Eventually(t, time.Minute, "the manager's cache to hold the Rollout", func() (bool, string) {
		return mgr.GetClient().Get(s.Ctx, key, cached) == nil, "not yet"
	})
	return s, key, mgr, cached
}

// frozenWaves is the target set a Rollout froze, by wave.
func frozenWaves(ro *fleetv1alpha1.Rollout) map[string][]string {
	frozen := map[string][]string{}
	for _, w := range ro.Status.Waves {
		frozen[w.Name] = w.Clusters
	}
	return frozen
}

// A Rollout freezes its target set once, and a cluster left out of it is
// never rolled by a wave: it moves only when the Rollout has ended, with no
// health judged. A hub whose Work cache lags (a watch that broke) must not
// freeze the set from it: the Rollout would report Succeeded, 100 % on
// target, with clusters that never moved. It waits for the cache instead.
func TestATargetSetIsNotFrozenFromACacheMissingWorks(t *testing.T) {
	s, key, mgr, _ := rolloutByHand(t, "lag")
	reconciler := func(c client.Client) *rollout.Reconciler {
		return &rollout.Reconciler{Client: c, Cache: mgr.GetCache(), APIReader: mgr.GetAPIReader(),
			Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	}

	lagging := reconciler(laggingWorks{Client: mgr.GetClient(), hidden: "lag-g2"})
	res, err := lagging.Reconcile(s.Ctx, ctrl.Request{NamespacedName: key})
	if got := s.rollout(key.Name); len(got.Status.Waves) != 0 {
		t.Fatalf("froze the target set from a cache missing lag-g2's Work: %v", frozenWaves(got))
	}
	if err != nil || res.RequeueAfter <= 0 {
		t.Fatalf("reconcile from a cache missing lag-g2's Work: %+v, %v; want a requeue", res, err)
	}

	if _, err := reconciler(mgr.GetClient()).Reconcile(s.Ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	frozen := frozenWaves(s.rollout(key.Name))
	if !slices.Equal(frozen["canary"], []string{"lag-c1"}) || !slices.Equal(frozen["general"], []string{"lag-g1", "lag-g2"}) {
		t.Errorf("target set frozen once the cache caught up: %v, want canary [lag-c1], general [lag-g1 lag-g2]", frozen)
	}
}

// The wait for the cache is bounded: a watch that stays broken must not
// hold a Rollout for ever. Past the bound the set is frozen as the cache has it.
func TestATargetSetWaitsForTheCacheAWhileOnly(t *testing.T) {
	s, key, mgr, cached := rolloutByHand(t, "lagging")
	late := &rollout.Reconciler{Client: laggingWorks{Client: mgr.GetClient(), hidden: "lagging-g2"}, Cache: mgr.GetCache(),
		APIReader: mgr.GetAPIReader(), Recorder: events.NewFakeRecorder(100),
		Clock: clocktesting.NewFakePassiveClock(cached.CreationTimestamp.Add(31 * time.Second))}
	if _, err := late.Reconcile(s.Ctx, ctrl.Request{NamespacedName: key}); err != nil {
		t.Fatal(err)
	}
	if frozen := frozenWaves(s.rollout(key.Name)); !slices.Equal(frozen["general"], []string{"lagging-g1"}) {
		t.Errorf("target set frozen after the wait: %v, want general [lagging-g1], as the cache has it", frozen)
	}
}

// A Rollout that never freezes (its plan refused: here an inline strategy
// with a selector whose key labels cannot parse; the API server refuses an
// operator typo) is reconciled at every Work event of
// its subject. The comparison with the API server lists every Cluster, so
// once it found the cache complete it stands a while: such Rollouts, which
// a careless or hostile operator can make many of, do not turn each Work
// event into fleet-wide lists.
func TestAnUnfreezableRolloutDoesNotListTheFleetAtEveryEvent(t *testing.T) {
	s, key, mgr, _ := rolloutByHand(t, "stuck", func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Strategy = &fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{Name: "all",
			Selector: &fleetv1alpha1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring zone", Operator: metav1.LabelSelectorOpExists}}}}}}
	})
	lists := 0
	r := &rollout.Reconciler{Client: mgr.GetClient(), Cache: mgr.GetCache(), APIReader: countingReader{Reader: mgr.GetAPIReader(), lists: &lists},
		Recorder: events.NewFakeRecorder(100), Clock: clock.RealClock{}}
	for done := 0; done < 3; {
		_, err := r.Reconcile(s.Ctx, ctrl.Request{NamespacedName: key})
		switch {
		case apierrors.IsConflict(err): // the cache has not seen the Blocked status written yet
			time.Sleep(50 * time.Millisecond)
		case err != nil:
			t.Fatal(err)
		default:
			done++
		}
	}
	if got := s.rollout(key.Name); len(got.Status.Waves) != 0 || got.Status.Phase.IsTerminal() {
		t.Fatalf("the Rollout froze or ended: phase %s, waves %v", got.Status.Phase, frozenWaves(got))
	}
	if lists != 2 {
		t.Errorf("three reconciles of a Rollout that cannot freeze listed %d times from the API server, want 2 (one comparison)", lists)
	}
}
