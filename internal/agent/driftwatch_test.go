package agent

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestWantsCheck(t *testing.T) {
	at := func(sec int) *metav1.Time { return ptr.To(metav1.NewTime(time.Unix(int64(1_800_000_000+sec), 0))) }
	apply := func(manager string, sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, Time: at(sec)}
	}
	update := func(manager, subresource string, sec int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Subresource: subresource, Time: at(sec)}
	}
	tests := []struct {
		name    string
		event   watch.EventType
		entries []metav1.ManagedFieldsEntry
		want    bool
	}{
		{"the agent's own apply", watch.Modified, []metav1.ManagedFieldsEntry{update("kubectl-edit", "", 1), apply("flotilla", 2)}, false},
		{"an edit after the apply", watch.Modified, []metav1.ManagedFieldsEntry{apply("flotilla", 1), update("kubectl-edit", "", 2)}, true},
		{"kubectl scale", watch.Modified, []metav1.ManagedFieldsEntry{apply("flotilla", 1), update("kubectl", "scale", 2)}, true},
		{"a status update", watch.Modified, []metav1.ManagedFieldsEntry{apply("flotilla", 1), update("kube-controller-manager", "status", 2)}, false},
		{"an edit in the second of the apply", watch.Modified, []metav1.ManagedFieldsEntry{apply("flotilla", 2), update("kubectl-edit", "", 2)}, true},
		{"another manager's apply", watch.Modified, []metav1.ManagedFieldsEntry{apply("flotilla", 1), apply("argocd", 2)}, true},
		{"an update as flotilla is not the agent's", watch.Modified, []metav1.ManagedFieldsEntry{update("flotilla", "", 2)}, true},
		{"no managed fields", watch.Modified, nil, true},
		{"deleted", watch.Deleted, []metav1.ManagedFieldsEntry{apply("flotilla", 2)}, true},
		{"added", watch.Added, []metav1.ManagedFieldsEntry{update("kubectl-create", "", 2)}, false},
		{"bookmark", watch.Bookmark, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{ManagedFields: tt.entries}}
			if got := wantsCheck(tt.event, obj); got != tt.want {
				t.Errorf("wantsCheck = %v, want %v", got, tt.want)
			}
		})
	}
}

// agentMetric reads one series from a running agent's metrics.
func agentMetric(t *testing.T, opts Options, series string) float64 {
	t.Helper()
	return metricValue(t, httpGet(t, "http://"+opts.MetricsAddr+"/metrics"), series)
}

// With a resync interval of 10 minutes, drift is found through the drift
// watch within seconds: changed replicas are corrected, a deleted object is
// created again, and drift under Report is reported. The agent's own applies
// cause no further applies and no status writes, and a kind's watch stops
// when no Work holds that kind any more.
func TestDriftWatch(t *testing.T) {
	e := newEnv(t)
	const cluster, ns = "drift-watch", "drift-watch-app"
	hubCreds := e.join(t, cluster)
	opts := testOptions(t, cluster)
	opts.ResyncInterval = 10 * time.Minute
	e.startAgent(t, hubCreds, opts)
	const (
		watches  = "flotilla_agent_drift_watches"
		checks   = "flotilla_agent_drift_watch_checks_total"
		applied  = `flotilla_agent_applies_total{result="applied"}`
		writes   = `flotilla_agent_status_writes_total{result="success"}`
		fast     = 20 * time.Second // well under the resync interval
		quietFor = 3 * time.Second
	)

	w := work(cluster, "web", namespaceObj(ns), deploymentObj(ns, 2), configMapObj(ns, "settings", map[string]string{"color": "blue"}))
	mustf(t, e.hubClient.Create(e.ctx, w), "creating work")
	e.waitWorkReady(t, cluster, "web", 90*time.Second)
	waitFor(t, fast, "a watch per kind", func() (bool, string) {
		n := agentMetric(t, opts, watches)
		return n == 3, describeAny(map[string]any{watches: n})
	})

	// The agent's own apply of a new spec: no apply, no status write, no
	// check after it has settled.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		setManifests(w, namespaceObj(ns), deploymentObj(ns, 2), configMapObj(ns, "settings", map[string]string{"color": "green"}))
	})
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	// What the agent did so far: its counters and the Work's resourceVersion.
	snapshot := func() map[string]string {
		got, err := e.getWork(t, cluster, "web")
		mustf(t, err, "reading work")
		out := map[string]string{"work resourceVersion": got.ResourceVersion}
		for _, s := range []string{applied, writes, checks} {
			out[s] = fmt.Sprint(agentMetric(t, opts, s))
		}
		return out
	}
	waitFor(t, fast, "the agent settled", func() (bool, string) {
		before := snapshot()
		time.Sleep(quietFor) // a measurement window, not a wait for something
		after := snapshot()
		return maps.Equal(before, after), describeAny(map[string]any{"before": before, "after": after})
	})
	// Settled, it stays so: no apply → event → check cycle starts again.
	before := snapshot()
	time.Sleep(quietFor)
	if after := snapshot(); !maps.Equal(before, after) {
		t.Errorf("the agent acted while nobody changed anything: before %v, after %v", before, after)
	}

	// Replicas changed with kubectl edit: corrected within seconds.
	edited := time.Now()
	e.editDeployment(t, ns, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	waitFor(t, fast, "replicas corrected", func() (bool, string) {
		d, err := e.memberKube.AppsV1().Deployments(ns).Get(e.ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		c := driftedCondition(got)
		corrected := *d.Spec.Replicas == 2 && got.Status.Drift != nil && got.Status.Drift.Corrections == 1 &&
			c != nil && c.Reason == fleetv1alpha1.ReasonDriftCorrected && strings.Contains(c.Message, "spec.replicas (by kubectl-edit)")
		return corrected, describeStatus(got)
	})
	t.Logf("replicas corrected %s after the edit (resync interval %s)", time.Since(edited).Round(100*time.Millisecond), opts.ResyncInterval)

	// A deleted object: created again within seconds.
	deleted := time.Now()
	mustf(t, e.memberKube.CoreV1().ConfigMaps(ns).Delete(e.ctx, "settings", metav1.DeleteOptions{}), "deleting configmap")
	waitFor(t, fast, "configmap created again", func() (bool, string) {
		cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return cm.Data["color"] == "green", describeAny(cm.Data)
	})
	t.Logf("configmap created again %s after its deletion", time.Since(deleted).Round(100*time.Millisecond))
	// The agent counts a correction once its apply returned: a moment later.
	waitFor(t, fast, "two corrections counted", func() (bool, string) {
		n := driftCorrections(t, opts)
		return n == 2, fmt.Sprintf("%s = %v", driftSeries, n)
	})

	// Report, without the Deployment: drift reported within seconds, and the
	// Deployment's watch stops.
	e.updateWork(t, w, func(w *fleetv1alpha1.Work) {
		w.Spec.DriftPolicy = fleetv1alpha1.DriftPolicyReport
		setManifests(w, namespaceObj(ns), configMapObj(ns, "settings", map[string]string{"color": "green"}))
	})
	e.waitWorkReady(t, cluster, "web", 60*time.Second)
	waitFor(t, fast, "the deployments watch stopped", func() (bool, string) {
		n := agentMetric(t, opts, watches)
		return n == 2, describeAny(map[string]any{watches: n})
	})
	e.editConfigMap(t, ns, "settings", func(cm *corev1.ConfigMap) { cm.Data["color"] = "red" })
	waitFor(t, fast, "drift reported", func() (bool, string) {
		got, err := e.getWork(t, cluster, "web")
		if err != nil {
			return false, err.Error()
		}
		c := driftedCondition(got)
		return c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, "data.color (by kubectl-edit)"), describeStatus(got)
	})
	cm, err := e.memberKube.CoreV1().ConfigMaps(ns).Get(e.ctx, "settings", metav1.GetOptions{})
	mustf(t, err, "reading configmap")
	if cm.Data["color"] != "red" {
		t.Errorf("color = %q, want red: Report must not correct", cm.Data["color"])
	}

	// No Work left: no watch left.
	mustf(t, e.hubClient.Delete(e.ctx, w), "deleting work")
	waitFor(t, 60*time.Second, "every watch stopped", func() (bool, string) {
		n := agentMetric(t, opts, watches)
		return n == 0, describeAny(map[string]any{watches: n})
	})
}

// fakeWatcher is a metadataWatcher whose watches the test drives.
type fakeWatcher struct {
	versions chan string             // what currentVersion returns, in turn
	opened   chan *watch.FakeWatcher // each watch opened
	from     chan string             // the resourceVersion each watch starts from
}

func (f *fakeWatcher) resourceOf(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	return schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(gvk.Kind) + "s"}, nil
}

func (f *fakeWatcher) currentVersion(ctx context.Context, _ schema.GroupVersionResource, _ string) (string, error) {
	select {
	case v := <-f.versions:
		return v, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (f *fakeWatcher) watchMetadata(_ context.Context, _ schema.GroupVersionResource, _, rv string) (watch.Interface, error) {
	w := watch.NewFakeWithChanSize(10, false)
	f.from <- rv
	f.opened <- w
	return w, nil
}

// The watch loop without a member: events by others ask for a check of
// their Work, the agent's own do not; a closed watch resumes where it was;
// an expired one starts over at a current version and checks every Work
// holding the kind; a kind no Work holds any more is not watched.
func TestDriftWatchLoop(t *testing.T) {
	f := &fakeWatcher{versions: make(chan string, 2), opened: make(chan *watch.FakeWatcher, 4), from: make(chan string, 4)}
	checks := make(chan string, 10)
	d, err := newDriftWatch(f, func(work string, _ time.Duration) { checks <- work }, prometheus.NewRegistry())
	mustf(t, err, "creating drift watch")
	d.backoff = wait.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 1 << 30}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	noCheck := func() {
		t.Helper()
		select {
		case w := <-checks:
			t.Fatalf("check of %s asked for, want none", w)
		case <-time.After(300 * time.Millisecond):
		}
	}
	cm := func(rv string, entries ...metav1.ManagedFieldsEntry) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "settings", ResourceVersion: rv,
			Labels: map[string]string{fleetv1alpha1.LabelWork: "web"}, ManagedFields: entries}}
	}
	now := ptr.To(metav1.Now())
	own := metav1.ManagedFieldsEntry{Manager: fleetv1alpha1.FieldManager, Operation: metav1.ManagedFieldsOperationApply, Time: now}
	edit := metav1.ManagedFieldsEntry{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: now}

	f.versions <- "10"
	d.track("web", inventory{{Version: "v1", Kind: "ConfigMap", Namespace: "app", Name: "settings"}})
	w := receive(t, f.opened, "a watch")
	if rv := receive(t, f.from, "its version"); rv != "10" {
		t.Errorf("watch started from %v, want 10", rv)
	}
	waitFor(t, 10*time.Second, "one watch open", func() (bool, string) {
		n := testutil.ToFloat64(d.open)
		return n == 1, fmt.Sprint(n)
	})

	w.Modify(cm("11", own))
	noCheck()
	w.Modify(cm("12", edit))
	if got := receive(t, checks, "a check"); got != "web" || !d.takeDue("web") || d.takeDue("web") {
		t.Errorf("check of %v, or not due exactly once", got)
	}

	// The server closes the watch: resume from the last version seen.
	w.Stop()
	w = receive(t, f.opened, "the watch resumed")
	if rv := receive(t, f.from, "its version"); rv != "12" {
		t.Errorf("watch resumed from %v, want 12", rv)
	}
	noCheck()

	// Expired: start over, and look at every Work of the kind.
	f.versions <- "30"
	w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	w = receive(t, f.opened, "the watch started over")
	if rv := receive(t, f.from, "its version"); rv != "30" {
		t.Errorf("watch started over from %v, want 30", rv)
	}
	if got := receive(t, checks, "a check after the gap"); got != "web" {
		t.Errorf("check of %v after the gap, want web", got)
	}

	// The Work goes: its kind is not watched any more.
	d.track("web", nil)
	waitFor(t, 10*time.Second, "no watch open", func() (bool, string) {
		n := testutil.ToFloat64(d.open)
		return n == 0 && w.IsStopped(), fmt.Sprint(n)
	})
}

// receive waits for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}
