package agent

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

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
	e.editConfigMap(t, ns, name, func(cm *corev1.ConfigMap) { cm.Data["color"] = color })
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

// editDeployment changes Deployment "web" (deploymentObj) as kubectl edit
// does: an Update by field manager kubectl-edit, retried on conflicts with
// the controllers.
func (e *env) editDeployment(t *testing.T, ns string, change func(d *appsv1.Deployment)) {
	const name = "web"
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(d)
		_, err = e.memberKube.AppsV1().Deployments(ns).Update(e.ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
		return err
	})
	mustf(t, err, "editing deployment %s", name)
}

// startWithSettings joins cluster, starts its agent, and creates the Work
// "web" of namespace ns and ConfigMap settings (color blue), applied and
// Ready: the start of the stories about a team editing its objects.
func (e *env) startWithSettings(t *testing.T, cluster, ns string) (Options, *fleetv1alpha1.Work) {
	t.Helper()
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)
	w := work(cluster, "web", namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "blue"}))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	return opts, w
}

func (e *env) editConfigMap(t *testing.T, ns, name string, change func(cm *corev1.ConfigMap)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(cm)
		_, err = e.memberKube.CoreV1().ConfigMaps(ns).Update(e.ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
		return err
	})
	mustf(t, err, "editing configmap %s", name)
}

func driftedCondition(w *fleetv1alpha1.Work) *metav1.Condition {
	return meta.FindStatusCondition(w.Status.Conditions, fleetv1alpha1.ConditionDrifted)
}

// Under the Correct policy (the default) a resync finds replicas changed
// with kubectl edit, says what changed and who changed it, and changes it
// back. Fields Flotilla does not set (an annotation, minReadySeconds),
// defaulted fields and status are left as they are and are not drift.
func TestResyncCorrectsDrift(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-correct", "drift-correct-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns), deploymentObj(ns, 2))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	ready := e.waitWorkReady(t, cluster, "web", 90*time.Second)
	if c := driftedCondition(ready); c == nil || c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonNoDrift {
		t.Fatalf("Drifted condition of a fresh Work = %+v, want False/NoDrift", c)
	}

	// Out of band, but not drift: fields Flotilla does not own.
	e.editDeployment(t, ns, func(d *appsv1.Deployment) {
		d.Annotations = map[string]string{"team": "checkout"}
		d.Spec.MinReadySeconds = 5
	})
	edited := time.Now()
	e.editDeployment(t, ns, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })

	var got *fleetv1alpha1.Work
	waitFor(t, 3*opts.ResyncInterval+30*time.Second, "drift corrected", func() (bool, string) {
		d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got, err = e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		c := driftedCondition(got)
		return *d.Spec.Replicas == 2 && got.Status.Drift != nil && got.Status.Drift.Corrections == 1 &&
			c != nil && c.Reason == fleetv1alpha1.ReasonDriftCorrected, describeStatus(got)
	})
	t.Logf("drift corrected %s after the edit (resync interval %s)", time.Since(edited).Round(time.Second), opts.ResyncInterval)
	c := driftedCondition(got)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "Deployment.apps/"+ns+"/web: spec.replicas (by kubectl-edit)") {
		t.Errorf("Drifted condition = %+v, want False naming spec.replicas by kubectl-edit", c)
	}
	for _, notDrift := range []string{"minReadySeconds", "annotations", "status", "strategy", "progressDeadlineSeconds"} {
		if strings.Contains(c.Message, notDrift) {
			t.Errorf("Drifted condition names %s: %s", notDrift, c.Message)
		}
	}
	if got.Status.Drift.Unexplained != 0 || got.Status.Drift.LastCorrectionTime == nil {
		t.Errorf("drift summary = %+v, want no unexplained drift and a last correction time", got.Status.Drift)
	}
	d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading deployment")
	if d.Annotations["team"] != "checkout" || d.Spec.MinReadySeconds != 5 {
		t.Errorf("fields Flotilla does not own were changed: annotations %v, minReadySeconds %d", d.Annotations, d.Spec.MinReadySeconds)
	}
	if n := driftCorrections(t, opts); n != 1 {
		t.Errorf("%s = %v, want 1", driftSeries, n)
	}
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
}

// Under the Report policy drift is reported, per resource with its fields,
// who made it and since when, and left alone, also by a restarted agent; the
// fields an exception accepts on the same resource are reported apart.
// Replicas an autoscaler sets through the scale subresource, when the
// manifest leaves them out, are not drift.
func TestResyncReportsDrift(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-report", "drift-report-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	first := e.startAgent(t, hubCreds, opts)

	deploy := deploymentObj(ns, 1)
	delete(deploy["spec"].(map[string]any), "replicas")
	w := work(cluster, "web", namespaceObj(ns), deploy, configMapObj(ns, "settings", map[string]string{"color": "blue", "size": "s"}))
	w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyReport
	// An exception accepts one of the ConfigMap's keys, not the other.
	const exc = "drift-report/size"
	w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{
		Name:      exc,
		Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap", Name: "settings"}},
		Paths:     []string{"data.size"},
		ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
	}}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 90*time.Second)

	scale, err := e.memberKube.AppsV1().Deployments(ns).GetScale(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading scale")
	scale.Spec.Replicas = 3
	_, err = e.memberKube.AppsV1().Deployments(ns).UpdateScale(e.ctx, "web", scale, metav1.UpdateOptions{FieldManager: "horizontal-pod-autoscaler"})
	mustf(t, err, "scaling")
	e.editConfigMap(t, ns, "settings", func(cm *corev1.ConfigMap) { cm.Data["color"], cm.Data["size"] = "red", "xl" })

	reported := func(timeout time.Duration) *fleetv1alpha1.Work {
		var got *fleetv1alpha1.Work
		waitFor(t, timeout, "drift reported", func() (bool, string) {
			var err error
			got, err = e.getWork(t, cluster, "web")
			if err != nil {
				return false, err.Error()
			}
			c := driftedCondition(got)
			cm := findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultApplied)
			return c != nil && c.Status == metav1.ConditionTrue && c.Reason == fleetv1alpha1.ReasonDriftDetected &&
				cm != nil && cm.Drift != nil, describeStatus(got)
		})
		return got
	}
	got := reported(3*opts.ResyncInterval + 30*time.Second)
	cm := findResource(got, "ConfigMap", "settings", "")
	if cm.Drift.State != fleetv1alpha1.DriftUnexplained || !slices.Equal(cm.Drift.Fields, []string{"data.color"}) ||
		cm.Drift.By != "kubectl-edit" || cm.Drift.Since == nil ||
		!slices.Equal(cm.Drift.AcceptedFields, []string{"data.size"}) || cm.Drift.Exception != exc {
		t.Errorf("configmap drift = %+v, want Unexplained data.color by kubectl-edit with a since, and data.size accepted by %s", cm.Drift, exc)
	}
	if dep := findResource(got, "Deployment", "web", ""); dep == nil || dep.Drift != nil {
		t.Errorf("deployment resource = %+v, want no drift (replicas belong to the autoscaler)", dep)
	}
	if got.Status.Drift == nil || got.Status.Drift.Unexplained != 1 || got.Status.Drift.Corrections != 0 {
		t.Errorf("drift summary = %+v, want 1 unexplained, no corrections", got.Status.Drift)
	}
	since := cm.Drift.Since.DeepCopy()

	// A restarted agent applies its Works again, but not over Report drift.
	first.stop(t)
	restarted := time.Now()
	e.startAgent(t, hubCreds, opts)
	waitFor(t, 60*time.Second, "the restarted agent's first pass", func() (bool, string) {
		w, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return w.Status.LastAppliedTime != nil && !w.Status.LastAppliedTime.Time.Before(restarted.Truncate(time.Second)), describeStatus(w)
	})
	got = reported(30 * time.Second)
	if cm := findResource(got, "ConfigMap", "settings", ""); cm.Drift == nil || !cm.Drift.Since.Equal(since) ||
		!slices.Equal(cm.Drift.AcceptedFields, []string{"data.size"}) {
		t.Errorf("configmap drift after the restart = %+v, want the same since %v and data.size accepted", cm.Drift, since)
	}
	live, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	if live.Data["color"] != "red" || live.Data["size"] != "xl" {
		t.Errorf("data = %v, want color red and size xl: Report must not correct", live.Data)
	}
	d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
	mustf(t, err, "reading deployment")
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want the autoscaler's 3", *d.Spec.Replicas)
	}
	if n := driftCorrections(t, opts); n != 0 {
		t.Errorf("%s = %v, want 0 under Report", driftSeries, n)
	}
}

// fleet.flotilla.dev/reconcile: disabled on a live object stops managing it
// without deleting it: its drift is reported, never corrected, and it is
// not pruned when it leaves the Work.
func TestReconcileDisabledStopsManaging(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-unmanaged", "drift-unmanaged-app"
	opts, w := e.startWithSettings(t, cluster, ns)

	e.editConfigMap(t, ns, "settings", func(cm *corev1.ConfigMap) {
		cm.Annotations = map[string]string{fleetv1alpha1.AnnotationReconcile: fleetv1alpha1.ReconcileDisabled}
		cm.Data["color"] = "red"
	})
	waitFor(t, 3*opts.ResyncInterval+30*time.Second, "configmap skipped", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		// Its drift is reported, not corrected: whoever may write the
		// annotation may change the object too.
		r := findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultSkipped)
		c := driftedCondition(got)
		return r != nil && r.Drift != nil && slices.Equal(r.Drift.Fields, []string{"data.color"}) &&
			strings.Contains(r.Message, "on the live object") && c != nil && c.Status == metav1.ConditionTrue, describeStatus(got)
	})
	cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	if cm.Data["color"] != "red" || driftCorrections(t, opts) != 0 {
		t.Errorf("color %q, %s %v: an unmanaged object was corrected", cm.Data["color"], driftSeries, driftCorrections(t, opts))
	}

	// Leaving the Work, it stays (orphaned).
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { setManifests(w, namespaceObj(ns)) })
	waitFor(t, 60*time.Second, "configmap left in place", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		r := findResource(got, "ConfigMap", "settings", fleetv1alpha1.ApplyResultSkipped)
		return got.Status.ObservedGeneration == got.Generation && r != nil, describeStatus(got)
	})
	if _, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{}); err != nil {
		t.Errorf("unmanaged configmap after it left the Work: %v", err)
	}
}

// hubEvents returns "Type Reason: message" of the Events on a Work.
func (e *env) hubEvents(t *testing.T, cluster, work string) []string {
	t.Helper()
	list, err := e.hubKube.CoreV1().Events(fleetv1alpha1.ClusterNamespace(cluster)).List(e.ctx, metav1.ListOptions{})
	mustf(t, err, "listing events")
	var out []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Kind == "Work" && ev.InvolvedObject.Name == work {
			out = append(out, ev.Type+" "+ev.Reason+": "+ev.Message)
		}
	}
	return out
}

func hasEvent(events []string, prefix string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

// A DriftException in the Work accepts replicas changed with kubectl: the
// drift is reported Accepted, naming the exception, and left alone across
// resyncs and across a new Work generation (whose image change applies);
// once the exception expires it is corrected, with an Event.
func TestDriftExceptionAcceptsDrift(t *testing.T) {
	e := newEnv(t)
	const cluster, ns, exc = "drift-accepted", "drift-accepted-app", "team-a/scale-test"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web", namespaceObj(ns), deploymentObj(ns, 2))
	w.Spec.DriftExceptions = []fleetv1alpha1.WorkDriftException{{
		Name:      exc,
		Resources: []fleetv1alpha1.ResourceSelector{{Group: "apps", Kind: "Deployment", Name: "web"}},
		Paths:     []string{"spec.replicas"},
		ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
	}}
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 90*time.Second)

	e.editDeployment(t, ns, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	accepted := func(what string) *fleetv1alpha1.Work {
		var got *fleetv1alpha1.Work
		waitFor(t, 3*opts.ResyncInterval+30*time.Second, what, func() (bool, string) {
			var err error
			if got, err = e.getWork(t, cluster, "web"); err != nil {
				return false, err.Error()
			}
			dep := findResource(got, "Deployment", "web", fleetv1alpha1.ApplyResultApplied)
			c := driftedCondition(got)
			return got.Status.ObservedGeneration == got.Generation && dep != nil && dep.Drift != nil &&
				dep.Drift.State == fleetv1alpha1.DriftAccepted && c != nil && c.Reason == fleetv1alpha1.ReasonDriftAccepted, describeStatus(got)
		})
		return got
	}
	got := accepted("drift accepted")
	dep := findResource(got, "Deployment", "web", "")
	if dep.Drift.Exception != exc || !slices.Equal(dep.Drift.Fields, []string{"spec.replicas"}) || dep.Drift.By != "kubectl-edit" {
		t.Errorf("deployment drift = %+v, want spec.replicas by kubectl-edit accepted by %s", dep.Drift, exc)
	}
	if got.Status.Drift == nil || got.Status.Drift.Accepted != 1 || got.Status.Drift.Unexplained != 0 {
		t.Errorf("drift summary = %+v, want 1 accepted, 0 unexplained", got.Status.Drift)
	}
	replicas := func() int32 {
		d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
		mustf(t, err, "reading deployment")
		return *d.Spec.Replicas
	}
	// Left alone across resyncs: this asserts a state over time, so it polls
	// for two resync intervals.
	for end := time.Now().Add(2 * opts.ResyncInterval); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if n := replicas(); n != 5 {
			t.Fatalf("replicas = %d, want the accepted 5", n)
		}
	}

	// A new generation applies its change, not over the accepted drift.
	newImage := deploymentObj(ns, 2)
	newImage["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"] = []any{
		map[string]any{"name": "app", "image": "registry.example/web:2.0"}}
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) { setManifests(w, namespaceObj(ns), newImage) })
	waitFor(t, 60*time.Second, "image 2.0 applied", func() (bool, string) {
		d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Spec.Template.Spec.Containers[0].Image == "registry.example/web:2.0", d.Spec.Template.Spec.Containers[0].Image
	})
	got = accepted("drift still accepted after a new generation")
	if n := replicas(); n != 5 {
		t.Errorf("replicas = %d after a new generation, want the accepted 5", n)
	}
	if n := driftCorrections(t, opts); n != 0 {
		t.Errorf("%s = %v while the drift is accepted, want 0", driftSeries, n)
	}

	// The exception expires: the drift is unexplained now and corrected.
	e.updateWork(t, got, func(w *fleetv1alpha1.Work) {
		w.Spec.DriftExceptions[0].ExpiresAt = metav1.NewTime(time.Now().Add(2 * time.Second))
	})
	waitFor(t, 60*time.Second, "drift corrected after the exception expired", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		c := driftedCondition(got)
		return replicas() == 2 && driftCorrections(t, opts) == 1 && c != nil && c.Reason == fleetv1alpha1.ReasonDriftCorrected &&
			got.Status.Drift != nil && got.Status.Drift.Accepted == 0, describeStatus(got)
	})
	var events []string
	waitFor(t, 30*time.Second, "drift events", func() (bool, string) {
		events = e.hubEvents(t, cluster, "web")
		return hasEvent(events, "Normal DriftCorrected: corrected drift on Deployment.apps/"+ns+"/web: spec.replicas (by kubectl-edit)") &&
			hasEvent(events, "Normal DriftAccepted: drift on Deployment.apps/"+ns+"/web accepted by DriftException "+exc) &&
			hasEvent(events, "Normal DriftExceptionExpired: DriftException "+exc+" expired"), strings.Join(events, "\n")
	})
}
