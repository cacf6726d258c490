package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func subjectRollout(name string, created time.Time, gen, from, target string, phase fleetv1alpha1.RolloutPhase) fleetv1alpha1.Rollout {
	r := fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fleetv1alpha1.PlatformNamespace, CreationTimestamp: metav1.NewTime(created)},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: from, TargetRevision: target},
		Status:     fleetv1alpha1.RolloutStatus{Phase: phase},
	}
	if gen != "" {
		r.Annotations = map[string]string{AnnotationChangeGeneration: gen}
	}
	return r
}

func TestNewestOrdersByCreationThenGenerationThenName(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		rollouts []fleetv1alpha1.Rollout
		want     string
	}{
		{"none", nil, ""},
		{"later creation wins", []fleetv1alpha1.Rollout{
			subjectRollout("web-9", t0.Add(time.Second), "9", "a", "b", ""),
			subjectRollout("web-10", t0, "10", "b", "c", ""),
		}, "web-9"},
		{"same second: higher generation wins, whatever the names", []fleetv1alpha1.Rollout{
			subjectRollout("web-10", t0, "10", "a", "b", ""),
			subjectRollout("web-9", t0, "9", "b", "c", ""),
		}, "web-10"},
		{"same second, no generation: name decides", []fleetv1alpha1.Rollout{
			subjectRollout("adhoc-a", t0, "", "a", "b", ""),
			subjectRollout("adhoc-b", t0, "", "b", "c", ""),
		}, "adhoc-b"},
		{"same second and generation: the later change of the team's Overrides wins", []fleetv1alpha1.Rollout{
			subjectRollout("site-shop-3-9", t0, "3", "a", "b", ""),
			subjectRollout("site-shop-3-10", t0, "3", "b", "c", ""),
			subjectRollout("site-shop-3", t0, "3", "c", "d", ""),
		}, "site-shop-3-10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if n := Newest(tc.rollouts); n != nil {
				got = n.Name
			}
			if got != tc.want {
				t.Errorf("Newest = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSupersededBy(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	old := subjectRollout("web-2", t0, "2", "r1", "r2", fleetv1alpha1.RolloutPhaseProgressing)
	newer := subjectRollout("web-3", t0.Add(time.Minute), "3", "r1", "r3", "")
	all := []fleetv1alpha1.Rollout{old, newer}
	if got := SupersededBy(&old, all); got != "web-3" {
		t.Errorf("old rollout superseded by %q, want web-3", got)
	}
	if got := SupersededBy(&newer, all); got != "" {
		t.Errorf("newest rollout superseded by %q, want none", got)
	}
	if got := SupersededBy(&old, all[:1]); got != "" {
		t.Errorf("sole rollout superseded by %q, want none", got)
	}
}

func TestStableRevision(t *testing.T) {
	for _, tc := range []struct {
		phase          fleetv1alpha1.RolloutPhase
		from, rollback string
		want           string
	}{
		{fleetv1alpha1.RolloutPhaseSucceeded, "r1", "", "r2"},
		{fleetv1alpha1.RolloutPhaseRolledBack, "r1", "r0", "r0"},
		{fleetv1alpha1.RolloutPhaseRolledBack, "r1", "", "r1"},
		{fleetv1alpha1.RolloutPhaseProgressing, "r1", "", "r1"},
		{fleetv1alpha1.RolloutPhaseAborted, "r1", "", "r1"},
		{fleetv1alpha1.RolloutPhaseProgressing, "", "", "r2"},
		{fleetv1alpha1.RolloutPhaseRollingBack, "r1", "r0", "r0"},
	} {
		r := subjectRollout("web-2", time.Time{}, "", tc.from, "r2", tc.phase)
		r.Status.RollbackRevision = tc.rollback
		if got := StableRevision(&r); got != tc.want {
			t.Errorf("%s from %q rollback %q: stable %q, want %q", tc.phase, tc.from, tc.rollback, got, tc.want)
		}
	}
}

// withAdmissions returns r with its frozen target set as waves of
// clusters and their stored admissions (one character per cluster).
func withAdmissions(r fleetv1alpha1.Rollout, waves ...[2]string) *fleetv1alpha1.Rollout {
	for _, w := range waves {
		ws := fleetv1alpha1.WaveStatus{Name: "w" + w[0][:2], Admitted: w[1]}
		ws.Clusters = strings.Fields(w[0])
		r.Status.Waves = append(r.Status.Waves, ws)
	}
	return &r
}

func TestRevisionFor(t *testing.T) {
	inFlight := subjectRollout("web-2", time.Time{}, "", "r1", "r2", fleetv1alpha1.RolloutPhaseProgressing)
	succeeded := subjectRollout("web-2", time.Time{}, "", "r1", "r2", fleetv1alpha1.RolloutPhaseSucceeded)
	rolledBack := subjectRollout("web-2", time.Time{}, "", "r1", "r2", fleetv1alpha1.RolloutPhaseRolledBack)
	rolledBack.Status.RollbackRevision = "r1"
	rollingBack := subjectRollout("web-2", time.Time{}, "", "r1", "r2", fleetv1alpha1.RolloutPhaseRollingBack)
	rollingBack.Status.RollbackRevision = "r0"
	aborted := subjectRollout("web-2", time.Time{}, "", "r1", "r2", fleetv1alpha1.RolloutPhaseAborted)
	// c1 admitted to the target in the first wave, c2 and c3 not; c4 in the second.
	admitted := withAdmissions(inFlight, [2]string{"c1 c2 c3", "T.."}, [2]string{"c4", ""})
	// A revert: r2 reached the canary only, and the Promise went back to r1.
	revert := subjectRollout("web-3", time.Time{}, "", "r2", "r1", fleetv1alpha1.RolloutPhaseProgressing)
	revertAborted := subjectRollout("web-3", time.Time{}, "", "r2", "r1", fleetv1alpha1.RolloutPhaseAborted)
	revertFailed := subjectRollout("web-3", time.Time{}, "", "r2", "r1", fleetv1alpha1.RolloutPhaseFailed)
	revertRollingBack := subjectRollout("web-3", time.Time{}, "", "r2", "r1", fleetv1alpha1.RolloutPhaseRollingBack)
	revertRollingBack.Status.RollbackRevision = "r0"

	for _, tc := range []struct {
		name                     string
		governing                *fleetv1alpha1.Rollout
		revert                   bool
		cluster, current, latest string
		want                     string
	}{
		{"no rollout: a new Work renders latest", nil, false, "c1", "", "r1", "r1"},
		{"no rollout: a Work stays where it is", nil, false, "c1", "r1", "r2", "r1"},
		{"in flight: admitted cluster moves", admitted, false, "c1", "r1", "r2", "r2"},
		{"in flight: other cluster stays", admitted, false, "c2", "r1", "r2", "r1"},
		{"in flight: a wave with none admitted stays", admitted, false, "c4", "r1", "r2", "r1"},
		{"in flight: a cluster outside the target set stays", admitted, false, "c9", "r1", "r2", "r1"},
		{"in flight: new Work on a cluster not admitted gets from", admitted, false, "c2", "", "r2", "r1"},
		{"in flight: new Work on an admitted cluster gets the target", admitted, false, "c1", "", "r2", "r2"},
		{"in flight before any admission: nothing moves", &inFlight, false, "c1", "r1", "r2", "r1"},
		{"rolling back: an admission to the rollback revision", withAdmissions(rollingBack, [2]string{"c1 c2", "RT"}), false, "c1", "r2", "r2", "r0"},
		{"rolling back: a cluster the rollback did not reach yet stays on the target", withAdmissions(rollingBack, [2]string{"c1 c2", "RT"}), false, "c2", "r2", "r2", "r2"},
		{"rolling back: a cluster back on the rollback revision stays", withAdmissions(rollingBack, [2]string{"c1 c2", ".T"}), false, "c1", "r0", "r2", "r0"},
		{"R without a rollback revision admits nothing", withAdmissions(inFlight, [2]string{"c1", "R"}), false, "c1", "r1", "r2", "r1"},
		{"admissions of the wrong length admit nothing", withAdmissions(inFlight, [2]string{"c1 c2", "T"}), false, "c1", "r1", "r2", "r1"},
		{"succeeded: stragglers settle on the target", &succeeded, false, "c9", "r1", "r2", "r2"},
		{"succeeded: admissions are not read any more", withAdmissions(succeeded, [2]string{"c1", "."}), false, "c1", "r1", "r2", "r2"},
		{"rolled back: everything on the rollback revision", &rolledBack, false, "c1", "r2", "r2", "r1"},
		{"rolled back: new Works too", &rolledBack, false, "c1", "", "r2", "r1"},
		{"aborted: clusters stay", withAdmissions(aborted, [2]string{"c1", "T"}), false, "c1", "r2", "r2", "r2"},
		{"aborted: admitted but not rewritten stays too", withAdmissions(aborted, [2]string{"c1", "T"}), false, "c1", "r1", "r2", "r1"},
		{"aborted: new Works get from", &aborted, false, "c1", "", "r2", "r1"},
		{"finished rollout of an older revision: nothing moves until the new one", &succeeded, false, "c1", "r2", "r3", "r2"},
		{"finished rollout of an older revision: new Works get its outcome", &succeeded, false, "c1", "", "r3", "r2"},
		// The fromRevision of a revert is the change only the canary took:
		// no new Work starts on it, in flight or after.
		{"revert in flight: a new Work gets what it returns to", &revert, true, "c9", "", "r1", "r1"},
		{"revert in flight: a cluster on the change stays there", &revert, true, "c1", "r2", "r1", "r2"},
		{"revert aborted: a new Work gets what it returns to", &revertAborted, true, "c9", "", "r1", "r1"},
		{"revert failed: a new Work gets what it returns to", &revertFailed, true, "c9", "", "r1", "r1"},
		{"revert aborted, the Promise changed again: a new Work still never gets the change", &revertAborted, true, "c9", "", "r3", "r1"},
		{"revert rolling back: a new Work gets the rollback revision", &revertRollingBack, true, "c9", "", "r1", "r0"},
		{"a fromRevision that ran in full: a new Work gets it", &aborted, false, "c1", "", "r2", "r1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RevisionFor(tc.governing, tc.revert, tc.cluster, tc.current, tc.latest); got != tc.want {
				t.Errorf("RevisionFor = %q, want %q", got, tc.want)
			}
		})
	}
}
