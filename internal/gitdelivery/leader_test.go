package gitdelivery_test

import (
	"context"
	"os"
	"testing"

	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/flotilla-dev/flotilla/internal/gitdelivery"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// recordingManager records what is added to it.
type recordingManager struct {
	manager.Manager
	added []manager.Runnable
}

func (m *recordingManager) Add(r manager.Runnable) error {
	m.added = append(m.added, r)
	return m.Manager.Add(r)
}

// With several hub replicas, only the leader writes: git delivery's
// controller, which pushes and writes the Clusters' and Works' status, waits
// for leadership. Its fallback directory of clones (no Options.Dir), made on
// every replica, is removed on every replica when it stops, a standby too.
func TestOnlyTheLeaderWrites(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	mgr, err := ctrl.NewManager(hubCP.RESTConfig, ctrl.Options{Scheme: kube.NewScheme(),
		LeaderElection: true, LeaderElectionID: "gitdelivery-test", LeaderElectionNamespace: "default",
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingManager{Manager: mgr}
	if err := gitdelivery.SetupWithManager(rec, gitdelivery.Options{}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
		t.Fatalf("clones' directories made: %v, want one", entries)
	}
	controllers := 0
	for _, r := range rec.added {
		le, ok := r.(manager.LeaderElectionRunnable)
		leaderOnly := !ok || le.NeedLeaderElection() // controller-runtime's default: needs it
		if _, isController := r.(controller.Controller); isController {
			controllers++
			if !leaderOnly {
				t.Errorf("controller %T runs on a standby: two replicas would push and write status", r)
			}
			continue
		}
		if leaderOnly {
			t.Errorf("%T waits for leadership: a standby would never remove its clones' directory", r)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if controllers != 1 {
		t.Errorf("%d controllers added, want 1", controllers)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("after a stop the clones' directory is left: %v", entries)
	}
}
