package dashboard

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// viewsFleet is a hub of its own (the fixture fleet's counts stay as they
// are) with what the views below need:
//
//	cluster  web              state
//	v-1      web-r2 healthy   Available
//	v-2      web-r2 failing   Available
//	v-3      (none)           Available
//
// Promise web's latest revision is web-r3, which no cluster runs yet; a
// Rollout web-3 (web-r2 → web-r3) halted with two failed clusters and their
// causes; a Rollout web-2 that succeeded an hour ago; a Rollout web-4 that
// was rolled back to web-r2 half an hour ago, with one failed cluster. Team A's member dave
// has the per-team RBAC of docs/howto/per-team-setup.md: Clusters,
// Promises and FleetFreezes across the hub, Rollouts in team-a, no Works.
func viewsFleet(t *testing.T) *rest.Config {
	t.Helper()
	hub := testenv.NewHubWithCRDs(t)
	e := promisetest.NewEnv(t, hub.RESTConfig)
	grantRoles(t, e.C)
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for _, c := range []string{"v-1", "v-2", "v-3"} {
		e.Cluster(c, map[string]string{"ring": "general"})
		cl := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: c}, cl); err != nil {
			t.Fatal(err)
		}
		cl.Status.Availability = fleetv1alpha1.ClusterAvailabilityAvailable
		cl.Status.LastHeartbeatTime = &now
		if err := e.C.Status().Update(e.Ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	p := promisetest.ConfigMapPromise("web", "web.views.example.com", "Web")
	e.Create(p)
	p.Status.LatestRevision, p.Status.Instances = "web-r3", 1
	if err := e.C.Status().Update(e.Ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"v-1", "v-2"} {
		w := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(c), Name: fleetv1alpha1.WorkName("web", "team-a", "shop")},
			Spec: fleetv1alpha1.WorkSpec{Cluster: c, Revision: "web-r2",
				Subject: fleetv1alpha1.WorkSubject{Promise: "web", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}},
				Scope:   &fleetv1alpha1.WorkScope{Namespaces: []string{"team-a"}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}}},
		}
		e.Create(w)
		if c == "v-1" {
			e.ReportReady(w)
			continue
		}
		w.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: w.Generation, AppliedRevision: "web-r2", Conditions: []metav1.Condition{
			{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied, LastTransitionTime: now},
			{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ImagePullBackOff",
				Message: "Deployment shop: image not found", LastTransitionTime: now},
		}}
		if err := e.C.Status().Update(e.Ctx, w); err != nil {
			t.Fatal(err)
		}
	}

	e.Namespace("team-a", nil)
	halted := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-3"},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: "web-r2", TargetRevision: "web-r3"},
	}
	e.Create(halted)
	started := metav1.NewTime(now.Add(-10 * time.Minute))
	halted.Status = fleetv1alpha1.RolloutStatus{
		Phase: fleetv1alpha1.RolloutPhaseHalted, CurrentWave: "canary", StartedAt: &started,
		Counts: fleetv1alpha1.RolloutCounts{Total: 3, Admitted: 2, Failed: 2, Pending: 1},
		Waves: []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing, Clusters: []string{"v-1", "v-2"},
			Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Failed: 2},
			Checks: []fleetv1alpha1.WaveCheckStatus{{Name: "error-rate", Scope: fleetv1alpha1.CheckEachCluster, Verdict: fleetv1alpha1.CheckFailed,
				Marks: "+F", Counts: fleetv1alpha1.CheckCounts{Passing: 1, Failed: 1},
				Message: "cluster v-2: check error-rate failed: [0.31] does not satisfy result[0] < 0.05 (at 2031-01-02T11:59:58Z; 1 of 3 measurements failed, 0 allowed)"}}}},
		Failures: []fleetv1alpha1.ClusterFailure{
			{Cluster: "v-2", Wave: "canary", Reason: "ImagePullBackOff", Message: "Deployment shop: image not found", Time: now},
			{Cluster: "v-1", Wave: "canary", Reason: "ProgressDeadlineExceeded", Message: "Deployment shop: 0/3 replicas available", Time: now},
		},
		FailureCount: 2,
		Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: fleetv1alpha1.ReasonFailureBudgetExceeded, Message: "failure budget exceeded: 2 of 2 failed", LastTransitionTime: now}},
	}
	if err := e.C.Status().Update(e.Ctx, halted); err != nil {
		t.Fatal(err)
	}
	done := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-2"},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: "web-r1", TargetRevision: "web-r2"},
	}
	e.Create(done)
	doneStarted, completed := metav1.NewTime(now.Add(-2*time.Hour)), metav1.NewTime(now.Add(-time.Hour))
	done.Status = fleetv1alpha1.RolloutStatus{
		Phase: fleetv1alpha1.RolloutPhaseSucceeded, StartedAt: &doneStarted, CompletedAt: &completed, PercentOnTarget: 100,
		Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Healthy: 2},
		Waves: []fleetv1alpha1.WaveStatus{{Name: "all", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"v-1", "v-2"},
			Counts: fleetv1alpha1.RolloutCounts{Total: 2, Admitted: 2, Healthy: 2}}},
	}
	if err := e.C.Status().Update(e.Ctx, done); err != nil {
		t.Fatal(err)
	}

	rolledBack := &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web-4"},
		Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, FromRevision: "web-r2", TargetRevision: "web-r4"},
	}
	e.Create(rolledBack)
	rbCompleted := metav1.NewTime(now.Add(-30 * time.Minute))
	rolledBack.Status = fleetv1alpha1.RolloutStatus{
		Phase: fleetv1alpha1.RolloutPhaseRolledBack, StartedAt: &doneStarted, CompletedAt: &rbCompleted, RollbackRevision: "web-r2",
		Counts:       fleetv1alpha1.RolloutCounts{Total: 2, Failed: 1},
		Failures:     []fleetv1alpha1.ClusterFailure{{Cluster: "v-2", Wave: "all", Reason: "CrashLoopBackOff", Message: "container web exited 1", Time: rbCompleted}},
		FailureCount: 1,
	}
	if err := e.C.Status().Update(e.Ctx, rolledBack); err != nil {
		t.Fatal(err)
	}

	// dave: the team's roles (per-team-setup.md), without Works.
	const catalog, tenant = "views-test-catalog", "views-test-tenant"
	for _, o := range []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: catalog}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.Group},
			Resources: []string{"promises", "promiserevisions", "fleets", "clusters", "rolloutstrategies", "fleetfreezes"}, Verbs: []string{"get", "list", "watch"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: catalog},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: catalog},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: tenant}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.Group},
			Resources: []string{"rollouts", "driftexceptions"}, Verbs: []string{"get", "list", "watch", "patch"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: tenant},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: tenant},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}},
	} {
		e.Create(o)
	}
	testenv.WaitAllowed(t, as(hub.RESTConfig, "dave"), authorizationv1.ResourceAttributes{Group: fleetv1alpha1.Group, Resource: "rollouts", Verb: "list", Namespace: "team-a"})
	testenv.WaitAllowed(t, as(hub.RESTConfig, "dave"), authorizationv1.ResourceAttributes{Group: fleetv1alpha1.Group, Resource: "clusters", Verb: "list"})
	return hub.RESTConfig
}

// load opens the dashboard at url and waits until it drew the fleet.
func (b *browser) load(url string) {
	b.t.Helper()
	b.do(30*time.Second, "loading the page",
		chromedp.EmulateViewport(screenWidth, screenHeight),
		chromedp.Navigate(url),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`, chromedp.WithPollingTimeout(20*time.Second)))
}

// screenshot saves the whole page as name in artifactDir.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// visible reports whether the first element matching selector is rendered.
func visible(b *browser, selector string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, selector))
}

func TestBrowserViews(t *testing.T) {
	cfg := viewsFleet(t)

	// A Rollout card lists its failed clusters with wave and cause; a
	// finished Rollout is one compact line (name, phase, outcome, time)
	// that opens on request; the versions legend keeps the latest revision
	// at 0% before any cluster runs it.
	t.Run("rollout cards and the versions legend", func(t *testing.T) {
		_, ts := dashboardFor(t, cfg, alice)
		b := newBrowser(t)
		b.load(ts.URL)

		halted := `[data-testid=rollout][data-rollout="team-a/web-3"]`
		if got := count(b, halted+` [data-testid=rollout-failure]`); got != 2 {
			t.Errorf("the halted Rollout lists %d failed clusters, want 2", got)
		}
		for cluster, want := range map[string][]string{
			"v-2": {"v-2", "wave canary", "ImagePullBackOff", "Deployment shop: image not found"},
			"v-1": {"v-1", "wave canary", "ProgressDeadlineExceeded", "0/3 replicas available"},
		} {
			got := text(b, fmt.Sprintf(`%s [data-testid=rollout-failure][data-cluster=%q]`, halted, cluster))
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("failed cluster %s reads %q, lacking %q", cluster, got, w)
				}
			}
		}
		if !visible(b, halted+` [data-testid=rollout-failures]`) || !visible(b, halted+` [data-testid=wave]`) {
			t.Error("the Rollout in flight does not show its failures and waves")
		}
		// A wave's verification checks: verdict, clusters and what failed.
		if got := text(b, halted+` [data-testid=wave-check][data-check=error-rate]`); !strings.Contains(got, "check error-rate: Failed (0 passed, 1 failed, 0 inconclusive)") ||
			!strings.Contains(got, "[0.31] does not satisfy result[0] < 0.05") {
			t.Errorf("the canary's check reads %q", got)
		}

		done := `[data-testid=rollout][data-rollout="team-a/web-2"]`
		if got := eval[string](b, fmt.Sprintf(`document.querySelector(%q).dataset.compact`, done)); got != "true" {
			t.Errorf("the finished Rollout is not compact: data-compact=%q", got)
		}
		if visible(b, done+` [data-testid=rollout-body]`) || visible(b, done+` [data-testid=wave]`) || visible(b, done+` [data-testid=pause]`) {
			t.Error("the compact finished Rollout shows its details")
		}
		if got := text(b, done+` [data-testid=rollout-phase]`); got != "Succeeded" {
			t.Errorf("finished Rollout phase %q", got)
		}
		if got := text(b, done+` [data-testid=rollout-outcome]`); got != "2 of 2 clusters healthy on web-r2" {
			t.Errorf("finished Rollout outcome %q", got)
		}
		if got := text(b, done+` [data-testid=rollout-time]`); !strings.HasPrefix(got, "finished ") || !strings.HasSuffix(got, " ago") {
			t.Errorf("finished Rollout time %q", got)
		}
		rolled := `[data-testid=rollout][data-rollout="team-a/web-4"]`
		if got := text(b, rolled+` [data-testid=rollout-outcome]`); got != "rolled back to web-r2 · after 1 failed cluster" {
			t.Errorf("rolled-back Rollout outcome %q", got)
		}
		if visible(b, rolled+` [data-testid=rollout-failures]`) {
			t.Error("the compact rolled-back Rollout shows its failure list before it is opened")
		}
		b.do(10*time.Second, "opening the rolled-back Rollout", chromedp.Click(chromedp.CSS(rolled+` [data-testid=rollout-toggle]`)))
		if got := text(b, rolled+` [data-testid=rollout-failure][data-cluster=v-2]`); !strings.Contains(got, "CrashLoopBackOff: container web exited 1") ||
			!visible(b, rolled+` [data-testid=rollout-failures]`) {
			t.Errorf("the opened rolled-back Rollout lists %q", got)
		}
		compactHeight := eval[float64](b, fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().height`, done))
		haltedHeight := eval[float64](b, fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().height`, halted))
		if compactHeight >= haltedHeight/2 {
			t.Errorf("the compact card is %.0fpx high, the card in flight %.0fpx: not compact", compactHeight, haltedHeight)
		}
		b.do(10*time.Second, "opening the finished Rollout", chromedp.Click(chromedp.CSS(done+` [data-testid=rollout-toggle]`)))
		if !visible(b, done+` [data-testid=wave]`) {
			t.Error("the finished Rollout's details do not open")
		}
		// The next poll redraws: it stays open.
		gen := eval[string](b, `document.body.dataset.generatedAt`)
		b.waitFor(10*time.Second, "the next poll", fmt.Sprintf(`document.body.dataset.generatedAt !== %q`, gen))
		if !visible(b, done+` [data-testid=wave]`) {
			t.Error("the finished Rollout closed again on the next poll")
		}

		legend := `[data-testid=promise-chart][data-promise=web] [data-testid=revision-legend]`
		if got := text(b, legend+` li[data-revision=web-r3]`); got != "web-r3 (latest) — 0 clusters healthy, 0%" {
			t.Errorf("the legend's latest revision reads %q, want it at 0%%", got)
		}
		// A revision counts where it is healthy; the cluster that applied it
		// but is not healthy is shown apart.
		if got := text(b, legend+` li[data-revision=web-r2]`); got != "web-r2 — 1 cluster healthy, 50%; 1 applied, not healthy" {
			t.Errorf("the legend's web-r2 reads %q", got)
		}
		b.screenshot("dashboard-rollouts.png")
		if problems := b.report(); problems != "" {
			t.Errorf("the page reported errors:%s", problems)
		}
	})

	// dave, with the team's RBAC, sees the clusters but not their Works:
	// the tiles say Hidden, never Idle, and the header and panels say
	// hidden instead of 0; his Rollouts are named as his namespace's only.
	t.Run("a team's partial view", func(t *testing.T) {
		s, err := New(as(cfg, "dave"), Options{Namespace: "team-a", Warn: func(msg string) { t.Log("warning:", msg) }})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s)
		t.Cleanup(ts.Close)
		b := newBrowser(t)
		b.load(ts.URL)

		if got := count(b, `[data-testid=cluster-tile]`); got != 3 {
			t.Errorf("dave sees %d tiles, want 3", got)
		}
		if got := count(b, `[data-testid=cluster-tile][data-health=Hidden]`); got != 3 {
			t.Errorf("%d Hidden tiles, want 3", got)
		}
		if got := count(b, `[data-testid=cluster-tile][data-health=Idle]`); got != 0 {
			t.Errorf("%d Idle tiles in a view without Works", got)
		}
		if got := text(b, `[data-testid=cluster-tile][data-cluster=v-2] .health`); !strings.Contains(got, "Hidden") {
			t.Errorf("v-2's tile says %q", got)
		}
		for id, want := range map[string]string{"count-failures": "hidden", "count-drift": "hidden", "count-total": "3", "count-rollouts": "1"} {
			if got := text(b, fmt.Sprintf(`[data-testid=%s] dd`, id)); got != want {
				t.Errorf("header %s reads %q, want %q", id, got, want)
			}
		}
		if got := text(b, `[data-testid=count-rollouts] dt`); got != "rollouts in flight in team-a" {
			t.Errorf("header rollouts label %q", got)
		}
		for id, want := range map[string]string{
			"failures-hidden":  "Failing Works are hidden",
			"versions-hidden":  "hidden: your credentials may not list Works",
			"rollouts-partial": "Rollouts in namespace team-a only; the others are hidden",
			"drift-summary":    "Drift is hidden",
			"hidden-notice":    "Partial view",
		} {
			if got := text(b, fmt.Sprintf(`[data-testid=%s]`, id)); !strings.Contains(got, want) {
				t.Errorf("%s reads %q, want %q", id, got, want)
			}
		}
		if strings.Contains(text(b, `[data-testid=failures]`), "No failing Works") {
			t.Error("the failures table says there are none")
		}
		if got := count(b, `[data-testid=rollout]`); got != 3 {
			t.Errorf("dave sees %d Rollouts, want team-a's 3", got)
		}
		b.screenshot("dashboard-team.png")
		if problems := b.report(); problems != "" {
			t.Errorf("the page reported errors:%s", problems)
		}
	})
}
