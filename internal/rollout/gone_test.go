package rollout_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack: a team whose instances are all the Promise runs on the
// canary's clusters removes them mid-wave (narrows their placement, or
// deletes them) before they turn healthy, or fail, on the platform's
// change. The clusters leave the target set, which is no failure; but the
// canary completed Succeeded ("0 healthy, 0 failed, 2 offline"), the
// general wave asked for its approval on it, and the Rollout ended
// Succeeded, not degraded, though no cluster ever ran the change healthily.
// A cluster that left is now not healthy on the target: its wave completes
// SucceededWithFailures, and so does the Rollout.
func TestAWaveWhoseClustersLeftDoesNotReadSucceeded(t *testing.T) {
	f := newFixture(t, strategy(wave("canary"), wave("general", catchAll, approval)),
		append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.wantAdmitted("c-1", "c-2")
	f.in.Clusters = slicesDelete(slicesDelete(f.in.Clusters, "c-1"), "c-2")
	f.at(time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	if w := f.wave("canary"); w.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures {
		t.Fatalf("canary %s, want %s: none of its clusters ran the target", w.Phase, fleetv1alpha1.WavePhaseSucceededWithFailures)
	}
	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "general", ChangeRecord: record("alice", f.in.Now, "")}}
	f.at(2 * time.Minute).plan()
	f.at(3 * time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseSucceeded, "")
	c := f.condition(fleetv1alpha1.ConditionReady)
	if c == nil || c.Reason != fleetv1alpha1.ReasonSucceededWithFailures || !strings.Contains(c.Message, "2 of 4 clusters left the fleet without reaching it") {
		t.Fatalf("Ready %+v", c)
	}
	if d := f.condition(fleetv1alpha1.ConditionDegraded); d == nil || d.Status != metav1.ConditionTrue {
		t.Fatalf("Degraded %+v", d)
	}
}

// The attack: a team whose instances are all the Promise runs on the
// canary's clusters removes them mid-wave (narrows their placement, or
// deletes them) before they turn healthy on the platform's change. The
// canary, with no check to wait for, completed at once with nothing baked
// anywhere, and a general wave asking no approval took the change on every
// other team's clusters at once: the canary's gate was gone. The next wave
// now waits for an approval that names why, as after a wave that matched no
// cluster; approved, it goes on.
func TestAWaveWhoseClustersAllLeftHoldsTheNextWave(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", bake(30*time.Minute)), wave("general", catchAll)),
		append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.wantAdmitted("c-1", "c-2")
	f.in.Clusters = slicesDelete(slicesDelete(f.in.Clusters, "c-1"), "c-2")
	f.at(time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseWaitingForApproval, "general")
	f.wantAdmitted()
	c := f.condition(fleetv1alpha1.ConditionApproved)
	if c == nil || c.Status != metav1.ConditionFalse ||
		!strings.Contains(c.Message, "wave canary completed with none of its 2 clusters healthy on the target (2 left the fleet)") {
		t.Fatalf("Approved %+v", c)
	}

	f.in.Spec.Approvals = []fleetv1alpha1.Approval{{Wave: "general", ChangeRecord: record("alice", f.in.Now, "")}}
	f.at(2 * time.Minute).plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g-1", "g-2")
}

// A canary where one cluster stayed and baked is a canary that showed the
// change good: the next wave starts as its strategy says.
func TestAWaveWithAClusterLeftButOneBakedDoesNotHoldTheNext(t *testing.T) {
	f := newFixture(t, strategy(wave("canary"), wave("general", catchAll)),
		append(clusters("c", 2, "ring", "canary"), clusters("g", 2)...)...)
	f.plan()
	f.in.Clusters = slicesDelete(f.in.Clusters, "c-1")
	f.at(time.Minute).healthyAll().plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "general")
	f.wantAdmitted("g-1", "g-2")
}

// A pilot whose one cluster failed within its budget (maxFailures: 1, the
// demo's bad release) showed the change bad, as its budget allows: the
// canary takes it next, as the strategy says, and no approval is asked.
func TestAWaveWhoseClustersAllFailedWithinItsBudgetDoesNotHoldTheNext(t *testing.T) {
	f := newFixture(t, strategy(wave("pilot", failures("1")), wave("canary", catchAll)),
		append(clusters("p", 1, "ring", "pilot"), clusters("c", 2)...)...)
	f.plan()
	f.wantAdmitted("p-1")
	f.at(time.Minute).failing("p-1").plan()
	f.wantPhase(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	f.wantAdmitted("c-1", "c-2")
}
