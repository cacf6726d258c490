package rollout_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
)

// The attack: in a Promise's Deadline rollout, status.adoption is what the
// platform reads ("3 of 4 instances adopted") to decide whether to wait
// for the owners or force the rest now. A team created instances the
// Rollout does not move (placed on no cluster: here its namespace is no
// Fleet's tenant) and annotated them adopt-revision: they counted as
// instances, and as adopted, so the platform read most owners as having
// adopted while the only instance the Rollout moves had not (unannotated,
// they made it read the other way). Only the instances with a Work on the
// Rollout's target clusters are counted now.
func TestInstancesTheRolloutDoesNotMoveAreNotCountedAsAdopting(t *testing.T) {
	const name = "adoptcount"
	s := newStory(t, name+".example.com")
	s.strategy(name, fleetv1alpha1.FailureHalt, wave("canary"), wave("general"))
	r1 := s.givenSite(name, name)
	team, ghosts := name+"-team", name+"-ghost"
	s.Namespace(ghosts, nil)
	for i := range 3 {
		s.Create(promisetest.Instance(s.group, "Site", ghosts, fmt.Sprintf("ghost-%d", i), map[string]any{"size": "small"}))
	}

	p := s.UpdatePromise(name, func(p *fleetv1alpha1.Promise) {
		p.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline,
			Deadline: ptrTo(metav1.NewTime(time.Now().Add(time.Hour).Truncate(time.Second)))}
		p.Spec.Templates.GoTemplates[0].Template = template("2")
	})
	ro := name + "-" + strconv.FormatInt(p.Generation, 10)
	got := s.waitRollout(ro, "in its adoption window", func(ro *fleetv1alpha1.Rollout) bool { return ro.Status.Adoption != nil })
	r2 := got.Spec.TargetRevision
	if r2 == r1 {
		t.Fatalf("rollout %s targets %s, the revision the fleet runs", ro, r2)
	}

	adopt := func(ns, inst string) {
		s.UpdateInstance(promisetest.Instance(s.group, "Site", ns, inst, nil), func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{fleetv1alpha1.AnnotationAdoptRevision: r2})
		})
	}
	for i := range 3 {
		adopt(ghosts, fmt.Sprintf("ghost-%d", i))
	}
	// The hub looks for adopters every 5 seconds: give it two looks.
	time.Sleep(11 * time.Second)
	if a := s.rollout(ro).Status.Adoption; a == nil || a.Instances != 1 || a.Adopted != 0 {
		t.Fatalf("adoption %+v, want 0 of the 1 instance the rollout moves adopted", a)
	}

	// The owner of the one it moves adopts: its clusters move, and the
	// rollout completes early, every target having adopted.
	adopt(team, "shop")
	s.moves(name, r2, s.clusters(name)...)
	s.reportReady(name, team, s.clusters(name)...)
	got = s.waitRollout(ro, "succeeded before the deadline", phaseIs(fleetv1alpha1.RolloutPhaseSucceeded))
	if a := got.Status.Adoption; a == nil || a.Instances != 1 || a.Adopted != 1 {
		t.Errorf("adoption %+v, want 1 of 1", a)
	}
}
