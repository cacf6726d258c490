package rolloutctl

import (
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// The annotation fleet.flotilla.dev/change-generation orders a subject's
// Rollouts created within the same second (rollout.Newest): which one
// governs the Works, which is superseded, and whether a hub-started Rollout
// reverts an earlier one, which decides the revisions a team's rollback may
// return to (rollout.RanInFull). A team that may patch its Rollouts wrote
// it: giving the change it reverted within the same second a higher
// generation made the revert's fromRevision, the change only the canary
// ran, count as run in full. Only the hub writes it.
func TestOnlyTheHubWritesTheChangeGeneration(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	creator, hubClient := creatorAndHub(t, ctx)
	teamRollout(t, ctx, "cg-hub", func(r *fleetv1alpha1.Rollout) {
		r.Annotations[rollout.AnnotationChangeGeneration] = "2"
	})
	teamRollout(t, ctx, "cg-none")
	waitPolicy(t, ctx, team, "cg-hub")

	newRollout := func(name, gen string) *fleetv1alpha1.Rollout {
		if gen == "" {
			return handRollout(t, name, nil)
		}
		return handRollout(t, name, map[string]string{rollout.AnnotationChangeGeneration: gen})
	}
	const want = "change-generation is written by the hub only"
	gen := `{"metadata":{"annotations":{"` + rollout.AnnotationChangeGeneration + `":`
	wantRefused(t, "team raises the generation of the hub's Rollout", patch(ctx, team, "cg-hub", gen+`"999999"}}}`), want)
	wantRefused(t, "team drops it", patch(ctx, team, "cg-hub", gen+`null}}}`), want)
	wantRefused(t, "team adds one to a Rollout without", patch(ctx, team, "cg-none", gen+`"7"}}}`), want)
	wantRefused(t, "the platform rewrites it", patch(ctx, platform, "cg-hub", gen+`"999999"}}}`), want)
	wantRefused(t, "team creates a Rollout with one", creator.Create(ctx, newRollout("cg-created", "999999")), want)
	wantAccepted(t, "team creates a Rollout without", creator.Create(ctx, newRollout("cg-plain", "")))
	wantAccepted(t, "the hub creates one with it", hubClient.Create(ctx, newRollout("cg-by-hub", "3")))
	wantAccepted(t, "team's other metadata", patch(ctx, team, "cg-hub", `{"metadata":{"labels":{"seen":"yes"}}}`))
}
