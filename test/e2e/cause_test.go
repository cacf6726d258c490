package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/sim"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// causeDeadline is the pilot wave's progress deadline in the cause stories:
// long, so that a cause seen within causeWithin is seen long before it.
const (
	causeDeadline = 5 * time.Minute
	causeWithin   = 30 * time.Second
)

// The cause travels: when a release fails on a member, the reason the member
// gives (the kubelet's ImagePullBackOff or CrashLoopBackOff, the
// scheduler's Unschedulable) reaches the Rollout's failed clusters, its
// Events and `flotilla rollout status` within seconds, long before the
// progress deadline. One member (the pilot wave) and one Promise per story.
func TestCausesTravel(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	start := time.Now()
	cli := startBuildingFlotilla(t)
	f := givenPilotFleet(t)
	flotilla := cli()
	t.Logf("fleet and CLI ready in %s", time.Since(start).Round(time.Millisecond))

	for _, story := range []struct {
		name, key string
		image     string
		tweak     func(*fleetv1alpha1.Promise)
		reason    string
		message   []string // what the failure's message says
	}{
		{name: "a bad image shows ImagePullBackOff", key: "image", image: testenv.FailingImagePrefix + "web:2.1",
			reason: "ImagePullBackOff", message: []string{"container web", `Back-off pulling image "fail.invalid/web:2.1"`}},
		{name: "a crashing image shows CrashLoopBackOff", key: "crash", image: testenv.CrashingImagePrefix + "web:2.2",
			reason: "CrashLoopBackOff", message: []string{"container web", "back-off", "exit code 1"}},
		{name: "an unschedulable pod shows the scheduler's reason", key: "sched", image: webV2,
			tweak: func(p *fleetv1alpha1.Promise) {
				p.Spec.Templates.GoTemplates[0].Template = sim.WebTemplate(webV2) +
					"      nodeSelector:\n        e2e.flotilla.dev/nowhere: \"true\"\n"
			},
			reason: "Unschedulable", message: []string{"nodes are available", "didn't match Pod's node affinity/selector"}},
	} {
		began := time.Now()
		t.Run(story.name, func(t *testing.T) {
			f := f.in(t)
			w, ns := webPromise("web-cause-"+story.key), "team-cause-"+story.key
			f.givenStrategy("cause-"+story.key, fleetv1alpha1.RolloutStrategySpec{
				Waves:     []fleetv1alpha1.Wave{ringWave("pilot", 0, causeDeadline)},
				OnFailure: fleetv1alpha1.FailureHalt,
			})
			f.givenWebSite(w, "cause-"+story.key, ns, "member-1")

			// When the release fails on the pilot…
			var more []func(*fleetv1alpha1.Promise)
			if story.tweak != nil {
				more = append(more, story.tweak)
			}
			name := f.whenImageChanges(w, story.image, more...)
			changed := time.Now()

			// …the Rollout names the member's reason within seconds.
			ro := f.thenRollout(name, "a failure for "+story.reason, causeWithin, func(ro *fleetv1alpha1.Rollout) bool {
				return len(ro.Status.Failures) > 0 && ro.Status.Failures[0].Reason == story.reason
			})
			seen := time.Since(changed)
			t.Logf("%s seen in the Rollout %s after the change", story.reason, seen.Round(time.Millisecond))
			fl := ro.Status.Failures[0]
			if fl.Cluster != "member-1" || fl.Wave != "pilot" {
				t.Errorf("failure %+v, want member-1 in wave pilot", fl)
			}
			for _, want := range story.message {
				if !strings.Contains(fl.Message, want) {
					t.Errorf("failure message %q does not say %q", fl.Message, want)
				}
			}
			if !strings.Contains(fl.Message, ns+"/shop") {
				t.Errorf("failure message %q does not name the instance %s/shop", fl.Message, ns)
			}
			if seen >= causeDeadline {
				t.Errorf("seen after %s, not before the progress deadline %s", seen, causeDeadline)
			}

			// The Work says it per resource, with the Pod and container.
			work := f.workOf(w.promise, ns, "shop", "member-1")
			if work == nil || len(work.Status.Resources) == 0 || work.Status.Resources[0].Cause == nil {
				t.Fatalf("no cause on the Work's resource: %+v", work)
			}
			c := work.Status.Resources[0].Cause
			if c.Reason != story.reason || c.Severity != fleetv1alpha1.CauseFailing || !strings.HasPrefix(c.Object, "Pod shop-") {
				t.Errorf("resource cause %+v", c)
			}
			if story.reason != "Unschedulable" && c.Container != "web" {
				t.Errorf("resource cause names container %q, want web", c.Container)
			}

			// An Event on the Rollout says it too…
			f.thenRolloutEvent(name, "Warning", "ClusterFailed")
			events := strings.Join(f.rolloutEvents(name), "\n")
			if !strings.Contains(events, "cluster member-1 (wave pilot) failed: "+story.reason) {
				t.Errorf("events do not name the cause:\n%s", events)
			}

			// …and so does `flotilla rollout status`.
			out := runCLI(t, flotilla, f.env.Hub.KubeconfigPath, "rollout", "status", name, "-n", fleetv1alpha1.PlatformNamespace)
			t.Logf("flotilla rollout status %s:\n%s", name, out)
			if !strings.Contains(out, "member-1") || !strings.Contains(out, story.reason) || !strings.Contains(out, story.message[0]) {
				t.Errorf("`flotilla rollout status` does not show %s (%s):\n%s", story.reason, story.message[0], out)
			}
			if story.key == "image" {
				status := runCLI(t, flotilla, f.env.Hub.KubeconfigPath, "status")
				if !strings.Contains(status, story.reason) {
					t.Errorf("`flotilla status` does not show %s:\n%s", story.reason, status)
				}
			}
		})
		t.Logf("%s: %s", story.name, time.Since(began).Round(time.Millisecond))
	}
}

// givenPilotFleet starts a hub and one member, member-1, in ring pilot, and
// the Fleet of the rollout stories over it.
func givenPilotFleet(t *testing.T) *rolloutFleet {
	t.Helper()
	f := givenFleetWith(t, devenv.Options{
		Members:      1,
		MemberLabels: func(int) map[string]string { return map[string]string{"ring": "pilot"} },
	})
	f.thenClusterIs("member-1", fleetv1alpha1.ClusterAvailabilityAvailable, time.Minute)
	f.givenPlatformNamespace()
	f.create(f.hub, &fleetv1alpha1.Fleet{
		ObjectMeta: metav1.ObjectMeta{Name: rolloutFleetName},
		Spec: fleetv1alpha1.FleetSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "dev"}},
			Tenants: &fleetv1alpha1.Tenants{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{tenantLabel: "true"},
			}},
		},
	})
	return &rolloutFleet{fleet: f, works: startWorkLog(t, f)}
}

// startBuildingFlotilla builds the flotilla binary in the background, while
// the fleet starts; the function returned waits for it and returns its path.
func startBuildingFlotilla(t *testing.T) func() string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flotilla")
	done := make(chan error, 1)
	var out []byte
	go func() {
		var err error
		out, err = exec.Command("go", "build", "-o", bin, "github.com/flotilla-dev/flotilla/cmd/flotilla").CombinedOutput()
		done <- err
	}()
	return func() string {
		t.Helper()
		if err := <-done; err != nil {
			t.Fatalf("building flotilla: %v\n%s", err, out)
		}
		return bin
	}
}

// runCLI runs the flotilla binary against the hub and returns its output.
func runCLI(t *testing.T, bin, kubeconfig string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", kubeconfig)...).CombinedOutput()
	if err != nil {
		t.Fatalf("flotilla %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return fmt.Sprint(string(out))
}
