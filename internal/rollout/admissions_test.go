package rollout_test

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// rolloutOf is the Rollout the fixture's status belongs to.
func (f *fixture) rolloutOf() *fleetv1alpha1.Rollout {
	return &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "app-2", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: f.in.Spec, Status: f.d.Status}
}

// wantStored checks the admissions stored in the wave's status.
func (f *fixture) wantStored(wave, admitted string) {
	f.t.Helper()
	if got := f.wave(wave).Admitted; got != admitted {
		f.t.Fatalf("wave %s stores admitted %q, want %q", wave, got, admitted)
	}
}

// The story: each plan stores in the status what it admits and what
// already renders the target, and RevisionFor over that status alone gives
// every admitted cluster its revision: the status is the admission.
func TestPlanStoresItsAdmissions(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", concurrency("1")), wave("general", catchAll, concurrency("2"))),
		append(clusters("c", 2, "ring", "canary"), clusters("g", 3)...)...)
	f.plan()
	f.wantAdmitted("c-1")
	f.wantStored("canary", "T.")
	f.wantStored("general", "")
	ro := f.rolloutOf()
	for c, want := range map[string]string{"c-1": target, "c-2": from, "g-1": from} {
		if got := rollout.RevisionFor(ro, false, c, from, target); got != want {
			t.Errorf("RevisionFor(%s) = %s, want %s", c, got, want)
		}
	}

	// Planned again before the admission ran (a crash, a conflict): the same.
	again, err := rollout.Plan(f.in)
	if err != nil || again.Status.Waves[0].Admitted != "T." {
		t.Fatalf("re-plan: %v, admitted %q", err, again.Status.Waves[0].Admitted)
	}

	// c-1 renders the target from now on: it stays admitted while c-2 follows.
	f.at(time.Minute).healthy("c-1").plan()
	f.wantAdmitted("c-2")
	f.wantStored("canary", "TT")
	f.at(2 * time.Minute).healthy("c-2").plan()
	f.wantStored("canary", "TT")
	f.wantStored("general", "TT.")

	// A rollback admits every cluster on the target back to fromRevision;
	// once a cluster renders it, it is no longer admitted to anything.
	f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: record("carol", t0.Add(3*time.Minute), "bad")}
	f.at(3 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
	f.wantStored("canary", "RR")
	f.wantStored("general", "RR.")
	ro = f.rolloutOf()
	if got := rollout.RevisionFor(ro, false, "g-1", target, target); got != from {
		t.Errorf("RevisionFor(g-1) while rolling back = %s, want %s", got, from)
	}
	f.at(4 * time.Minute).plan()
	f.wantStored("canary", "")
	f.wantStored("general", "")
}

// A Halt freeze holds a rollback: the clusters on the target stay admitted
// to it, so nothing moves.
func TestHeldRollbackKeepsTheTarget(t *testing.T) {
	f := newFixture(t, strategy(wave("general", catchAll, concurrency("100%"))), clusters("m", 2)...)
	f.plan()
	f.in.Freeze = &rollout.FreezeObservation{Name: "stop", Action: fleetv1alpha1.FreezeHalt, Reason: "incident"}
	f.in.Spec.Rollback = &fleetv1alpha1.RollbackRequest{}
	f.at(time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseRollingBack, "general")
	f.wantAdmitted()
	f.wantStored("general", "TT")
}

func TestNewAdmissions(t *testing.T) {
	ro := func(rollback string, admitted ...string) *fleetv1alpha1.Rollout {
		r := &fleetv1alpha1.Rollout{Spec: fleetv1alpha1.RolloutSpec{TargetRevision: target},
			Status: fleetv1alpha1.RolloutStatus{RollbackRevision: rollback}}
		for i, a := range admitted {
			w := fleetv1alpha1.WaveStatus{Name: string(rune('a' + i)), Admitted: a}
			for j := range 3 {
				w.Clusters = append(w.Clusters, string(rune('a'+i))+string(rune('1'+j)))
			}
			r.Status.Waves = append(r.Status.Waves, w)
		}
		return r
	}
	for _, tc := range []struct {
		name       string
		prev, next *fleetv1alpha1.Rollout
		want       []string
	}{
		{"unchanged", ro("", "T..", ""), ro("", "T..", ""), nil},
		{"first read (a restart)", nil, ro("", "T..", ".T."), []string{"a1", "b2"}},
		{"one more", ro("", "T..", ""), ro("", "TT.", ""), []string{"a2"}},
		{"a new wave", ro("", "TTT", ""), ro("", "TTT", "T.."), []string{"b1"}},
		{"no longer admitted moves nothing", ro("", "TT.", ""), ro("", ".T.", ""), nil},
		{"rolled back", ro("", "TT.", ""), ro(from, "RT.", ""), []string{"a1"}},
		{"relaid out for Immediate", ro("", "T..", "T.."), &fleetv1alpha1.Rollout{Spec: fleetv1alpha1.RolloutSpec{TargetRevision: target},
			Status: fleetv1alpha1.RolloutStatus{Waves: []fleetv1alpha1.WaveStatus{{Name: "Immediate",
				Clusters: []string{"a1", "a2", "a3", "b1", "b2", "b3"}, Admitted: "TT.T.."}}}}, []string{"a2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rollout.NewAdmissions(tc.prev, tc.next); !slices.Equal(got, tc.want) {
				t.Errorf("NewAdmissions = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAdmittedBy(t *testing.T) {
	t1 := metav1.NewTime(t0)
	t2 := metav1.NewTime(t0.Add(time.Hour))
	rollouts := []fleetv1alpha1.Rollout{
		{ObjectMeta: metav1.ObjectMeta{Name: "app-2", Namespace: "ns", CreationTimestamp: t1}, Spec: fleetv1alpha1.RolloutSpec{TargetRevision: target},
			Status: fleetv1alpha1.RolloutStatus{Waves: []fleetv1alpha1.WaveStatus{{Name: "canary", Clusters: []string{"c1"}}, {Name: "rest", Clusters: []string{"c2", "c3"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "app-3", Namespace: "ns", CreationTimestamp: t2}, Spec: fleetv1alpha1.RolloutSpec{TargetRevision: "app-r3"}},
	}
	if got := rollout.AdmittedBy(rollouts, "c3", target); got == nil || got.Name != "app-2" || got.Wave != "rest" || got.Namespace != "ns" {
		t.Errorf("AdmittedBy(c3, target) = %+v", got)
	}
	if got := rollout.AdmittedBy(rollouts, "c9", "app-r3"); got == nil || got.Name != "app-3" || got.Wave != "" {
		t.Errorf("AdmittedBy(c9, app-r3) = %+v", got)
	}
	if got := rollout.AdmittedBy(rollouts, "c1", from); got != nil {
		t.Errorf("AdmittedBy(c1, from) = %+v, want nil", got)
	}
}
