package agent

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const statusWritesSeries = `flotilla_agent_status_writes_total{result="success"}`

// startSimAgent runs an agent whose member is an in-memory SimMember.
func startSimAgent(t *testing.T, hub *rest.Config, opts Options, member *SimMember) {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), zap.New(zap.UseDevMode(true), zap.WriteTo(w))))
	done := make(chan error, 1)
	go func() { done <- RunWithMember(ctx, hub, member, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("agent did not stop within 30s")
		}
	})
}

// A fresh apply whose workload is ready by the agent's first re-check is
// reported once, Ready, not InProgress and then Ready: at fleet scale the
// agents' status writes are a third of a rollout's load on the API server.
// A workload slower than that is still reported InProgress first.
func TestFreshApplyIsReportedOnceWhenReadyByTheFirstRecheck(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		latency time.Duration
		writes  float64 // status writes until Ready, per spec
	}{
		{"ready within the hold", 300 * time.Millisecond, 1},
		{"slower than the hold", 4 * time.Second, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := "hold-" + map[bool]string{true: "fast", false: "slow"}[tc.writes == 1]
			opts := testOptions(t, cluster)
			opts.ResyncInterval = time.Hour // no resync inside the test
			startSimAgent(t, e.join(t, cluster), opts, NewSimMember(SimMemberOptions{ApplyLatency: tc.latency}))

			w := work(cluster, "web", namespaceObj(cluster+"-app"), deploymentObj(cluster+"-app", 2))
			mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
			e.waitWorkReady(t, cluster, "web", 60*time.Second)
			// The agent counts a write once it returned, a moment after the
			// hub shows it: give the count that moment, then compare.
			writes := func(atLeast float64) float64 {
				var n float64
				for range 20 {
					if n = metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), statusWritesSeries); n >= atLeast {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				return n
			}
			if n := writes(tc.writes); n != tc.writes {
				t.Errorf("status writes until the first spec was Ready = %v, want %v", n, tc.writes)
			}

			// A new spec (a new image) is reported the same way.
			d := deploymentObj(cluster+"-app", 2)
			d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = "registry.example/web:2.0"
			e.updateWork(t, workRef(cluster, "web"), func(w *fleetv1alpha1.Work) {
				setManifests(w, namespaceObj(cluster+"-app"), d)
				w.Spec.Revision = "rev-2"
			})
			waitFor(t, 60*time.Second, "rev-2 ready", func() (bool, string) {
				w, err := e.getWork(t, cluster, "web")
				if err != nil {
					return false, err.Error()
				}
				return w.Status.AppliedRevision == "rev-2" && w.Status.ObservedGeneration == w.Generation &&
					conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady), describeStatus(w)
			})
			if n := writes(2 * tc.writes); n != 2*tc.writes {
				t.Errorf("status writes until the second spec was Ready = %v, want %v", n, 2*tc.writes)
			}
		})
	}
}
