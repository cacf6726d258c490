package rollout_test

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// A canary's agent reports its Work failed with a reason of the hub's own
// judgement and a message in the hub's words (AnalysisFailed, "check
// error-rate failed: 0.42 > 0.05"; or ClusterOffline, "offline for longer
// than the progress deadline"): the Rollout's failure, its Event, `flotilla
// rollout status` and the failures metric said the hub had measured the
// platform's check failing (or seen the cluster offline), a verdict nobody
// gave. An agent's cause is its own word: one of the hub's reasons counts
// as Unhealthy, the message saying what the agent reported.
func TestAnAgentCannotReportTheHubsReason(t *testing.T) {
	for _, reason := range []string{fleetv1alpha1.ReasonAnalysisFailed, fleetv1alpha1.ReasonClusterOffline,
		fleetv1alpha1.ReasonProgressDeadlineExceeded, fleetv1alpha1.ReasonFlapping} {
		t.Run(reason, func(t *testing.T) {
			f := newFixture(t, strategy(wave("canary", deadline(10*time.Minute)), wave("general", catchAll)),
				cluster("c-1", "ring", "canary"), cluster("g-1"))
			f.plan()
			f.at(time.Minute).update("c-1", func(o *rollout.ClusterObservation) {
				o.AppliedRevision, o.Health, o.HealthSince = target, rollout.HealthFailed, f.in.Now
				o.Reason, o.Message = reason, "check error-rate failed on cluster c-1: 0.42 > 0.05"
			})
			f.plan()
			f.wantPhase(fleetv1alpha1.RolloutPhaseHalted, "canary")
			fs := f.d.Status.Failures
			if len(fs) != 1 || fs[0].Reason != fleetv1alpha1.ReasonUnhealthy || !strings.HasPrefix(fs[0].Message, "its agent reports "+reason+": check error-rate") {
				t.Fatalf("failures %+v, want c-1 Unhealthy, naming what its agent reported", fs)
			}
		})
	}
}

// The causes an agent sees on its member keep their reason.
func TestAnAgentsCauseKeepsItsReason(t *testing.T) {
	f := newFixture(t, strategy(wave("canary", deadline(10*time.Minute)), wave("general", catchAll)),
		cluster("c-1", "ring", "canary"), cluster("g-1"))
	f.plan()
	f.at(time.Minute).update("c-1", func(o *rollout.ClusterObservation) {
		o.AppliedRevision, o.Health, o.HealthSince = target, rollout.HealthFailed, f.in.Now
		o.Reason, o.Message = "ImagePullBackOff", "Back-off pulling image"
	})
	f.plan()
	if fs := f.d.Status.Failures; len(fs) != 1 || fs[0].Reason != "ImagePullBackOff" || fs[0].Message != "Back-off pulling image" {
		t.Fatalf("failures %+v", fs)
	}
}
