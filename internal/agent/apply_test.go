package agent

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestAppliesWorkAndReportsHealthyDeployment(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "apply", "apply-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	// The release of the binary's pages runs in this test process: the
	// agent works on after it (the steady state and probes below).
	opts.ReleaseCodePagesEvery = 200 * time.Millisecond
	e.startAgent(t, hubCreds, opts)

	w := work(cluster, "web",
		deploymentObj(ns, 2), // listed first: the agent orders the Namespace before it
		configMapObj(ns, "settings", map[string]string{"color": "blue"}),
		namespaceObj(ns),
	)
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")

	got := e.waitWorkReady(t, cluster, "web", 90*time.Second)
	if got.Status.AppliedRevision != "rev-1" || got.Status.ObservedGeneration != got.Generation || got.Status.LastAppliedTime == nil {
		t.Errorf("status: %s", describeStatus(got))
	}
	deploy := findResource(got, "Deployment", "web", fleetv1alpha1.ApplyResultApplied)
	if deploy == nil || deploy.Health != fleetv1alpha1.HealthCurrent || deploy.Group != "apps" || deploy.Namespace != ns {
		t.Errorf("deployment status %+v, want Applied and Current", deploy)
	}
	for _, c := range []string{fleetv1alpha1.ConditionApplied, fleetv1alpha1.ConditionHealthy} {
		if !conditionTrue(got.Status.Conditions, c) {
			t.Errorf("condition %s not True: %s", c, describeStatus(got))
		}
	}
	for _, c := range got.Status.Conditions {
		if c.Type == fleetv1alpha1.ConditionReconciling || c.Type == fleetv1alpha1.ConditionStalled {
			t.Errorf("unexpected condition %s on a ready Work", c.Type)
		}
	}

	// On the member: Flotilla's labels and field manager.
	cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	if cm.Labels[fleetv1alpha1.LabelWork] != "web" || cm.Labels[fleetv1alpha1.LabelManagedBy] != fleetv1alpha1.ManagedByValue {
		t.Errorf("configmap labels %v", cm.Labels)
	}
	if len(cm.ManagedFields) == 0 || cm.ManagedFields[0].Manager != fleetv1alpha1.FieldManager || cm.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("configmap managed fields %+v, want an Apply by %s", cm.ManagedFields, fleetv1alpha1.FieldManager)
	}

	// A new revision: applied, appliedRevision and observedGeneration follow.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.Revision = "rev-2"
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "green"}), deploymentObj(ns, 2))
	})
	waitFor(t, 30*time.Second, "rev-2 applied", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		return got.Status.AppliedRevision == "rev-2" && got.Status.ObservedGeneration == got.Generation &&
			conditionTrue(got.Status.Conditions, fleetv1alpha1.ConditionReady), describeStatus(got)
	})
	cm, err = e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	if cm.Data["color"] != "green" {
		t.Errorf("configmap data %v, want color=green", cm.Data)
	}

	// Heartbeat: the Lease is renewed with the grace as its duration.
	waitFor(t, 10*time.Second, "lease renewed", func() (bool, string) {
		lease := &coordinationv1.Lease{}
		if err := e.hubClient.Get(e.ctx, types.NamespacedName{Namespace: w.Namespace, Name: fleetv1alpha1.AgentLease}, lease); err != nil {
			return false, err.Error()
		}
		ok := lease.Spec.RenewTime != nil && time.Since(lease.Spec.RenewTime.Time) < 5*time.Second &&
			lease.Spec.LeaseDurationSeconds != nil && *lease.Spec.LeaseDurationSeconds == 3 &&
			lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != ""
		return ok, lease.Spec.String()
	})
	// Cluster facts on the Lease, for the hub to copy into the Cluster status.
	waitFor(t, 10*time.Second, "cluster facts on the lease", func() (bool, string) {
		lease := &coordinationv1.Lease{}
		if err := e.hubClient.Get(e.ctx, types.NamespacedName{Namespace: w.Namespace, Name: fleetv1alpha1.AgentLease}, lease); err != nil {
			return false, err.Error()
		}
		a := lease.Annotations
		return strings.HasPrefix(a[fleetv1alpha1.AnnotationKubernetesVersion], "v1.") && a[fleetv1alpha1.AnnotationNodeCount] == "3" &&
			a[fleetv1alpha1.AnnotationAgentVersion] == "v0.0.0-test" &&
			a[fleetv1alpha1.AnnotationAgentMode] == fleetv1alpha1.AgentModeApply, fmt.Sprint(a)
	})

	// Metrics and probes.
	body := httpGet(t, "http://"+opts.MetricsAddr+"/metrics")
	for _, want := range []string{
		"flotilla_agent_works_managed 1",
		"flotilla_agent_hub_connected 1",
		`flotilla_agent_applies_total{result="applied"}`,
		"flotilla_agent_last_successful_sync_timestamp_seconds",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if v := metricValue(t, body, `flotilla_agent_code_page_releases_total{result="released"}`); v < 1 {
		t.Errorf("the binary's pages were released %v times, want at least once", v)
	}
	// Steady state: re-checks (every ResyncInterval, 5s here) write no status.
	writes := metricValue(t, body, `flotilla_agent_status_writes_total{result="success"}`)
	time.Sleep(opts.ResyncInterval + time.Second)
	if again := metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), `flotilla_agent_status_writes_total{result="success"}`); again != writes {
		t.Errorf("status written %v times at steady state", again-writes)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := httpGet(t, "http://"+opts.ProbeAddr+path); got != "ok" {
			t.Errorf("%s = %q", path, got)
		}
	}
}

// The agent's credentials see nothing of other clusters: the isolation the
// RBAC of `flotilla join` promises, checked against the real API server.
// Two agents run in this one process, sharing a state directory, as in
// `flotilla dev up`.
func TestAgentCredentialsAreScopedToTheirCluster(t *testing.T) {
	e := newEnv(t)
	credsA := e.join(t, "iso-a")
	credsB := e.join(t, "iso-b")
	optsA, optsB := testOptions(t, "iso-a"), testOptions(t, "iso-b")
	optsB.StateDir = optsA.StateDir
	e.startAgent(t, credsA, optsA)
	e.startAgent(t, credsB, optsB)
	mustf(t, e.hubClient.Create(e.ctx, work("iso-a", "own-work", configMapObj("default", "iso-a", nil))), "creating work")
	mustf(t, e.hubClient.Create(e.ctx, work("iso-b", "secret-work", configMapObj("default", "iso-b", nil))), "creating work")
	e.waitWorkReady(t, "iso-a", "own-work", 30*time.Second)
	e.waitWorkReady(t, "iso-b", "secret-work", 30*time.Second)
	for _, o := range []Options{optsA, optsB} {
		if v := metricValue(t, httpGet(t, "http://"+o.MetricsAddr+"/metrics"), "flotilla_agent_works_managed"); v != 1 {
			t.Errorf("agent %s manages %v works, want 1", o.ClusterName, v)
		}
	}

	asA := kubernetes.NewForConfigOrDie(credsA)
	h, err := newHubClient(credsA, "iso-a")
	mustf(t, err, "creating hub client")
	checks := map[string]error{
		"get B's work":   h.fleet.Get().Namespace(fleetv1alpha1.ClusterNamespace("iso-b")).Resource("works").Name("secret-work").Do(e.ctx).Error(),
		"list B's works": h.fleet.Get().Namespace(fleetv1alpha1.ClusterNamespace("iso-b")).Resource("works").Do(e.ctx).Error(),
		"list all works": h.fleet.Get().Resource("works").Do(e.ctx).Error(),
		"list clusters":  h.fleet.Get().Resource("clusters").Do(e.ctx).Error(),
		"get cluster B":  h.fleet.Get().Resource("clusters").Name("iso-b").Do(e.ctx).Error(),
	}
	_, err = asA.CoordinationV1().Leases(fleetv1alpha1.ClusterNamespace("iso-b")).Get(e.ctx, fleetv1alpha1.AgentLease, metav1.GetOptions{})
	checks["get B's lease"] = err
	for what, err := range checks {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as agent A: got %v, want Forbidden", what, err)
		}
	}
	// And its own namespace works.
	if err := h.fleet.Get().Namespace(fleetv1alpha1.ClusterNamespace("iso-a")).Resource("works").Do(e.ctx).Error(); err != nil {
		t.Errorf("listing its own works: %v", err)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec,noctx // test URL on loopback
	mustf(t, err, "GET %s", url)
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	mustf(t, err, "reading %s", url)
	return string(data)
}

// metricValue reads one sample from a Prometheus text exposition.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			mustf(t, err, "parsing %s", line)
			return v
		}
	}
	t.Fatalf("metric %s not found", series)
	return 0
}
