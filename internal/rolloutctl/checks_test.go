package rolloutctl

import (
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestRerunAndSkipCheck(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})
	start := time.Now()
	st := threeWaves(fleetv1alpha1.RolloutPhaseBaking, "canary")
	st.Waves[0].Checks = []fleetv1alpha1.WaveCheckStatus{{Name: "errors", Verdict: fleetv1alpha1.CheckInconclusive}}
	givenRollout(t, ctx, admin, "checks", st)

	wantErr(t, func() error { _, err := c.RerunCheck(ctx, ns, "checks", CheckOptions{Check: "latency"}); return err }(),
		`wave canary of rollout checks has no check "latency"; its checks are: errors`)
	wantErr(t, func() error { _, err := c.SkipCheck(ctx, ns, "checks", CheckOptions{Check: "errors"}); return err }(), "needs a reason")

	res, err := c.RerunCheck(ctx, ns, "checks", CheckOptions{Check: "errors", Message: "prometheus is back"})
	if err != nil || !res.Changed || !strings.Contains(res.Summary, "check errors of wave canary of rollout checks re-run by admin") {
		t.Fatalf("re-run: %+v, %v", res, err)
	}
	r := get(t, ctx, admin, "checks")
	if len(r.Spec.CheckActions) != 1 || r.Spec.CheckActions[0].Action != fleetv1alpha1.CheckRerun || r.Spec.CheckActions[0].Wave != "canary" {
		t.Fatalf("checkActions %+v", r.Spec.CheckActions)
	}
	recentRecord(t, r.Spec.CheckActions[0].ChangeRecord, start, "prometheus is back")

	// A wave that is over keeps its checks' verdicts: the hub would not
	// apply a re-run there (TestARerunDoesNotEraseTheFailuresOfAWaveThatIsOver).
	over := threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "prod")
	over.Waves[0].Phase = fleetv1alpha1.WavePhaseSucceededWithFailures
	over.Waves[0].Checks = []fleetv1alpha1.WaveCheckStatus{{Name: "errors", Verdict: fleetv1alpha1.CheckFailed}}
	givenRollout(t, ctx, admin, "checks-over", over)
	wantErr(t, func() error {
		_, err := c.RerunCheck(ctx, ns, "checks-over", CheckOptions{Check: "errors", Wave: "canary"})
		return err
	}(), "wave canary of rollout checks-over is over (SucceededWithFailures); its checks are not measured again, and their verdicts stand")
	wantErr(t, func() error {
		_, err := c.SkipCheck(ctx, ns, "checks-over", CheckOptions{Check: "errors", Wave: "canary", Message: "noisy"})
		return err
	}(), "wave canary of rollout checks-over is over (SucceededWithFailures); its checks are not measured again, and their verdicts stand")
	baking := threeWaves(fleetv1alpha1.RolloutPhaseBaking, "canary")
	baking.Waves[0].Phase = fleetv1alpha1.WavePhaseBaking
	baking.Waves[0].Checks = []fleetv1alpha1.WaveCheckStatus{{Name: "errors", When: fleetv1alpha1.CheckDuringProgress, Verdict: fleetv1alpha1.CheckFailed}}
	givenRollout(t, ctx, admin, "checks-baking", baking)
	wantErr(t, func() error {
		_, err := c.RerunCheck(ctx, ns, "checks-baking", CheckOptions{Check: "errors"})
		return err
	}(), "check errors of wave canary runs while clusters progress, and the wave bakes")

	// Another re-run replaces the record; a skip is added next to it, once.
	if _, err := c.RerunCheck(ctx, ns, "checks", CheckOptions{Check: "errors", Wave: "canary", Message: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SkipCheck(ctx, ns, "checks", CheckOptions{Check: "errors", Message: "dashboards checked by hand"}); err != nil {
		t.Fatal(err)
	}
	res, err = c.SkipCheck(ctx, ns, "checks", CheckOptions{Check: "errors", Message: "twice"})
	if err != nil || res.Changed || !strings.Contains(res.Summary, "already skipped") {
		t.Fatalf("second skip: %+v, %v", res, err)
	}
	r = get(t, ctx, admin, "checks")
	if len(r.Spec.CheckActions) != 2 || r.Spec.CheckActions[0].Message != "again" || r.Spec.CheckActions[1].Action != fleetv1alpha1.CheckSkip {
		t.Fatalf("checkActions %+v", r.Spec.CheckActions)
	}
}
