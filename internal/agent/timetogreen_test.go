package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// requestCounter counts the HTTP requests a client sends, by verb.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		verb := req.Method
		switch {
		case req.Method == http.MethodPatch && strings.Contains(req.URL.RawQuery, "dryRun="):
			verb = "PATCH (dry run)"
		case req.Method == http.MethodGet && strings.Contains(req.URL.RawQuery, "watch=true"):
			verb = "WATCH"
		}
		c.mu.Lock()
		c.counts[verb]++
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// take returns the counts so far and starts again from zero.
func (c *requestCounter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, total := c.counts, 0
	for _, n := range out {
		total += n
	}
	c.counts = map[string]int{}
	return out, total
}

func describeCounts(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// TestTimeToGreen measures how long the agent takes from the creation of 50
// Works of 10 objects each (a Namespace, a Deployment and 8 ConfigMaps: the
// footprint test's) to every object existing on the member, every Work
// reported Applied on the hub and every Work reported Ready; then how long
// one more Work takes to be reported Ready after its Deployment is
// Available; then the member requests of an idle resync. It counts the
// member and hub requests of each phase. The agent runs in the test process
// with the member client's production rate limits (the test control plane's
// own higher ones are taken off). It takes about two minutes, so it runs only
// when FLOTILLA_AGENT_BENCH is set; docs/benchmarks.md records the results.
func TestTimeToGreen(t *testing.T) {
	if os.Getenv("FLOTILLA_AGENT_BENCH") == "" {
		t.Skip("set FLOTILLA_AGENT_BENCH=1 to measure the agent's time to green")
	}
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e.ctx = ctx
	const cluster, works, perWork = "green", 50, 10
	hubCreds := e.join(t, cluster)

	memberRequests := &requestCounter{counts: map[string]int{}}
	hubRequests := &requestCounter{counts: map[string]int{}}
	memberCfg := rest.CopyConfig(e.member.RESTConfig)
	memberCfg.QPS, memberCfg.Burst = 0, 0 // the agent's own defaults, as a kubeconfig gives them
	memberCfg.Wrap(memberRequests.wrap)
	hubCreds.Wrap(hubRequests.wrap)

	opts := testOptions(t, cluster)
	// Production intervals for what would otherwise add requests of its own.
	opts.HeartbeatInterval, opts.HeartbeatGrace = time.Minute, 3*time.Minute
	resync := 20 * time.Second
	opts.ResyncInterval = resync
	agentDone := make(chan error, 1)
	agentCtx, stopAgent := context.WithCancel(ctx)
	go func() { agentDone <- Run(agentCtx, hubCreds, memberCfg, opts) }()
	defer func() {
		stopAgent()
		if err := <-agentDone; err != nil {
			t.Errorf("agent returned %v", err)
		}
	}()
	// Let the agent start (informer synced, first heartbeat) before the clock starts.
	waitFor(t, time.Minute, "agent connected", func() (bool, string) {
		resp, err := http.Get("http://" + opts.MetricsAddr + "/metrics") //nolint:gosec,noctx // test URL on loopback
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), "flotilla_agent_hub_connected") == 1, "not yet"
	})
	memberRequests.take()
	hubRequests.take()

	mc0 := e.memberClient(t)
	names := make([]string, works)
	start := time.Now()
	for i := range works {
		ns := fmt.Sprintf("green-%02d", i)
		objs := []any{namespaceObj(ns), deploymentObj(ns, 1)}
		for j := 0; len(objs) < perWork; j++ {
			objs = append(objs, configMapObj(ns, fmt.Sprintf("cm-%d", j), map[string]string{"key": strings.Repeat("v", 200)}))
		}
		names[i] = fmt.Sprintf("work-%02d", i)
		mustf(t, e.hubClient.Create(ctx, work(cluster, names[i], objs...)), "creating work")
	}
	created := time.Since(start)

	var onMember, available, applied, ready time.Duration
	selector := client.HasLabels{fleetv1alpha1.LabelWork}
	for onMember == 0 || available == 0 || applied == 0 || ready == 0 {
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("not green after 5 minutes: on member %s, available %s, applied %s, ready %s", onMember, available, applied, ready)
		}
		if onMember == 0 || available == 0 {
			var cms corev1.ConfigMapList
			var deps appsv1.DeploymentList
			mustf(t, mc0.List(ctx, &cms, selector), "listing configmaps")
			mustf(t, mc0.List(ctx, &deps, selector), "listing deployments")
			nCM, nDep, nAvailable := 0, 0, 0
			for _, c := range cms.Items {
				if strings.HasPrefix(c.Namespace, "green-") {
					nCM++
				}
			}
			for _, d := range deps.Items {
				if !strings.HasPrefix(d.Namespace, "green-") {
					continue
				}
				nDep++
				if deploymentAvailable(&d) {
					nAvailable++
				}
			}
			if onMember == 0 && nCM == works*(perWork-2) && nDep == works {
				onMember = time.Since(start)
			}
			if available == 0 && nAvailable == works {
				available = time.Since(start)
			}
		}
		var list fleetv1alpha1.WorkList
		mustf(t, e.hubClient.List(ctx, &list, client.InNamespace(fleetv1alpha1.ClusterNamespace(cluster))), "listing works")
		nApplied, nReady := 0, 0
		for _, w := range list.Items {
			if w.Status.ObservedGeneration != w.Generation || w.Status.AppliedRevision != "rev-1" {
				continue
			}
			if conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionApplied) {
				nApplied++
			}
			if conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady) {
				nReady++
			}
		}
		if applied == 0 && nApplied == works {
			applied = time.Since(start)
		}
		if ready == 0 && nReady == works {
			ready = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mc, mTotal := memberRequests.take()
	hc, hTotal := hubRequests.take()
	t.Logf("%d works × %d objects (created in %s): all objects on the member %s, all Deployments available %s, all Applied on the hub %s, all Ready %s",
		works, perWork, created.Round(10*time.Millisecond), onMember.Round(100*time.Millisecond), available.Round(100*time.Millisecond),
		applied.Round(100*time.Millisecond), ready.Round(100*time.Millisecond))
	t.Logf("  member requests until Ready: %d (%.1f per object): %s", mTotal, float64(mTotal)/(works*perWork), describeCounts(mc))
	t.Logf("  hub requests until Ready: %d: %s", hTotal, describeCounts(hc))

	// One more Work: from its Deployment Available on the member to Ready on the hub.
	const one = "green-one"
	start = time.Now()
	mustf(t, e.hubClient.Create(ctx, work(cluster, "work-one", namespaceObj(one), deploymentObj(one, 1))), "creating work")
	var oneAvailable, oneReady time.Duration
	for oneAvailable == 0 || oneReady == 0 {
		if time.Since(start) > time.Minute {
			t.Fatalf("one work not ready after a minute: available %s, ready %s", oneAvailable, oneReady)
		}
		if oneAvailable == 0 {
			var d appsv1.Deployment
			if err := mc0.Get(ctx, client.ObjectKey{Namespace: one, Name: "web"}, &d); err == nil && deploymentAvailable(&d) {
				oneAvailable = time.Since(start)
			}
		}
		if oneReady == 0 {
			if w, err := e.getWork(t, cluster, "work-one"); err == nil && w.Status.ObservedGeneration == w.Generation &&
				conditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady) {
				oneReady = time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("one work: Deployment Available on the member %s, Ready on the hub %s (%s after)",
		oneAvailable.Round(10*time.Millisecond), oneReady.Round(10*time.Millisecond), (oneReady - oneAvailable).Round(10*time.Millisecond))

	// Idle: let the re-checks of convergence pass, then count a window of resyncs.
	time.Sleep(resync + 5*time.Second)
	memberRequests.take()
	hubRequests.take()
	window := 3 * resync
	time.Sleep(window)
	mc, mTotal = memberRequests.take()
	hc, hTotal = hubRequests.take()
	resyncs := window.Seconds() / resync.Seconds()
	t.Logf("idle over %s (resync every %s, %d objects): member requests %d (%.2f per object per resync): %s; hub requests %d: %s",
		window, resync, works*perWork+2, mTotal, float64(mTotal)/resyncs/float64(works*perWork+2), describeCounts(mc), hTotal, describeCounts(hc))
}

// deploymentAvailable: the Deployment's controller has seen its spec and
// says it is available, as kstatus would judge it Current.
func deploymentAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration != d.Generation || d.Spec.Replicas == nil ||
		d.Status.UpdatedReplicas != *d.Spec.Replicas || d.Status.AvailableReplicas != *d.Spec.Replicas {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// memberClient is a controller-runtime client of the member, as the admin.
func (e *env) memberClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(e.member.RESTConfig, client.Options{})
	mustf(t, err, "member client")
	return c
}
