package rolloutctl

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The how-to gives a team patch on its Rollouts but not delete: a Rollout
// is the record of a change (who approved, paused, rolled back; its
// verdict). A team replacing the Rollout's owner reference (its instance)
// with one to an object that does not exist had the hub's garbage
// collector delete it, and with it that record. Owners are set when the
// hub creates a Rollout and never added or changed later; anyone may drop
// one (the garbage collector drops dangling ones).
func TestATeamCannotGiveItsRolloutAnOwnerToBeCollected(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	owner := metav1.OwnerReference{APIVersion: "platform.example.com/v1", Kind: "App", Name: "db", UID: "6f9c3b0e-8d1a-4a63-9a57-3f7c1c2d4e5f"}
	teamRollout(t, ctx, "own-1", func(r *fleetv1alpha1.Rollout) { r.OwnerReferences = []metav1.OwnerReference{owner} })
	teamRollout(t, ctx, "own-2", func(r *fleetv1alpha1.Rollout) { r.OwnerReferences = []metav1.OwnerReference{owner} })
	waitPolicy(t, ctx, team, "own-1")

	const want = "owner references are the hub's"
	dangling := `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-000000000001"}]}}`
	wantRefused(t, "team replaces the owner with a dangling one", patch(ctx, team, "own-1", dangling), want)
	wantRefused(t, "the platform does the same", patch(ctx, platform, "own-1", dangling), want)
	both := `{"metadata":{"ownerReferences":[{"apiVersion":"platform.example.com/v1","kind":"App","name":"db","uid":"` + string(owner.UID) +
		`"},{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-000000000001"}]}}`
	wantRefused(t, "team adds a second owner", patch(ctx, team, "own-1", both), want)
	wantAccepted(t, "team's other metadata", patch(ctx, team, "own-1", `{"metadata":{"labels":{"seen":"yes"}}}`))
	wantAccepted(t, "an owner dropped (as the garbage collector drops a dangling one)", patch(ctx, team, "own-2", `{"metadata":{"ownerReferences":null}}`))
}
