package rollout_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: a Promise's change runs on the canary alone, waiting for the
// general wave's approval, and a platform engineer tidies up old revisions
// (`kubectl delete promiserevision <the first>`, or with a label selector):
// the one the general clusters run, the change's fromRevision. Nothing can
// make it again (the Promise's content moved on), so the hub could render no
// Work of the Promise's instances any more (every reconcile failed reading
// it), and the rollback the canary needed never came: it kept the change.
// A person's deletion of a PromiseRevision (or of an instance's revision, or
// of a chart snapshot) is now refused, saying the hub collects unused ones;
// the hub's own and the garbage collector's (the Promise deleted), which
// carry the revision's UID, pass.
func TestAPromiseRevisionIsNotDeletedByHand(t *testing.T) {
	const name = "revdel"
	s := newStory(t, name+".example.com")
	change, r1, r2 := s.changeOnTheCanary(name)

	err := s.C.Delete(s.Ctx, &fleetv1alpha1.PromiseRevision{ObjectMeta: metav1.ObjectMeta{Name: r1}})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("deleting revision %s, which the general clusters run: %v, want it refused", r1, err)
	}
	if !strings.Contains(err.Error(), "revisionHistoryLimit") {
		t.Errorf("the refusal does not say how revisions go: %v", err)
	}
	err = s.C.DeleteAllOf(s.Ctx, &fleetv1alpha1.PromiseRevision{}, client.MatchingLabels{fleetv1alpha1.LabelPromise: name})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("deleting the Promise's revisions by label: %v, want it refused", err)
	}

	// So are the instance's revisions, and the chart snapshots revisions
	// render from.
	instRevs := &appsv1.ControllerRevisionList{}
	if err := s.C.List(s.Ctx, instRevs, client.InNamespace(name+"-team"), client.MatchingLabels{fleetv1alpha1.LabelPromise: name}); err != nil || len(instRevs.Items) == 0 {
		t.Fatalf("listing the instance's revisions: %v (%d)", err, len(instRevs.Items))
	}
	if err := s.C.Delete(s.Ctx, &instRevs.Items[0]); !apierrors.IsForbidden(err) {
		t.Fatalf("deleting instance revision %s: %v, want it refused", instRevs.Items[0].Name, err)
	}
	snapshot := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "flotilla-chart-" + name}}
	s.Create(snapshot)
	if err := s.C.Delete(s.Ctx, snapshot); !apierrors.IsForbidden(err) {
		t.Fatalf("deleting chart snapshot %s: %v, want it refused", snapshot.Name, err)
	}
	if err := s.C.Delete(s.Ctx, snapshot, client.Preconditions{UID: &snapshot.UID}); err != nil {
		t.Fatalf("deleting chart snapshot %s with its UID as a precondition: %v", snapshot.Name, err)
	}

	// The rollback still finds the revision the fleet ran.
	s.patchRollout(change, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "oncall", Message: "bad release"}}
	})
	s.moves(name, r1, name+"-c1")

	// The hub and the garbage collector delete with the revision's UID.
	rev := &fleetv1alpha1.PromiseRevision{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Name: r2}, rev); err != nil {
		t.Fatal(err)
	}
	if err := s.C.Delete(s.Ctx, rev, client.Preconditions{UID: &rev.UID}); err != nil {
		t.Fatalf("deleting revision %s with its UID as a precondition: %v", r2, err)
	}
}
