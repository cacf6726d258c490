package agent

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Drift a DriftException accepts outlives neither the exception nor an
// agent restart while the hub is down: the restarted agent, working from
// its local record, leaves the accepted drift alone until expiresAt, then
// corrects it by its own clock, hub or no hub.
func TestAcceptedDriftExpiresOfflineAcrossARestart(t *testing.T) {
	e := newEnv(t)
	const cluster, ns, exc = "drift-offline-expiry", "drift-offline-expiry-app", "team-a/sale"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	expires := time.Now().Add(40 * time.Second).Truncate(time.Second)
	w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "blue"}))
	w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{Name: exc,
		Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "settings"}},
		Paths:     []string{"data.color"}, ExpiresAt: metav1.NewTime(expires)}}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	e.editColor(t, ns, "settings", "red")
	waitFor(t, 30*time.Second, "drift accepted", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "ConfigMap", "settings", "")
		return r != nil && r.Drift != nil && r.Drift.State == fleetv1alpha1.DriftAccepted, describeStatus(got)
	})
	first.stop(t)

	e.hub.StopAPIServer()
	hubRestarted := false
	t.Cleanup(func() {
		if !hubRestarted {
			mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
		}
	})
	e.startAgent(t, hubCreds, opts)
	color := func() string {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		mustf(t, err, "reading configmap")
		return cm.Data["color"]
	}
	// Until expiry the accepted drift stays, restart or not.
	for time.Now().Before(expires.Add(-3 * time.Second)) {
		if c := color(); c != "red" {
			t.Fatalf("color %q before the exception expired, want the accepted red", c)
		}
		time.Sleep(time.Second)
	}
	waitFor(t, 20*time.Second, "drift corrected at expiry while the hub is down", func() (bool, string) {
		c := color()
		return c == "blue", c
	})
	mustf(t, e.hub.StartAPIServer(e.ctx), "restarting the hub's API server")
	hubRestarted = true
	waitFor(t, 45*time.Second, "the correction reported once the hub is back", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "ConfigMap", "settings", "")
		c := driftedCondition(got)
		return r != nil && r.Drift == nil && c != nil && c.Reason == fleetv1alpha1.ReasonDriftCorrected, describeStatus(got)
	})
}
