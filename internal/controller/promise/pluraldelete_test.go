package promise_test

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// A platform engineer changed a Promise's api.plural. The hub refused it
// (APIConflict) with "delete and recreate the Promise", and the deletion,
// which looked for instances in the new plural's CRD (none), let the
// Promise go without the force-delete annotation: the hub deleted every
// Work of every team, and the agents pruned every instance's workloads.
// The API server now refuses the change, and a deletion waits for the
// instances of every CRD that is the Promise's.
func TestChangingThePluralDoesNotBypassTheDeletionGuard(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const group, kind, name = "plural.example.com", "PluralDb", "plural-db"
	givenOrders(e, "plural", group, kind, name)

	// The same plural, spelled out where it was defaulted, is no change.
	e.UpdatePromise(name, func(p *fleetv1alpha1.Promise) { p.Spec.API.Plural = "pluraldbs" })
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p := getPromise(e, name)
		p.Spec.API.Plural = "pluraldatabases"
		return e.C.Update(e.Ctx, p)
	})
	if err == nil {
		t.Error("the API server took a change of api.plural")
	} else if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "plural") {
		t.Errorf("changing api.plural: %v, want a refusal naming api.plural", err)
	}
	deleteWhileTheHubIsDown(e, stopHub, name)
	pt.Eventually(t, time.Minute, "the deletion waiting for the instance", func() (bool, string) {
		p := getPromise(e, name)
		return p.Status.Instances == 1 && strings.Contains(conditionMessage(p), "instances exist"), conditionMessage(p)
	})
	time.Sleep(2 * time.Second)
	if e.Work(name, "plural-team", "orders", "plural-c1") == nil {
		t.Fatal("the Work of the team's instance was deleted without force-delete")
	}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Promise{}); err != nil {
		t.Fatalf("the Promise went with an instance: %v", err)
	}
}

func conditionMessage(p *fleetv1alpha1.Promise) string {
	if c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady); c != nil {
		return c.Reason + ": " + c.Message
	}
	return "no Ready condition"
}
