package agent

import (
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const driftSeries = "flotilla_agent_drift_corrections_total"

// driftCorrections reads the agent's drift correction counter.
func driftCorrections(t *testing.T, opts Options) float64 {
	t.Helper()
	return metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), driftSeries)
}

// editColor changes data.color of a ConfigMap on the member, as someone
// with kubectl would.
func (e *env) editColor(t *testing.T, ns, name, color string) {
	t.Helper()
	cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
	mustf(t, err, "reading configmap %s", name)
	cm.Data["color"] = color
	_, err = e.memberKube.CoreV1().ConfigMaps(ns).Update(e.ctx, cm, metav1.UpdateOptions{})
	mustf(t, err, "editing configmap %s", name)
}

// waitColor waits until the ConfigMap's data.color is color and the drift
// counter is want.
func (e *env) waitColor(t *testing.T, opts Options, ns, name, color string, want float64) {
	t.Helper()
	waitFor(t, 60*time.Second, "configmap "+name+" color "+color, func() (bool, string) {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		resp, err := http.Get("http://" + opts.MetricsAddr + "/metrics") //nolint:gosec,noctx // test URL on loopback
		if err != nil {
			return false, err.Error() // the agent is starting
		}
		_ = resp.Body.Close()
		n := driftCorrections(t, opts)
		return cm.Data["color"] == color && n == want, describeAny(map[string]any{"data": cm.Data, driftSeries: n})
	})
}

// A restarted agent applies every Work again. An object someone changed
// while it was away is changed back, and counted once; objects nobody
// touched are not counted.
func TestRestartCorrectsDrift(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-restart", "drift-restart-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns),
		configMapObj(ns, "settings", map[string]string{"color": "blue"}),
		configMapObj(ns, "other", map[string]string{"color": "grey"}))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	if n := driftCorrections(t, opts); n != 0 {
		t.Fatalf("%s = %v after the first apply, want 0", driftSeries, n)
	}

	first.stop(t)
	e.editColor(t, ns, "settings", "red")
	e.startAgent(t, hubCreds, opts) // same state directory
	e.waitColor(t, opts, ns, "settings", "blue", 1)
	e.waitWorkReady(t, cluster, "web", 30*time.Second)
	if n := driftCorrections(t, opts); n != 1 {
		t.Errorf("%s = %v once the Work is Ready again, want 1", driftSeries, n)
	}
}

// While a Work's last apply failed, the agent retries it with the same
// spec: an object it had applied and someone changed since is changed back
// and counted; an object it creates is not a correction.
func TestRetryCorrectsDrift(t *testing.T) {
	e := newEnv(t)
	const cluster, ns, missing = "drift-retry", "drift-retry-app", "drift-retry-later"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)

	// "late" goes into a namespace the Work does not create: it fails until
	// someone creates it, and the agent retries the Work meanwhile.
	w := work(cluster, "web", namespaceObj(ns),
		configMapObj(ns, "settings", map[string]string{"color": "blue"}),
		configMapObj(missing, "late", map[string]string{"color": "green"}))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	waitFor(t, 30*time.Second, "settings applied, late failed", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultApplied) != nil &&
			findResource(got, "ConfigMap", "late", fleetv1alpha1.ApplyResultFailed) != nil, describeStatus(got)
	})

	e.editColor(t, ns, "settings", "red")
	e.waitColor(t, opts, ns, "settings", "blue", 1)

	_, err := e.memberKube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: missing}}, metav1.CreateOptions{})
	mustf(t, err, "creating namespace %s", missing)
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	if n := driftCorrections(t, opts); n != 1 {
		t.Errorf("%s = %v once every object is applied, want 1", driftSeries, n)
	}
}
