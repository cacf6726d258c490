package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/devenv"
)

// A new instance that fails is not the Rollout's failure. A Promise rolls
// out over two members (canary: member-1, then general: member-2, each
// allowing no failure, onFailure Rollback). While the general wave waits for
// its approval, team-c requests the instance "ledger" on both members, in a
// namespace the members do not have: it fails to apply (at the target on the
// admitted canary, at the old revision on member-2). The Rollout reports both
// as unattributed failures, counts neither against a budget, does not roll
// back, and completes once general is approved: Succeeded, not degraded,
// every other instance on the target.
func TestRolloutAttribution(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	start := time.Now()
	members := []string{"member-1", "member-2"}
	ring := map[string]string{"member-1": "canary", "member-2": "general"}
	base := givenFleetWith(t, devenv.Options{
		Members:      len(members),
		MemberLabels: func(i int) map[string]string { return map[string]string{"ring": ring[devenv.MemberName(i)]} },
	})
	for _, m := range members {
		base.thenClusterIs(m, fleetv1alpha1.ClusterAvailabilityAvailable, time.Minute)
	}
	base.givenPlatformNamespace()
	base.create(base.hub, &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: rolloutFleetName},
		Spec: fleetv1alpha1.FleetSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}},
			Tenants: &fleetv1alpha1.Tenants{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{tenantLabel: "true"},
			}},
		},
	})
	f := &rolloutFleet{fleet: base, works: startWorkLog(t, base)}
	t.Logf("fleet ready in %s", time.Since(start).Round(time.Millisecond))

	w := webPromise("web-attr")
	f.givenStrategy("attr", fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{
			ringWave("canary", time.Second, time.Minute),
			ringWave("general", 0, time.Minute, func(w *fleetv1alpha1.Wave) { w.Approval = fleetv1alpha1.ApprovalRequired }),
		},
		OnFailure: fleetv1alpha1.FailureRollback,
	})
	first := f.givenWebSite(w, "attr", "team-attr", members...)

	name := f.whenImageChanges(w, webV2)
	ro := f.thenRolloutAt(name, fleetv1alpha1.RolloutPhaseWaitingForApproval, "general", 2*time.Minute)
	target := ro.Spec.TargetRevision
	if ro.Spec.FromRevision != first {
		t.Fatalf("rollout %s moves from %s, want %s", name, ro.Spec.FromRevision, first)
	}

	// team-c exists on the hub only: its instance cannot apply anywhere.
	f.create(f.hub, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-c", Labels: map[string]string{tenantLabel: "true"}}})
	f.whenInstanceIsRequested(w.kind, "team-c", "ledger", map[string]any{
		fleetv1alpha1.InstancePlacementField: map[string]any{"names": toAny(members)},
	})

	ro = f.thenRollout(name, "both ledger failures reported as unattributed", 2*time.Minute, func(ro *fleetv1alpha1.Rollout) bool {
		if ro.Status.Phase.IsTerminal() || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack {
			t.Fatalf("rollout %s left its wave over a failure that is not its own: %s", name, describe(ro))
		}
		return ro.Status.UnattributedFailureCount == 2
	})
	revisions := map[string]string{}
	for _, fl := range ro.Status.UnattributedFailures {
		revisions[fl.Cluster] = fl.Revision
		if !strings.Contains(fl.Message, "team-c/ledger") {
			t.Errorf("unattributed failure on %s does not name the instance: %+v", fl.Cluster, fl)
		}
	}
	if want := map[string]string{"member-1": target, "member-2": first}; fmt.Sprint(revisions) != fmt.Sprint(want) {
		t.Errorf("unattributed failures by cluster and revision = %v, want %v (canary admitted, general not yet)", revisions, want)
	}
	if ro.Status.FailureCount != 0 || ro.Status.Counts.Failed != 0 || ro.Status.Phase != fleetv1alpha1.RolloutPhaseWaitingForApproval {
		t.Errorf("rollout %s counts a failure that is not its own: %s", name, describe(ro))
	}

	f.whenApproved(name, "general", "alice")
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	if ro.Status.FailureCount != 0 || ro.Status.Counts.Healthy != 2 || ro.Status.PercentOnTarget != 100 ||
		meta.IsStatusConditionTrue(ro.Status.Conditions, fleetv1alpha1.ConditionDegraded) {
		t.Errorf("rollout %s should succeed cleanly: %s", name, describe(ro))
	}
	// member-2's ledger Work was moved with its cluster and may not have
	// reported again when the rollout ended: at least the canary's is kept.
	if ro.Status.UnattributedFailureCount == 0 {
		t.Errorf("rollout %s ended without the ledger's unattributed failures: %s", name, describe(ro))
	}
	f.thenWebRuns("team-attr", "shop", webV2, time.Minute, members...)
	f.thenWorksRender(w, "team-attr", "shop", target, time.Minute, members...)
	if ws := f.workOf(w.promise, "team-c", "ledger", "member-2"); ws == nil || ws.Spec.Revision != target {
		t.Errorf("ledger's Work on member-2 should follow its cluster to %s: %+v", target, ws)
	}
	t.Logf("story done in %s", time.Since(start).Round(time.Millisecond))
}
