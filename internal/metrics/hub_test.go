package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	coordinationv1 "k8s.io/api/coordination/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/metrics"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is a hub control plane of this package's own: the gauges count every
// cluster and Rollout on it, so the values the test expects are exact.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

// story is the test's view of a hub that publishes Promise "shop" on three
// member clusters: shop-c1 (ring canary), shop-g1 and shop-g2 (ring general).
type story struct {
	*promisetest.Env
	registry *prometheus.Registry
}

const (
	promiseName = "shop"
	team        = "shop-team"
	group       = "shop.example.com"
)

var members = []string{"shop-c1", "shop-g1", "shop-g2"}

// template renders the instance's ConfigMap with a release marker, so each
// release is a new revision.
func template(release string) string {
	return `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .instance.metadata.name | quote }}
data:
  release: "` + release + `"
`
}

// A Promise change rolls out, is held by a freeze, approved, and succeeds;
// the next one is rolled back by hand. At each step the hub's metrics have
// exact values and the Rollouts and the FleetFreeze carry the Events that
// say what happened.
func TestMetricsAndEventsOfRollouts(t *testing.T) {
	s := &story{Env: promisetest.NewEnv(t, hubCP.RESTConfig), registry: prometheus.NewRegistry()}
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{MetricsRegistry: s.registry})
	r1 := s.givenFleet()

	s.gauges("clusters by availability and the fleet on the first revision", fmt.Sprintf(`
# HELP flotilla_clusters Member clusters by availability (Available, Offline, Unknown).
# TYPE flotilla_clusters gauge
flotilla_clusters{availability="Available"} 3
flotilla_clusters{availability="Offline"} 1
flotilla_clusters{availability="Unknown"} 1
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="shop",revision=%q} 3
`, r1)+driftGauges(0, 0, 0, 0), "flotilla_clusters", "flotilla_promise_clusters", "flotilla_rollout_phase",
		"flotilla_drift_resources", "flotilla_drift_clusters")
	// The Promise gauges are this hub's too.
	s.gauges("the Promise and its instances", `
# HELP flotilla_instances Instances of each Promise.
# TYPE flotilla_instances gauge
flotilla_instances{promise="shop"} 1
# HELP flotilla_promise_ready 1 when the Promise is Ready (API established, latest content renders), else 0.
# TYPE flotilla_promise_ready gauge
flotilla_promise_ready{promise="shop"} 1
`, "flotilla_instances", "flotilla_promise_ready")

	// A release: the canary moves, the general wave waits for an approval.
	ro2, r2 := s.release("2", r1)
	s.moves(r2, "shop-c1")
	s.reportReady("shop-c1")
	s.waitRollout(ro2, "waiting for approval", fleetv1alpha1.RolloutPhaseWaitingForApproval)
	s.gauges("a Rollout in flight, waiting for its second wave's approval", inFlight(ro2, fleetv1alpha1.RolloutPhaseWaitingForApproval)+fmt.Sprintf(`
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="shop",revision=%q} 2
flotilla_promise_clusters{promise="shop",revision=%q} 1
`, r1, r2), rolloutGauges("flotilla_promise_clusters")...)

	// A freeze holds it, and lifts by itself. It lasts until the held gauges
	// were seen (however slow a loaded machine is), then ends a moment later.
	until := metav1.NewTime(time.Now().Add(10 * time.Minute).Truncate(time.Second))
	s.Create(&fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "shop-window"},
		Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "change window", FrozenBy: "carol", Until: &until}})
	s.waitRollout(ro2, "held by the freeze", fleetv1alpha1.RolloutPhasePaused)
	s.gauges("a Rollout held by a freeze", inFlight(ro2, fleetv1alpha1.RolloutPhasePaused)+`
# HELP flotilla_freeze_active FleetFreezes in force, by action (Halt, Rollback).
# TYPE flotilla_freeze_active gauge
flotilla_freeze_active{action="Halt"} 1
flotilla_freeze_active{action="Rollback"} 0
`, rolloutGauges("flotilla_freeze_active")...)
	until = metav1.NewTime(time.Now().Add(2 * time.Second).Truncate(time.Second))
	endSoon := fmt.Sprintf(`{"spec":{"until":%q}}`, until.UTC().Format(time.RFC3339))
	if err := s.C.Patch(s.Ctx, &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "shop-window"}},
		client.RawPatch(types.MergePatchType, []byte(endSoon))); err != nil {
		t.Fatalf("ending the freeze: %v", err)
	}
	s.waitRollout(ro2, "waiting for approval once the freeze expired", fleetv1alpha1.RolloutPhaseWaitingForApproval)
	s.hasEvents("default", "FleetFreeze", "shop-window",
		"Warning Activated no rollout admits any cluster (Halt): change window (by carol)",
		"Normal RolloutHeld holds Rollout flotilla-system/"+ro2+" (Paused, wave general) [Rollout "+ro2+"]",
		"Normal Expired ended at "+until.UTC().Format(time.RFC3339)+"; delete it to tidy up")
	s.gauges("an expired freeze", `
# HELP flotilla_freeze_active FleetFreezes in force, by action (Halt, Rollback).
# TYPE flotilla_freeze_active gauge
flotilla_freeze_active{action="Halt"} 0
flotilla_freeze_active{action="Rollback"} 0
`, "flotilla_freeze_active")

	// Approved, the general wave moves and the Rollout succeeds: its gauges go.
	s.patchRollout(ro2, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "general",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", Message: "canary looks fine", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
	})
	s.moves(r2, "shop-g1", "shop-g2")
	s.reportReady("shop-g1", "shop-g2")
	s.waitRollout(ro2, "succeeded", fleetv1alpha1.RolloutPhaseSucceeded)
	s.gauges("every cluster on the new revision, no Rollout in flight", fmt.Sprintf(`
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="shop",revision=%q} 3
`, r2), rolloutGauges("flotilla_promise_clusters")...)
	s.hasEvents(fleetv1alpha1.PlatformNamespace, "Rollout", ro2,
		"Normal Started started",
		"Normal WaitingForApproval wave general (2 clusters) waits for an approval (by hub)",
		"Warning FleetFrozen held by FleetFreeze shop-window: change window (by carol)",
		"Normal WaveApproved wave general approved by alice and started (2 clusters): canary looks fine",
		"Normal WaveSucceeded wave general succeeded",
		"Normal Succeeded")

	// The next release is rolled back by hand.
	ro3, r3 := s.release("3", r2)
	s.moves(r3, "shop-c1")
	s.patchRollout(ro3, func(ro *fleetv1alpha1.Rollout) {
		ro.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "bob", Message: "wrong release",
			At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}}
	})
	// The canary's agent never reported the third release, so the rollback
	// ends as soon as its Work renders the second again.
	s.waitRollout(ro3, "rolled back", fleetv1alpha1.RolloutPhaseRolledBack)
	s.moves(r2, "shop-c1")
	s.reportReady("shop-c1")
	s.hasEvents(fleetv1alpha1.PlatformNamespace, "Rollout", ro3,
		"Normal Started started",
		"Warning RollingBack rollback to "+r2+" requested: wrong release",
		"Warning RolledBack every cluster is back on "+r2)

	s.gauges("the counters, and the fleet back on the second revision", fmt.Sprintf(`
# HELP flotilla_promise_clusters Clusters running a Promise, by the revision their Works applied; (pending) when none applied yet, (mixed) when they differ, (unknown) when the Promise does not list it.
# TYPE flotilla_promise_clusters gauge
flotilla_promise_clusters{promise="shop",revision=%q} 3
# HELP flotilla_rollout_rollbacks_total Rollbacks started, by cause (failure, manual, freeze) and whose Rollout it is (platform, team).
# TYPE flotilla_rollout_rollbacks_total counter
flotilla_rollout_rollbacks_total{cause="failure",owner="platform"} 0
flotilla_rollout_rollbacks_total{cause="failure",owner="team"} 0
flotilla_rollout_rollbacks_total{cause="freeze",owner="platform"} 0
flotilla_rollout_rollbacks_total{cause="freeze",owner="team"} 0
flotilla_rollout_rollbacks_total{cause="manual",owner="platform"} 1
flotilla_rollout_rollbacks_total{cause="manual",owner="team"} 0
`, r2)+rolloutsByPhase(map[fleetv1alpha1.RolloutPhase]int{fleetv1alpha1.RolloutPhaseSucceeded: 1, fleetv1alpha1.RolloutPhaseRolledBack: 1})+
		s.transitions(ro2, ro3), rolloutGauges("flotilla_promise_clusters", "flotilla_rollout_rollbacks_total",
		"flotilla_rollouts", "flotilla_rollout_transitions_total")...)

	// Agents report drift: two resources on the canary (one accepted by a
	// DriftException), one on a general member. The gauges count resources
	// per Promise and state, and clusters per state, never a cluster name.
	const U, A = fleetv1alpha1.DriftUnexplained, fleetv1alpha1.DriftAccepted
	s.Create(&fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "hotfix"},
		Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "alice", Reason: "incident 7", ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
			Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}},
	})
	s.WaitWork(promiseName, team, "web", "shop-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.DriftExceptions) == 1, fmt.Sprint(w.Spec.DriftExceptions)
	})
	s.reportDrift("shop-c1", U, A)
	s.reportDrift("shop-g1", U)
	s.gauges("drift on two members", driftGauges(2, 1, 2, 1), "flotilla_drift_resources", "flotilla_drift_clusters")
	// The canary's drift is corrected, the accepted one stays.
	s.reportDrift("shop-c1", A)
	s.gauges("the unexplained drift on the canary corrected", driftGauges(1, 1, 1, 1), "flotilla_drift_resources", "flotilla_drift_clusters")

	// What the hub serves on /metrics: its own metrics and controller-runtime's.
	srv := httptest.NewServer(metrics.Handler(s.registry, logr.Discard()))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics")
	for _, want := range []string{`flotilla_clusters{availability="Available"} 3`, `controller_runtime_reconcile_total{controller="rollout",result="success"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// givenFleet registers the members (and one cluster that never connected
// and one whose agent went silent), a two-wave strategy whose second wave
// needs an approval, and Promise shop with one instance on every member,
// reported healthy. It returns the first revision.
func (s *story) givenFleet() string {
	s.TB.Helper()
	for _, c := range members {
		ring := "general"
		if strings.HasSuffix(c, "-c1") {
			ring = "canary"
		}
		s.Namespace(fleetv1alpha1.ClusterNamespace(c), nil)
		s.Create(&fleetv1alpha1.Cluster{
			ObjectMeta: metav1.ObjectMeta{Name: c, Labels: map[string]string{"suite": "shop", "ring": ring}},
			Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{
				URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}},
		})
	}
	s.Cluster("never-connected", nil)
	s.Cluster("gone-quiet", nil)
	s.Create(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: fleetv1alpha1.AgentLease, Namespace: fleetv1alpha1.ClusterNamespace("gone-quiet")},
		Spec: coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: time.Now().Add(-time.Hour)},
			LeaseDurationSeconds: ptr.To[int32](10)},
	})

	wave := func(name string, approval fleetv1alpha1.ApprovalPolicy) fleetv1alpha1.Wave {
		return fleetv1alpha1.Wave{
			Name: name, Approval: approval,
			Selector:       &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}},
			MaxConcurrency: ptr.To(intstr.FromString("100%")),
			MaxFailures:    ptr.To(intstr.FromInt32(0)),
		}
	}
	s.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: fleetv1alpha1.RolloutStrategySpec{OnFailure: fleetv1alpha1.FailureRollback,
			Waves: []fleetv1alpha1.Wave{wave("canary", ""), wave("general", fleetv1alpha1.ApprovalRequired)}},
	})
	s.Fleet("shop", map[string]string{"suite": "shop"}, team)
	s.Namespace(team, nil)
	p := promisetest.ConfigMapPromise(promiseName, group, "Shop", "shop")
	p.Spec.Templates.GoTemplates[0].Template = template("1")
	p.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "shop"}
	s.Create(p)
	r1 := s.PromiseReady(promiseName)
	s.Create(promisetest.Instance(group, "Shop", team, "web", map[string]any{"size": "small"}))
	s.moves(r1, members...)
	s.reportReady(members...)
	return r1
}

// release gives the Promise a new release and returns the Rollout the hub
// starts for it and the new revision.
func (s *story) release(release, previous string) (string, string) {
	s.TB.Helper()
	p := s.UpdatePromise(promiseName, func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = template(release) })
	gen := p.Generation
	latest := ""
	promisetest.Eventually(s.TB, time.Minute, "a new revision", func() (bool, string) {
		if err := s.C.Get(s.Ctx, client.ObjectKey{Name: promiseName}, p); err != nil {
			return false, err.Error()
		}
		latest = p.Status.LatestRevision
		return latest != previous && latest != "", latest
	})
	return promiseName + "-" + strconv.FormatInt(gen, 10), latest
}

// moves waits until the instance's Works on clusters render rev.
func (s *story) moves(rev string, clusters ...string) {
	s.TB.Helper()
	for _, c := range clusters {
		s.WaitWork(promiseName, team, "web", c, func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == rev, w.Spec.Revision })
	}
}

// reportReady writes the status of an agent that applied each cluster's Work
// and found it healthy.
func (s *story) reportReady(clusters ...string) {
	s.TB.Helper()
	for _, c := range clusters {
		s.ReportReady(s.Work(promiseName, team, "web", c))
	}
}

// reportDrift writes the status of an agent that found the cluster's Work
// healthy with one drifted ConfigMap per state given, and 2 corrections made.
func (s *story) reportDrift(cluster string, states ...fleetv1alpha1.DriftState) {
	s.TB.Helper()
	since := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	s.UpdateWorkStatus(s.Work(promiseName, team, "web", cluster), func(w *fleetv1alpha1.Work) {
		w.Status.Resources = []fleetv1alpha1.ResourceStatus{{Version: "v1", Kind: "ConfigMap", Namespace: team, Name: "web",
			Result: fleetv1alpha1.ApplyResultApplied, Health: fleetv1alpha1.HealthCurrent}}
		w.Status.Drift = &fleetv1alpha1.DriftSummary{Corrections: 2}
		for i, state := range states {
			r := fleetv1alpha1.ResourceStatus{Version: "v1", Kind: "ConfigMap", Namespace: team, Name: fmt.Sprintf("extra-%d", i),
				Result: fleetv1alpha1.ApplyResultApplied, Health: fleetv1alpha1.HealthCurrent,
				Drift: &fleetv1alpha1.ResourceDrift{State: state, Fields: []string{"data.color"}, By: "kubectl-edit", Since: &since}}
			if state == fleetv1alpha1.DriftAccepted {
				r.Drift.Exception = team + "/hotfix"
				w.Status.Drift.Accepted++
			} else {
				w.Status.Drift.Unexplained++
			}
			w.Status.Resources = append(w.Status.Resources, r)
		}
	})
}

// driftGauges is the exposition of the drift gauges of Promise shop.
func driftGauges(unexplained, accepted, unexplainedClusters, acceptedClusters int) string {
	return fmt.Sprintf(`
# HELP flotilla_drift_clusters Clusters with any drifted resource in a state (Unexplained, Accepted).
# TYPE flotilla_drift_clusters gauge
flotilla_drift_clusters{state="Accepted"} %d
flotilla_drift_clusters{state="Unexplained"} %d
# HELP flotilla_drift_resources Drifted resources the agents report, by Promise and state (Unexplained, Accepted).
# TYPE flotilla_drift_resources gauge
flotilla_drift_resources{promise="shop",state="Accepted"} %d
flotilla_drift_resources{promise="shop",state="Unexplained"} %d
`, acceptedClusters, unexplainedClusters, accepted, unexplained)
}

func (s *story) rollout(name string) *fleetv1alpha1.Rollout {
	s.TB.Helper()
	ro := &fleetv1alpha1.Rollout{}
	if err := s.C.Get(s.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, ro); err != nil {
		return nil
	}
	return ro
}

func (s *story) waitRollout(name, what string, phase fleetv1alpha1.RolloutPhase) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, time.Minute, "rollout "+name+" "+what, func() (bool, string) {
		ro := s.rollout(name)
		if ro == nil {
			return false, "not found"
		}
		return ro.Status.Phase == phase, fmt.Sprintf("phase %s wave %s", ro.Status.Phase, ro.Status.CurrentWave)
	})
}

func (s *story) patchRollout(name string, change func(*fleetv1alpha1.Rollout)) {
	s.TB.Helper()
	ro := s.rollout(name)
	base := ro.DeepCopy()
	change(ro)
	if err := s.C.Patch(s.Ctx, ro, client.MergeFrom(base)); err != nil {
		s.TB.Fatal(err)
	}
}

// gauges waits until the hub's registry holds exactly want for the named
// metrics (the gauges follow the hub's cache, which follows the API).
func (s *story) gauges(what, want string, names ...string) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, 30*time.Second, "metrics: "+what, func() (bool, string) {
		err := testutil.GatherAndCompare(s.registry, strings.NewReader(want), names...)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// rolloutGauges are the names of the per-Rollout gauges, and more.
func rolloutGauges(more ...string) []string {
	return append([]string{"flotilla_rollout_phase", "flotilla_rollout_wave_index", "flotilla_rollout_waves",
		"flotilla_rollout_percent_on_target", "flotilla_rollout_clusters"}, more...)
}

// inFlight is the exposition of the gauges of Rollout name in phase, in its
// second wave of two, with its canary healthy on the target.
func inFlight(name string, phase fleetv1alpha1.RolloutPhase) string {
	var b strings.Builder
	b.WriteString(`
# HELP flotilla_rollout_clusters Target clusters of a Rollout in flight by state (total, admitted, healthy, failed, pending, offline; unattributed: failing on something that is not the Rollout's change, never counted against it).
# TYPE flotilla_rollout_clusters gauge
`)
	for _, s := range []struct {
		state string
		n     int
	}{{"admitted", 1}, {"failed", 0}, {"healthy", 1}, {"offline", 0}, {"pending", 2}, {"total", 3}, {"unattributed", 0}} {
		fmt.Fprintf(&b, "flotilla_rollout_clusters{namespace=%q,rollout=%q,state=%q} %d\n", fleetv1alpha1.PlatformNamespace, name, s.state, s.n)
	}
	fmt.Fprintf(&b, `# HELP flotilla_rollout_percent_on_target Percentage of a Rollout's target clusters healthy on its target revision (Rollouts in flight).
# TYPE flotilla_rollout_percent_on_target gauge
flotilla_rollout_percent_on_target{namespace=%[1]q,rollout=%[2]q} 33
# HELP flotilla_rollout_wave_index Position (from 1) of the current wave of a Rollout in flight; 0 before its first wave.
# TYPE flotilla_rollout_wave_index gauge
flotilla_rollout_wave_index{namespace=%[1]q,rollout=%[2]q} 2
# HELP flotilla_rollout_waves Waves of a Rollout in flight.
# TYPE flotilla_rollout_waves gauge
flotilla_rollout_waves{namespace=%[1]q,rollout=%[2]q} 2
# HELP flotilla_rollout_phase 1 for the phase a Rollout in flight is in, 0 for its other phases in flight.
# TYPE flotilla_rollout_phase gauge
`, fleetv1alpha1.PlatformNamespace, name)
	for _, p := range metrics.Phases {
		if p.IsTerminal() {
			continue
		}
		v := 0
		if p == phase {
			v = 1
		}
		fmt.Fprintf(&b, "flotilla_rollout_phase{namespace=%q,phase=%q,rollout=%q} %d\n", fleetv1alpha1.PlatformNamespace, p, name, v)
	}
	return b.String()
}

// rolloutsByPhase is the exposition of flotilla_rollouts, every one the platform's.
func rolloutsByPhase(n map[fleetv1alpha1.RolloutPhase]int) string {
	var b strings.Builder
	b.WriteString("# HELP flotilla_rollouts Rollouts by phase, ended ones included, and whose they are (platform: a Promise's; team: an instance's).\n" +
		"# TYPE flotilla_rollouts gauge\n")
	for _, p := range metrics.Phases {
		fmt.Fprintf(&b, "flotilla_rollouts{owner=\"platform\",phase=%q} %d\n", p, n[p])
		fmt.Fprintf(&b, "flotilla_rollouts{owner=\"team\",phase=%q} 0\n", p)
	}
	return b.String()
}

// transitions is the exposition of flotilla_rollout_transitions_total the
// Rollouts' histories imply: one per phase change.
func (s *story) transitions(names ...string) string {
	s.TB.Helper()
	n := map[fleetv1alpha1.RolloutPhase]int{}
	for _, name := range names {
		for _, h := range s.rollout(name).Status.History {
			if h.From != h.To {
				n[h.To]++
			}
		}
	}
	var b strings.Builder
	b.WriteString("# HELP flotilla_rollout_transitions_total Rollout phase changes, by the phase entered and whose Rollout it is " +
		"(platform: a Promise's; team: an instance's).\n# TYPE flotilla_rollout_transitions_total counter\n")
	for _, p := range metrics.Phases {
		fmt.Fprintf(&b, "flotilla_rollout_transitions_total{owner=\"platform\",phase=%q} %d\n", p, n[p])
		fmt.Fprintf(&b, "flotilla_rollout_transitions_total{owner=\"team\",phase=%q} 0\n", p)
	}
	return b.String()
}

// hasEvents waits until the object's events.k8s.io Events include one per
// want: "type reason note-prefix", with " [Kind name]" after the note for
// the related object when it has one. Controllers record them concurrently,
// so their order is not checked.
func (s *story) hasEvents(ns, kind, name string, want ...string) {
	s.TB.Helper()
	promisetest.Eventually(s.TB, 30*time.Second, fmt.Sprintf("events of %s %s", kind, name), func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := s.C.List(s.Ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range list.Items {
			if e.Regarding.Kind != kind || e.Regarding.Name != name {
				continue
			}
			line := e.Type + " " + e.Reason + " " + e.Note
			if e.Related != nil {
				line += " [" + e.Related.Kind + " " + e.Related.Name + "]"
			}
			got = append(got, line)
		}
		for _, w := range want {
			if !slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, w) }) {
				return false, "no " + w + " in:\n" + strings.Join(got, "\n")
			}
		}
		return true, ""
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec,noctx // loopback test server
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The hub's own verdicts keep their reason: a cluster a verification check
// failed, or that flapped, counted as Other, so an alert on
// reason="AnalysisFailed" never fired. (An agent cannot report these
// reasons as its own: TestAnAgentCannotReportTheHubsReason.)
func TestFailureReasonLabel(t *testing.T) {
	for in, want := range map[string]string{
		"ImagePullBackOff": "ImagePullBackOff", "ProgressDeadlineExceeded": "ProgressDeadlineExceeded",
		"AnalysisFailed": "AnalysisFailed", "Flapping": "Flapping",
		"SomethingNew": metrics.ReasonOther, "": metrics.ReasonOther,
	} {
		if got := metrics.FailureReasonLabel(in); got != want {
			t.Errorf("FailureReasonLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
