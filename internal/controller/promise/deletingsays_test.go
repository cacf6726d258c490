package promise_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// A platform engineer deletes a Promise that has instances: the deletion
// waits for them, for as long as they exist. Meanwhile the hub rendered
// none of them and said nothing: a team's new instance had no status at
// all, and a team's change was never applied, with no word of why. Each
// instance now says its Promise is being deleted; the Works stay as they are.
func TestAnInstanceOfAPromiseBeingDeletedSaysSo(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const group, kind, name = "term.example.com", "TermDb", "term-db"
	givenOrders(e, "term", group, kind, name)

	deleteWhileTheHubIsDown(e, stopHub, name)
	pt.Eventually(t, time.Minute, "the deletion waiting", func() (bool, string) {
		p := getPromise(e, name)
		return strings.Contains(conditionMessage(p), "instances exist"), conditionMessage(p)
	})
	e.Create(pt.Instance(group, kind, "term-team", "late", map[string]any{"size": "small"}))
	saysSo := func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonPromiseNotReady && strings.Contains(c.Message, "being deleted")
	}
	e.WaitInstance(group, kind, "term-team", "late", "the new instance saying its Promise is being deleted", saysSo)
	s := e.WaitInstance(group, kind, "term-team", "orders", "the running instance saying so", saysSo)
	if s.Clusters.Placed != 1 {
		t.Errorf("the running instance counts %d clusters, want the 1 its Work is on", s.Clusters.Placed)
	}
	if e.Work(name, "term-team", "orders", "term-c1") == nil {
		t.Error("the running instance's Work is gone")
	}
}

// A platform engineer deletes a Promise that has instances, and the hub
// restarts (an upgrade, a new leader) while the deletion waits for them.
// The hub started watching a Promise's instances only once it served the
// Promise, which it never does again once it is being deleted: the team's
// new instance had no status at all, and the team deleting its instances
// left them for ever (the hub's finalizer was never run), and with them
// the Promise and its deletion. The waiting deletion now serves them.
func TestAWaitingDeletionSurvivesAHubRestart(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const group, kind, name = "restart.example.com", "RestartDb", "restart-db"
	givenOrders(e, "restart", group, kind, name)

	deleteWhileTheHubIsDown(e, stopHub, name)
	e.Create(pt.Instance(group, kind, "restart-team", "late", map[string]any{"size": "small"}))
	e.WaitInstance(group, kind, "restart-team", "late", "the new instance saying its Promise is being deleted", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonPromiseNotReady && strings.Contains(c.Message, "being deleted")
	})
	for _, inst := range []string{"orders", "late"} {
		if err := e.C.Delete(e.Ctx, pt.Instance(group, kind, "restart-team", inst, nil)); err != nil {
			t.Fatal(err)
		}
	}
	pt.Eventually(t, time.Minute, "the Promise and the Work gone", func() (bool, string) {
		err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Promise{})
		w := e.Work(name, "restart-team", "orders", "restart-c1")
		return apierrors.IsNotFound(err) && w == nil, fmt.Sprintf("promise: %v, work left: %v", err, w != nil)
	})
}

// givenOrders publishes Promise name (kind in group) on cluster <story>-c1,
// with instance "orders" in namespace <story>-team, and waits for its Work.
func givenOrders(e *pt.Env, story, group, kind, name string) {
	e.TB.Helper()
	e.Cluster(story+"-c1", map[string]string{"story": story})
	e.Fleet(story, map[string]string{"story": story}, story+"-team")
	e.Namespace(story+"-team", nil)
	e.Create(pt.ConfigMapPromise(name, group, kind, story))
	e.PromiseReady(name)
	e.Create(pt.Instance(group, kind, story+"-team", "orders", map[string]any{"size": "small"}))
	e.WaitWork(name, story+"-team", "orders", story+"-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
}

// deleteWhileTheHubIsDown deletes a Promise while no hub runs: it stops the
// hub (stopHub), deletes the Promise and starts a hub again, returning what
// stops that one. It clears the Promise's count of instances first, as a
// hub that had not counted them yet (one a team created a moment before)
// left it: the admission policy flotilla-promise-deletion lets only such a
// deletion of a Promise with instances through, and the hub's finalizer
// then holds it (TestDeletingAPromiseWithInstancesIsRefused).
func deleteWhileTheHubIsDown(e *pt.Env, stopHub func(), name string) (stopNewHub func()) {
	e.TB.Helper()
	stopHub()
	p := getPromise(e, name)
	if err := e.C.Status().Patch(e.Ctx, p, client.RawPatch(types.MergePatchType, []byte(`{"status":{"instances":null}}`))); err != nil {
		e.TB.Fatal(err)
	}
	if err := e.C.Delete(e.Ctx, p); err != nil {
		e.TB.Fatal(err)
	}
	return startHub(e.TB)
}
