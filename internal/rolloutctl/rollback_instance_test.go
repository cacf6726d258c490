package rolloutctl

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// The hub refuses a rollback of an instance's Rollout to a revision the
// fleet never ran in full (rollout.RanInFull): the CLI refuses it first,
// and lists only the revisions the hub would take.
func TestARollbackOfAnInstanceNamesOnlyRevisionsTheFleetRan(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})
	const team = "team-rollback"
	ensureNamespace(t, ctx, admin, team)

	// app-shop-r0 → app-shop-r1 succeeded; app-shop-r1 → app-shop-r2 was rolled back at its
	// canary (app-shop-r2 never ran in full); app-shop-r1 → app-shop-r3 is under way.
	for _, name := range []string{"app-shop-r0", "app-shop-r1", "app-shop-r2", "app-shop-r3"} {
		create(t, ctx, admin, &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: team,
				Labels: map[string]string{fleetv1alpha1.LabelPromise: "app", fleetv1alpha1.LabelInstance: "shop"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "platform.example.com/v1alpha1", Kind: "App", Name: "shop",
					UID: types.UID("0f0e0d0c-0b0a-0908-0706-050403020100")}}},
			Data:     runtime.RawExtension{Raw: []byte(`{"spec":{}}`)},
			Revision: 1,
		})
	}
	instanceRollout := func(name, from, to string, phase fleetv1alpha1.RolloutPhase, startedBy string) {
		r := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: team, Annotations: map[string]string{fleetv1alpha1.AnnotationStartedBy: startedBy}},
			Spec: fleetv1alpha1.RolloutSpec{
				Subject:      fleetv1alpha1.RolloutSubject{Promise: "app", Instance: &fleetv1alpha1.LocalObjectReference{Name: "shop"}},
				FromRevision: from, TargetRevision: to,
			},
		}
		create(t, ctx, admin, r)
		setStatus(t, ctx, admin, r, fleetv1alpha1.RolloutStatus{Phase: phase})
	}
	instanceRollout("shop-1", "app-shop-r0", "app-shop-r1", fleetv1alpha1.RolloutPhaseSucceeded, rollout.ActorHub)
	instanceRollout("shop-2", "app-shop-r1", "app-shop-r2", fleetv1alpha1.RolloutPhaseRolledBack, rollout.ActorHub)
	instanceRollout("shop-3", "app-shop-r1", "app-shop-r3", fleetv1alpha1.RolloutPhaseHalted, rollout.ActorHub)
	// A Rollout a team member made by hand, from the revision only the canary ran.
	instanceRollout("shop-by-hand", "app-shop-r2", "app-shop-r3", fleetv1alpha1.RolloutPhaseHalted, "alice")

	_, err := c.Rollback(ctx, team, "shop-3", RollbackOptions{ToRevision: "app-shop-r2"})
	wantErr(t, err, "app-shop-r2 never ran on the whole target set of instance team-rollback/shop (Promise app)",
		"roll back to one of: app-shop-r1, app-shop-r0")
	_, err = c.Rollback(ctx, team, "shop-3", RollbackOptions{ToRevision: "nonsense"})
	wantErr(t, err, "nonsense is not a revision of instance team-rollback/shop (Promise app); roll back to one of: app-shop-r1, app-shop-r0")
	if err != nil && strings.Contains(err.Error(), "app-shop-r2") {
		t.Fatalf("the list names a revision the hub refuses: %v", err)
	}
	_, err = c.Rollback(ctx, team, "shop-by-hand", RollbackOptions{})
	wantErr(t, err, "app-shop-r2 never ran on the whole target set")
	for _, name := range []string{"shop-3", "shop-by-hand"} {
		r := &fleetv1alpha1.Rollout{}
		if err := admin.Get(ctx, types.NamespacedName{Namespace: team, Name: name}, r); err != nil {
			t.Fatal(err)
		}
		if r.Spec.Rollback != nil {
			t.Fatalf("a refused rollback was written on %s: %+v", name, r.Spec.Rollback)
		}
	}

	if res, err := c.Rollback(ctx, team, "shop-3", RollbackOptions{ToRevision: "app-shop-r0"}); err != nil || !res.Changed {
		t.Fatalf("rolling back to a revision the fleet ran: %+v, %v", res, err)
	}
	if res, err := c.Rollback(ctx, team, "shop-by-hand", RollbackOptions{ToRevision: "app-shop-r1"}); err != nil || !res.Changed {
		t.Fatalf("rolling back a hand-made Rollout to a revision the fleet ran: %+v, %v", res, err)
	}
}
