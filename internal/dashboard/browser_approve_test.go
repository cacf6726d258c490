package dashboard

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// A Rollout on a real hub, with the Rollout controller running, waits for
// the approval of its general wave. Alice clicks Approve in the page: the
// page says who approved, shows the general wave progressing and, once the
// clusters report healthy, the Rollout succeeding; the API and the
// Rollout's history name alice as the approver.
func TestBrowserApproveMovesTheRolloutOn(t *testing.T) {
	s := givenRolloutWaitingForApproval(t)
	_, ts := dashboardFor(t, s.cfg, alice)
	b := newBrowser(t)

	card := fmt.Sprintf(`[data-testid=rollout][data-rollout="flotilla-system/%s"]`, s.rollout)
	approve := card + ` [data-testid=approve][data-wave=general]`
	b.do(30*time.Second, "loading the page",
		chromedp.EmulateViewport(screenWidth, screenHeight),
		chromedp.Navigate(ts.URL),
		chromedp.WaitVisible(chromedp.CSS(approve)))
	if got := eval[string](b, fmt.Sprintf(`document.querySelector(%q).dataset.phase`, card)); got != string(fleetv1alpha1.RolloutPhaseWaitingForApproval) {
		t.Errorf("the page shows the rollout %s", got)
	}

	clicked := time.Now()
	b.do(10*time.Second, "clicking Approve", chromedp.Click(chromedp.CSS(approve)))
	b.waitFor(30*time.Second, "the approval confirmed",
		fmt.Sprintf(`(document.querySelector(%q) || {}).textContent?.includes("approved by alice")`, card+` [data-testid=action-status]`))
	b.waitFor(60*time.Second, "the general wave progressing",
		fmt.Sprintf(`["Progressing", "Baking", "Succeeded"].includes(document.querySelector(%q)?.dataset.phase)`,
			card+` [data-testid=wave][data-wave=general]`))
	t.Logf("from the click to the next wave on the page: %s", time.Since(clicked).Round(time.Millisecond))

	ro := s.get()
	if len(ro.Spec.Approvals) != 1 || ro.Spec.Approvals[0].Wave != "general" || ro.Spec.Approvals[0].By != alice {
		t.Errorf("approvals in the API: %+v", ro.Spec.Approvals)
	}

	// The hub moves the general wave's clusters; their agents report healthy.
	for _, c := range []string{"site-g1", "site-g2"} {
		w := s.env.WaitWork("site", "site-team", "shop", c, func(w *fleetv1alpha1.Work) (bool, string) {
			return w.Spec.Revision == s.target, w.Spec.Revision
		})
		s.env.ReportReady(w)
	}
	b.waitFor(60*time.Second, "the rollout succeeded", fmt.Sprintf(`document.querySelector(%q)?.dataset.phase === "Succeeded"`, card))
	// Finished, the card is compact: its outcome in a line.
	if got := text(b, card+` [data-testid=rollout-outcome]`); !strings.Contains(got, "healthy on "+s.target) {
		t.Errorf("the page says %q", got)
	}

	ro = s.get()
	approvedBy := ""
	for _, h := range ro.Status.History {
		if h.Wave == "general" && h.Actor == alice {
			approvedBy = h.Actor
		}
	}
	if ro.Status.Phase != fleetv1alpha1.RolloutPhaseSucceeded || approvedBy != alice {
		t.Errorf("rollout %s, history %+v: want Succeeded, with alice in the history of the general wave", ro.Status.Phase, ro.Status.History)
	}

	// The history in the page names alice too.
	b.do(10*time.Second, "opening the history", chromedp.Click(chromedp.CSS(card+` [data-testid=rollout-toggle]`)),
		chromedp.Click(chromedp.CSS(card+` [data-testid=history] summary`)))
	b.waitFor(10*time.Second, "alice in the history",
		fmt.Sprintf(`[...document.querySelectorAll(%q)].some((td) => td.textContent === "alice")`, card+` [data-testid=history-actor]`))

	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), "dashboard-approved.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if problems := b.report(); problems != "" {
		t.Errorf("the page reported errors:%s", problems)
	}
}

// approveStory is a hub of its own with the hub manager running, one
// Promise on three clusters (site-c1 in ring canary, site-g1 and site-g2 in
// ring general) and a Rollout to a second revision whose canary is healthy
// and whose general wave waits for an approval.
type approveStory struct {
	t       *testing.T
	cfg     *rest.Config
	env     *promisetest.Env
	rollout string
	target  string
}

func givenRolloutWaitingForApproval(t *testing.T) *approveStory {
	t.Helper()
	cp := testenv.NewHubWithCRDs(t)
	promisetest.StartHub(t, cp.RESTConfig, hub.Options{})
	e := promisetest.NewEnv(t, cp.RESTConfig)
	grantRoles(t, e.C)

	ring := func(name string, approval fleetv1alpha1.ApprovalPolicy) fleetv1alpha1.Wave {
		return fleetv1alpha1.Wave{
			Name:           name,
			Selector:       &fleetv1alpha1.WaveSelector{MatchLabels: map[string]string{"ring": name}},
			MaxConcurrency: ptrTo(intstr.FromString("100%")),
			MaxFailures:    ptrTo(intstr.FromInt32(0)),
			Approval:       approval,
		}
	}
	e.Create(&fleetv1alpha1.RolloutStrategy{
		ObjectMeta: metav1.ObjectMeta{Name: "rings"},
		Spec: fleetv1alpha1.RolloutStrategySpec{OnFailure: fleetv1alpha1.FailureHalt,
			Waves: []fleetv1alpha1.Wave{ring("canary", ""), ring("general", fleetv1alpha1.ApprovalRequired)}},
	})
	clusters := map[string]string{"site-c1": "canary", "site-g1": "general", "site-g2": "general"}
	for name, r := range clusters {
		// Online without an agent: Git delivery without a health source
		// (the test writes the Work status an agent would).
		e.Namespace(fleetv1alpha1.ClusterNamespace(name), nil)
		e.Create(&fleetv1alpha1.Cluster{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"suite": "site", "ring": r}},
			Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{
				URL: "https://git.example.com/fleet.git", HealthSource: fleetv1alpha1.GitHealthNone}}},
		})
	}
	e.Fleet("site", map[string]string{"suite": "site"}, "site-team")
	e.Namespace("site-team", nil)
	p := promisetest.ConfigMapPromise("site", "site.example.com", "Site", "site")
	p.Spec.Templates.GoTemplates[0].Template = siteTemplate("1")
	p.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "rings"}
	e.Create(p)
	r1 := e.PromiseReady("site")
	e.Create(promisetest.Instance("site.example.com", "Site", "site-team", "shop", map[string]any{"size": "small"}))
	for name := range clusters {
		e.ReportReady(e.WaitWork("site", "site-team", "shop", name, func(w *fleetv1alpha1.Work) (bool, string) {
			return w.Spec.Revision == r1, w.Spec.Revision
		}))
	}

	// Release 2: the hub starts a Rollout for the new revision.
	e.UpdatePromise("site", func(p *fleetv1alpha1.Promise) { p.Spec.Templates.GoTemplates[0].Template = siteTemplate("2") })
	s := &approveStory{t: t, cfg: cp.RESTConfig, env: e}
	promisetest.Eventually(t, time.Minute, "a rollout of the second revision", func() (bool, string) {
		list := &fleetv1alpha1.RolloutList{}
		if err := e.C.List(e.Ctx, list, client.MatchingLabels{fleetv1alpha1.LabelPromise: "site"}); err != nil {
			return false, err.Error()
		}
		for _, ro := range list.Items {
			if ro.Spec.FromRevision == r1 {
				s.rollout, s.target = ro.Name, ro.Spec.TargetRevision
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d rollouts", len(list.Items))
	})
	e.ReportReady(e.WaitWork("site", "site-team", "shop", "site-c1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Revision == s.target, w.Spec.Revision
	}))
	promisetest.Eventually(t, time.Minute, "the general wave waiting for an approval", func() (bool, string) {
		ro := s.get()
		return ro.Status.Phase == fleetv1alpha1.RolloutPhaseWaitingForApproval && ro.Status.CurrentWave == "general",
			fmt.Sprintf("phase %s, wave %s", ro.Status.Phase, ro.Status.CurrentWave)
	})
	for _, c := range []string{"site-g1", "site-g2"} {
		if w := e.Work("site", "site-team", "shop", c); w == nil || w.Spec.Revision != r1 {
			t.Fatalf("%s moved before its wave was approved", c)
		}
	}
	return s
}

// get reads the story's Rollout as the admin.
func (s *approveStory) get() *fleetv1alpha1.Rollout {
	s.t.Helper()
	ro := &fleetv1alpha1.Rollout{}
	if err := s.env.C.Get(s.env.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: s.rollout}, ro); err != nil {
		s.t.Fatal(err)
	}
	return ro
}

// siteTemplate renders the instance's ConfigMap with a release marker, so
// each release is a new revision.
func siteTemplate(release string) string {
	return strings.Join([]string{
		"apiVersion: v1",
		"kind: ConfigMap",
		"metadata:",
		"  name: {{ .instance.metadata.name | quote }}",
		"data:",
		"  size: {{ .spec.size | quote }}",
		`  release: "` + release + `"`,
		"",
	}, "\n")
}

func ptrTo[T any](v T) *T { return &v }
