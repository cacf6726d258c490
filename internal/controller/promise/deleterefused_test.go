package promise_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// A careless platform engineer deletes a Promise that teams have instances
// of (`kubectl delete promise`, or `--all` with a selector that matched
// it). The API server took it: the Promise got a deletion timestamp, which
// nothing takes back, so from then on the hub rendered none of its
// instances (a team's new instance landed nowhere) until every team had
// deleted its instances or the platform deleted them all. The deletion is
// now refused, naming the count and the annotation that lets it through.
func TestDeletingAPromiseWithInstancesIsRefused(t *testing.T) {
	e := newEnv(t)
	startHub(t)
	const group, kind, name = "keep.example.com", "KeepDb", "keep-db"
	e.Cluster("keep-c1", map[string]string{"story": "keep"})
	e.Fleet("keep", map[string]string{"story": "keep"}, "keep-team")
	e.Namespace("keep-team", nil)
	p := pt.ConfigMapPromise(name, group, kind, "keep")
	p.Labels = map[string]string{"story": "keep"}
	e.Create(p)
	e.PromiseReady(name)
	e.Create(pt.Instance(group, kind, "keep-team", "orders", map[string]any{"size": "small"}))
	e.WaitWork(name, "keep-team", "orders", "keep-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	pt.Eventually(t, time.Minute, "the Promise counting its instance", func() (bool, string) {
		p := getPromise(e, name)
		return p.Status.Instances == 1, fmt.Sprint(p.Status.Instances)
	})

	refused := func(how string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: the API server took the deletion of a Promise with an instance", how)
		}
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Errorf("%s: %v, want a refusal", how, err)
		}
		for _, want := range []string{"has 1 instances", fleetv1alpha1.AnnotationForceDelete + "=" + fleetv1alpha1.ForceDeleteValue} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", how, err, want)
			}
		}
	}
	refused("delete", e.C.Delete(e.Ctx, getPromise(e, name)))
	refused("delete all", e.C.DeleteAllOf(e.Ctx, &fleetv1alpha1.Promise{}, client.MatchingLabels{"story": "keep"}))
	if p := getPromise(e, name); !p.DeletionTimestamp.IsZero() {
		t.Fatal("the Promise is being deleted")
	}
	// It keeps serving: a team's new instance lands.
	e.Create(pt.Instance(group, kind, "keep-team", "late", map[string]any{"size": "small"}))
	e.WaitWork(name, "keep-team", "late", "keep-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	// Annotated, the deletion goes through, with the instances.
	updatePromise(e, name, func(p *fleetv1alpha1.Promise) {
		p.Annotations = map[string]string{fleetv1alpha1.AnnotationForceDelete: fleetv1alpha1.ForceDeleteValue}
	})
	if err := e.C.Delete(e.Ctx, getPromise(e, name)); err != nil {
		t.Fatal(err)
	}
	pt.Eventually(t, time.Minute, "the Promise gone", func() (bool, string) {
		err := e.C.Get(e.Ctx, client.ObjectKey{Name: name}, &fleetv1alpha1.Promise{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}
