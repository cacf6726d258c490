package rolloutctl

import (
	"testing"
)

// The attack: the platform's error-rate check fails a team's change on the
// canary (or is about to measure it), and a member of the team skips the
// check on its instance's Rollout (the per-team how-to's `patch`, `by`
// itself, with a reason): a skipped check counts neither for nor against
// the wave, so the clusters it failed recovered and the wave completed on
// a change the platform's measurement showed bad — the team removed a gate
// the platform set, which it may not do to the strategy's waves or
// approvals. A skip is the platform's (who may update RolloutStrategies);
// the team may still re-run a check (measure again), and a skip already
// given stays.
func TestOnlyThePlatformSkipsACheck(t *testing.T) {
	ctx := testContext(t)
	team, platform, _, _ := actorsSetup(t, ctx)
	teamRollout(t, ctx, "skipped")
	waitPolicy(t, ctx, team, "skipped")

	wantRefused(t, "team: skip", patch(ctx, team, "skipped",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Skip","by":"alice","message":"the dashboards look fine"}]}}`),
		"only the platform may skip a verification check")
	wantAccepted(t, "team: re-run", patch(ctx, team, "skipped",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"alice","message":"prometheus is back"}]}}`))
	wantAccepted(t, "platform: skip next to alice's re-run", patch(ctx, platform, "skipped",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"alice","message":"prometheus is back"},`+
			`{"wave":"canary","check":"latency","action":"Skip","by":"pat","message":"known slow during the migration"}]}}`))
	wantAccepted(t, "team: re-run next to pat's skip", patch(ctx, team, "skipped",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"alice","message":"prometheus is back"},`+
			`{"wave":"canary","check":"latency","action":"Skip","by":"pat","message":"known slow during the migration"},`+
			`{"wave":"general","check":"errors","action":"Rerun","by":"alice"}]}}`))
	wantRefused(t, "team: pat's skip moved to another wave", patch(ctx, team, "skipped",
		`{"spec":{"checkActions":[{"wave":"canary","check":"errors","action":"Rerun","by":"alice","message":"prometheus is back"},`+
			`{"wave":"general","check":"latency","action":"Skip","by":"pat","message":"known slow during the migration"}]}}`),
		"set by to alice")
}
