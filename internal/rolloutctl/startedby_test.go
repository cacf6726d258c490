package rolloutctl

import (
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The annotation fleet.flotilla.dev/started-by is the actor of a Rollout's
// first history entry ("started … by"). A team member who may create
// Rollouts must not name someone else (or the hub) there, and one who may
// only patch them must not rename who started the hub's.
func TestStartedByIsTheCreator(t *testing.T) {
	ctx := testContext(t)
	team, _, _, _ := actorsSetup(t, ctx)
	creator, hubClient := creatorAndHub(t, ctx)
	teamRollout(t, ctx, "started-by-hub", func(r *fleetv1alpha1.Rollout) {
		r.Annotations = map[string]string{fleetv1alpha1.AnnotationStartedBy: "hub"}
	})
	waitPolicy(t, ctx, team, "started-by-hub")

	newRollout := func(name, startedBy string) *fleetv1alpha1.Rollout {
		if startedBy == "" {
			return handRollout(t, name, nil)
		}
		return handRollout(t, name, map[string]string{fleetv1alpha1.AnnotationStartedBy: startedBy})
	}
	const want = "started-by names the requesting user when a Rollout is created"
	wantRefused(t, "team creates as the CTO", creator.Create(ctx, newRollout("sb-cto", cto)), want)
	wantRefused(t, "team creates as the hub", creator.Create(ctx, newRollout("sb-hub", "hub")), want)
	wantAccepted(t, "team creates as itself", creator.Create(ctx, newRollout("sb-alice", teamUser)))
	wantAccepted(t, "team creates without started-by", creator.Create(ctx, newRollout("sb-none", "")))
	wantAccepted(t, "the hub creates as the hub", hubClient.Create(ctx, newRollout("sb-by-hub", "hub")))

	started := `{"metadata":{"annotations":{"` + fleetv1alpha1.AnnotationStartedBy + `":`
	wantRefused(t, "team renames who started the hub's Rollout", patch(ctx, team, "started-by-hub", started+`"`+cto+`"}}}`), want)
	wantRefused(t, "team claims the hub's Rollout", patch(ctx, team, "started-by-hub", started+`"`+teamUser+`"}}}`), want)
	wantRefused(t, "team drops who started it", patch(ctx, team, "started-by-hub", started+`null}}}`), want)
	wantRefused(t, "team adds a starter to its own", patch(ctx, team, "sb-none", started+`"`+cto+`"}}}`), want)
	wantAccepted(t, "team's other metadata", patch(ctx, team, "started-by-hub", `{"metadata":{"labels":{"seen":"yes"}}}`))
}
