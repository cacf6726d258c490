package rollout_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack, on a real hub: the canary's agent, healthy on the new
// revision, stops renewing its Lease just past its grace once per bake and
// renews again soon after, well within the progress deadline. Each time
// away stopped the canary's bake and each return started it over, so the
// Rollout (and every later wave) was held for as long as the agent kept it
// up, nothing failed. Going offline now counts as a relapse, and the fourth
// fails the canary as Flapping, saying it went offline.
func TestAnAgentGoingOfflinePerBakeHaltsTheRollout(t *testing.T) {
	const grace = 2 * time.Second
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{ClusterOfflineGrace: grace})
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), group: "offflap.example.com"}
	s.strategy("offflap", fleetv1alpha1.FailureHalt,
		wave("canary", func(w *fleetv1alpha1.Wave) { w.BakeTime = &metav1.Duration{Duration: time.Hour} }), wave("general"))
	// The canary has an agent, which heartbeats; the others count online.
	s.Cluster("offflap-c1", map[string]string{"suite": "offflap", "ring": "canary"})
	agent := s.heartbeat("offflap-c1")
	s.waitAvailability("offflap-c1", fleetv1alpha1.ClusterAvailabilityAvailable)
	r1 := s.givenSiteOf("offflap", "offflap", template("1"))
	name, r2 := s.release("offflap", "2", r1)
	s.moves("offflap", r2, "offflap-c1")
	s.reportReady("offflap", "offflap-team", "offflap-c1")
	s.waitRollout(name, "baking the canary", phaseIs(fleetv1alpha1.RolloutPhaseBaking))

	for i := 1; i <= fleetv1alpha1.MaxRelapses+1; i++ {
		agent.pause()
		s.waitAvailability("offflap-c1", fleetv1alpha1.ClusterAvailabilityOffline)
		if i > fleetv1alpha1.MaxRelapses {
			break
		}
		ro := s.waitRollout(name, "seeing the canary away", func(ro *fleetv1alpha1.Rollout) bool {
			return ro.Status.Phase == fleetv1alpha1.RolloutPhaseProgressing && ro.Status.Waves[0].Relapses == string(rune('a'+i))
		})
		if len(ro.Status.Failures) != 0 {
			t.Fatalf("time away %d failed the canary already: %+v", i, ro.Status.Failures)
		}
		agent.resume()
		s.waitAvailability("offflap-c1", fleetv1alpha1.ClusterAvailabilityAvailable)
		s.waitRollout(name, "baking the canary again", phaseIs(fleetv1alpha1.RolloutPhaseBaking))
	}
	ro := s.waitRollout(name, "halted by the canary going away", phaseIs(fleetv1alpha1.RolloutPhaseHalted))
	if f := ro.Status.Failures; len(f) != 1 || f[0].Cluster != "offflap-c1" || f[0].Reason != fleetv1alpha1.ReasonFlapping ||
		!strings.Contains(f[0].Message, "the cluster is offline since") {
		t.Fatalf("failures %+v, want offflap-c1 Flapping, saying it is offline", f)
	}
	s.stays("offflap", r1, "offflap-g1", "offflap-g2")
}

// agentLease renews a cluster's agent Lease every 200ms while not paused,
// until the test ends.
type agentLease struct {
	mu     sync.Mutex
	paused bool
}

func (a *agentLease) pause()  { a.mu.Lock(); a.paused = true; a.mu.Unlock() }
func (a *agentLease) resume() { a.mu.Lock(); a.paused = false; a.mu.Unlock() }

func (a *agentLease) isPaused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.paused
}

// heartbeat starts renewing cluster's agent Lease, as its agent would.
func (s *story) heartbeat(cluster string) *agentLease {
	s.TB.Helper()
	a := &agentLease{}
	key := client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: fleetv1alpha1.AgentLease}
	renew := func() error {
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{}
		if err := s.C.Get(s.Ctx, key, lease); apierrors.IsNotFound(err) {
			holder, seconds := "agent", int32(3600)
			return s.C.Create(s.Ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, RenewTime: &now}})
		} else if err != nil {
			return err
		}
		lease.Spec.RenewTime = &now
		return s.C.Update(s.Ctx, lease)
	}
	if err := renew(); err != nil {
		s.TB.Fatal(err)
	}
	done := make(chan struct{})
	s.TB.Cleanup(func() { close(done) })
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if !a.isPaused() {
					_ = renew() // a conflict is retried at the next tick
				}
			}
		}
	}()
	return a
}

// waitAvailability waits until the hub judges cluster's availability want.
func (s *story) waitAvailability(cluster string, want fleetv1alpha1.ClusterAvailability) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, 30*time.Second, cluster+" "+string(want), func() (bool, string) {
		c := &fleetv1alpha1.Cluster{}
		if err := s.C.Get(s.Ctx, client.ObjectKey{Name: cluster}, c); err != nil {
			return false, err.Error()
		}
		return c.Status.Availability == want, string(c.Status.Availability)
	})
}
