package rollout_test

import (
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The platform skipping a check of a canary that had completed with one
// cluster failed by it (SucceededWithFailures): the skip made the check
// count for nothing, so the failure was gone: the canary read Succeeded and
// the Rollout ended "Succeeded, 0 failed". Like a re-run, a skip of a check
// of a wave that is over is not applied: the verdict stands.
func TestASkipDoesNotEraseTheFailuresOfAWaveThatIsOver(t *testing.T) {
	f := canaryOverWithACheckFailure(t, fleetv1alpha1.CheckSkip, "pat")
	if canary := f.wave("canary"); canary.Phase != fleetv1alpha1.WavePhaseSucceededWithFailures || canary.Checks[0].Verdict != fleetv1alpha1.CheckFailed ||
		canary.Checks[0].Skipped != nil {
		t.Errorf("canary %s, check %s (skipped %v): a skip after the wave erased its failure", canary.Phase, canary.Checks[0].Verdict, canary.Checks[0].Skipped)
	}
	wantStillFailedByItsCheck(t, f)
}
