package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The fleet View as alice reads it from the fixture hub: every number the
// page draws.
func TestFleetAPIReturnsTheView(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, alice)

	status, body := call(t, ts, "GET", "/api/fleet", s.Token(), "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/fleet: %d %s", status, body)
	}
	v := decode[fleetview.View](t, body)

	if want := (fleetview.ClusterCounts{Total: 6, Available: 5, Offline: 1}); v.Clusters != want {
		t.Errorf("clusters %+v, want %+v", v.Clusters, want)
	}
	tiles := map[string]fleetview.ClusterTile{}
	for _, tile := range v.Tiles {
		tiles[tile.Name] = tile
	}
	for name, want := range map[string]struct {
		health fleetview.Health
		web    string
		wave   string
	}{
		"eu-1":   {fleetview.HealthHealthy, "web-r2", "canary"},
		"eu-2":   {fleetview.HealthHealthy, "web-r2", "canary"},
		"us-1":   {fleetview.HealthHealthy, "web-r1", "general"},
		"us-2":   {fleetview.HealthFailed, "web-r2", "general"},
		"ap-1":   {fleetview.HealthOffline, "web-r1", "general"},
		"idle-1": {fleetview.HealthIdle, "", ""},
	} {
		got, ok := tiles[name]
		switch {
		case !ok:
			t.Errorf("no tile for cluster %s", name)
		case got.Health != want.health || got.Revisions["web"] != want.web || got.Wave != want.wave:
			t.Errorf("tile %s: health %s, web %q, wave %q; want %s, %q, %q", name, got.Health, got.Revisions["web"], got.Wave,
				want.health, want.web, want.wave)
		}
	}
	if len(v.Tiles) != 6 {
		t.Errorf("%d tiles, want 6", len(v.Tiles))
	}
	if got := tiles["us-2"].Reason; got != "ProgressDeadlineExceeded" {
		t.Errorf("us-2 fails with %q", got)
	}

	var web *fleetview.PromiseView
	for i := range v.Promises {
		if v.Promises[i].Name == "web" {
			web = &v.Promises[i]
		}
	}
	if web == nil || web.Clusters != 5 || web.LatestRevision != "web-r2" || len(web.Revisions) != 2 ||
		// Healthy where healthy: us-2 fails on web-r2, ap-1 (web-r1) is offline.
		web.Revisions[0] != (fleetview.RevisionShare{Revision: "web-r2", Clusters: 3, Healthy: 2, NotHealthy: 1, Percent: 40, NotHealthyPercent: 20, Latest: true}) ||
		web.Revisions[1] != (fleetview.RevisionShare{Revision: "web-r1", Clusters: 2, Healthy: 1, NotHealthy: 1, Percent: 20, NotHealthyPercent: 20}) {
		t.Errorf("web's versions: %+v", web)
	}

	if v.FailureCount != 1 || len(v.Failures) != 1 || v.Failures[0].Cluster != "us-2" || v.Failures[0].Instance != "shop/cart" ||
		!strings.Contains(v.Failures[0].Message, "ImagePullBackOff") {
		t.Errorf("failures %d: %+v", v.FailureCount, v.Failures)
	}
	if len(v.Offline) != 1 || v.Offline[0].Cluster != "ap-1" || v.Offline[0].Reason != "no heartbeat for 10m" {
		t.Errorf("offline %+v", v.Offline)
	}
	if len(v.Freezes) != 1 || v.Freezes[0].Name != "holidays" || v.Freezes[0].FrozenBy != "platform-team" {
		t.Errorf("freezes %+v", v.Freezes)
	}
	var ro *fleetview.RolloutView
	for i := range v.Rollouts {
		if v.Rollouts[i].Name == fixtureRollout {
			ro = &v.Rollouts[i]
		}
	}
	if ro == nil || ro.AwaitingApproval != "general" || ro.PercentOnTarget != 40 || len(ro.Waves) != 2 ||
		ro.Waves[0].Counts.Healthy != 2 || ro.Waves[1].Counts.Total != 3 {
		t.Errorf("rollout %s: %+v", fixtureRollout, ro)
	}
	if len(v.Hidden) != 0 {
		t.Errorf("alice may list everything, yet hidden: %v", v.Hidden)
	}

	// Drift: unexplained on eu-1 (web), accepted on us-1 (db) by a
	// DriftException alice may read.
	if d := v.Drift; d.Resources != (fleetview.DriftCounts{Unexplained: 1, Accepted: 1, Total: 2}) ||
		d.Clusters != (fleetview.DriftCounts{Unexplained: 1, Accepted: 1, Total: 2}) || d.Corrections != 2 ||
		len(d.Promises) != 2 || d.Promises[0].Promise != "db" || d.Promises[1].Resources.Unexplained != 1 ||
		len(d.PerCluster) != 2 || d.PerCluster[0].Cluster != "eu-1" || len(d.Items) != 2 {
		t.Errorf("drift %+v", d)
	} else {
		unexplained, accepted := d.Items[0], d.Items[1]
		if unexplained.Cluster != "eu-1" || unexplained.State != fleetv1alpha1.DriftUnexplained || unexplained.Instance != "shop/cart" ||
			unexplained.Kind != "ConfigMap" || unexplained.By != "kubectl-edit" || len(unexplained.Fields) != 1 || unexplained.Since == nil ||
			!slices.Equal(unexplained.AcceptedFields, []string{"data.color"}) || unexplained.Exception == nil || unexplained.Exception.Name != "tolerated" {
			t.Errorf("first drifted resource %+v, want eu-1's unexplained drift with data.color accepted by shop/tolerated", unexplained)
		}
		if e := accepted.Exception; accepted.Cluster != "us-1" || accepted.State != fleetv1alpha1.DriftAccepted || e == nil ||
			e.Namespace != "shop" || e.Name != "tolerated" || e.Owner != "db-team" || e.DeclaredBy != "dana" || e.Reason != "tuning by hand" || e.ExpiresAt == nil {
			t.Errorf("second drifted resource %+v (exception %+v), want us-1's, accepted by shop/tolerated", accepted, e)
		}
	}

	// The page reads these names: keep them.
	raw := decode[map[string]any](t, body)
	for _, k := range []string{"generatedAt", "clusters", "tiles", "promises", "rollouts", "failures", "failureCount", "offline", "freezes", "drift"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("the fleet JSON has no %q: %s", k, body)
		}
	}
}

// A user who may list only Clusters still gets a page: the rest is named
// as hidden, not an error.
func TestFleetAPIHidesWhatRBACForbids(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, carol)
	status, body := call(t, ts, "GET", "/api/fleet", s.Token(), "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/fleet as carol: %d %s", status, body)
	}
	v := decode[fleetview.View](t, body)
	if want := []string{"driftexceptions", "fleetfreezes", "promises", "rollouts", "works"}; !slices.Equal(v.Hidden, want) {
		t.Errorf("hidden %v, want %v", v.Hidden, want)
	}
	if v.Clusters.Total != 6 || len(v.Rollouts) != 0 || len(v.Failures) != 0 || v.Drift.Resources.Total != 0 {
		t.Errorf("carol sees %+v clusters, %d rollouts, %d failures, %d drifted resources", v.Clusters, len(v.Rollouts), len(v.Failures),
			v.Drift.Resources.Total)
	}
	// What she may not list is unknown, not empty: the view says so.
	if !v.Visibility.Partial || v.Visibility.Works != fleetview.ListedNone || v.Visibility.Rollouts != fleetview.ListedNone ||
		v.Visibility.Clusters != fleetview.ListedAll {
		t.Errorf("carol's visibility %+v", v.Visibility)
	}
	for _, tile := range v.Tiles {
		if tile.Health == fleetview.HealthIdle || !tile.WorksHidden {
			t.Errorf("carol's tile %s: %s, worksHidden %v; want Hidden (or Offline), never Idle", tile.Name, tile.Health, tile.WorksHidden)
		}
	}

	status, body = call(t, ts, "GET", "/api/whoami", s.Token(), "")
	if status != http.StatusOK || decode[Whoami](t, body).User != carol {
		t.Errorf("whoami: %d %s", status, body)
	}
}

func TestRolloutAPIReturnsDetailAndHistory(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, bob)
	status, body := call(t, ts, "GET", "/api/rollouts/flotilla-system/"+fixtureRollout, s.Token(), "")
	if status != http.StatusOK {
		t.Fatalf("GET rollout: %d %s", status, body)
	}
	d := decode[RolloutDetail](t, body)
	if d.Name != fixtureRollout || d.Promise != "web" || d.AwaitingApproval != "general" || len(d.History) != 2 ||
		d.History[1].To != fleetv1alpha1.RolloutPhaseWaitingForApproval || d.History[1].Actor != "hub" {
		t.Errorf("detail %+v", d)
	}

	status, body = call(t, ts, "GET", "/api/rollouts/flotilla-system/no-such-rollout", s.Token(), "")
	if status != http.StatusNotFound || !strings.Contains(decode[ErrorBody](t, body).Error, "not found") {
		t.Errorf("missing rollout: %d %s", status, body)
	}
}

// An action the user's RBAC forbids comes back as a 403 carrying the API
// server's own message, and changes nothing.
func TestActionForbiddenByRBACIs403WithTheServersMessage(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, bob)
	status, body := call(t, ts, "POST", "/api/rollouts/flotilla-system/"+fixtureRollout+"/approve", s.Token(), `{"message":"ship it"}`)
	if status != http.StatusForbidden {
		t.Fatalf("approve as bob: %d %s, want 403", status, body)
	}
	e := decode[ErrorBody](t, body)
	if e.Reason != "Forbidden" || !strings.Contains(e.Error, `User "bob" cannot patch resource "rollouts"`) {
		t.Errorf("error %+v: want the API server's Forbidden message", e)
	}
	ro := &fleetv1alpha1.Rollout{}
	c := promisetest.AdminClient(t, cfg)
	if err := c.Get(promisetest.TestContext(t), client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: fixtureRollout}, ro); err != nil {
		t.Fatal(err)
	}
	if len(ro.Spec.Approvals) != 0 {
		t.Errorf("a refused approval was written: %+v", ro.Spec.Approvals)
	}
}

// Alice approves: the approval names her, and a second approval changes
// nothing; a pause that the Rollout's state refuses is a 409.
func TestActionsGoThroughWithTheUsersIdentity(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, alice)
	path := "/api/rollouts/flotilla-system/" + otherRollout

	status, body := call(t, ts, "POST", path+"/approve", s.Token(), `{"message":"canary looks fine"}`)
	if status != http.StatusOK {
		t.Fatalf("approve: %d %s", status, body)
	}
	res := decode[ActionResult](t, body)
	if !res.Changed || !strings.Contains(res.Summary, "approved by alice") || len(res.Rollout.Approvals) != 1 ||
		res.Rollout.Approvals[0].By != alice || res.Rollout.Approvals[0].Message != "canary looks fine" {
		t.Errorf("approve result %+v", res)
	}

	status, body = call(t, ts, "POST", path+"/approve", s.Token(), "")
	if status != http.StatusOK || decode[ActionResult](t, body).Changed {
		t.Errorf("second approve: %d %s, want 200 with nothing changed", status, body)
	}

	status, body = call(t, ts, "POST", path+"/resume", s.Token(), "")
	if status != http.StatusOK || !strings.Contains(decode[ActionResult](t, body).Summary, "neither paused nor halted") {
		t.Errorf("resume of a running rollout: %d %s", status, body)
	}

	status, body = call(t, ts, "POST", path+"/approve", s.Token(), `{"wave":"nightly"}`)
	if status != http.StatusConflict || !strings.Contains(decode[ErrorBody](t, body).Error, `has no wave "nightly"`) {
		t.Errorf("approving an unknown wave: %d %s, want 409", status, body)
	}

	status, body = call(t, ts, "POST", path+"/promote", s.Token(), "")
	if status != http.StatusNotFound {
		t.Errorf("unknown action: %d %s", status, body)
	}
	status, body = call(t, ts, "POST", path+"/approve", s.Token(), `{"messages":"typo"}`)
	if status != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", status, body)
	}
	status, body = call(t, ts, "POST", path+"/pause", s.Token(), `{"message":"`+strings.Repeat("x", 1025)+`"}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "at most 1024") {
		t.Errorf("long message: %d %s", status, body)
	}
}

// Every API request needs the token, every request a loopback Host, and a
// change a same-origin caller; the refusals change nothing.
func TestRequestsWithoutTokenOrFromElsewhereAreRefused(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, alice)
	path := "/api/rollouts/flotilla-system/" + fixtureRollout + "/pause"

	for _, tc := range []struct {
		name   string
		method string
		path   string
		token  string
		tweak  func(*http.Request)
		want   int
	}{
		{"fleet without a token", "GET", "/api/fleet", "", nil, http.StatusForbidden},
		{"fleet with a bad token", "GET", "/api/fleet", "not-the-token", nil, http.StatusForbidden},
		{"pause with a bad token", "POST", path, "not-the-token", nil, http.StatusForbidden},
		{"pause from another origin", "POST", path, s.Token(), func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, http.StatusForbidden},
		{"pause from another site, without an Origin", "POST", path, s.Token(), func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, http.StatusForbidden},
		{"page through a rebound name", "GET", "/", "", func(r *http.Request) { r.Host = "evil.example" }, http.StatusMisdirectedRequest},
		{"pause through a rebound name", "POST", path, s.Token(), func(r *http.Request) { r.Host = "evil.example:80" }, http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tweaks []func(*http.Request)
			if tc.tweak != nil {
				tweaks = append(tweaks, tc.tweak)
			}
			status, body := call(t, ts, tc.method, tc.path, tc.token, "", tweaks...)
			if status != tc.want {
				t.Errorf("%d %s, want %d", status, body, tc.want)
			}
			if strings.Contains(string(body), s.Token()) {
				t.Errorf("a refused request got the token back: %s", body)
			}
		})
	}
	ro := &fleetv1alpha1.Rollout{}
	if err := promisetest.AdminClient(t, cfg).Get(promisetest.TestContext(t),
		client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: fixtureRollout}, ro); err != nil {
		t.Fatal(err)
	}
	if ro.Spec.DesiredState == fleetv1alpha1.RolloutPaused {
		t.Error("a refused request paused the rollout")
	}
}

// The page carries the token and a strict CSP; its assets are embedded.
func TestPageAndAssets(t *testing.T) {
	cfg := fixtureFleet(t)
	s, ts := dashboardFor(t, cfg, alice)
	res, err := ts.Client().Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), `<meta name="flotilla-token" content="`+s.Token()+`">`) {
		t.Errorf("page: %d %s", res.StatusCode, page)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// Nothing is loaded from elsewhere.
	external := regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`)
	for _, asset := range []struct{ path, contentType string }{
		{"/static/app.js", "text/javascript"}, {"/static/style.css", "text/css"},
	} {
		res, err := ts.Client().Get(ts.URL + asset.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), asset.contentType) || len(b) < 1000 {
			t.Errorf("%s: %d %s, %d bytes", asset.path, res.StatusCode, res.Header.Get("Content-Type"), len(b))
		}
		if external.Match(b) || strings.Contains(string(b), "@import") {
			t.Errorf("%s loads something from elsewhere", asset.path)
		}
	}
	if external.Match(page) {
		t.Error("the page loads something from elsewhere")
	}
	res, err = ts.Client().Get(ts.URL + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", res.StatusCode)
	}
}

// Serve listens on loopback, says where, answers, and stops with its context.
func TestServeOnLoopbackUntilCancelled(t *testing.T) {
	cfg := fixtureFleet(t)
	if err := Serve(context.Background(), cfg, "0.0.0.0:0", nil); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("Serve on 0.0.0.0: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, as(cfg, bob), "127.0.0.1:0", func(url string) { urls <- url }) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not start within 30s")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("url %q", url)
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "Flotilla") {
		t.Errorf("GET %s: %d", url, res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after its context ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not stop within 30s")
	}
	if res, err := http.Get(url); err == nil {
		_ = res.Body.Close()
		t.Error("still answering after Serve returned")
	}
}

func TestStatusOfErrors(t *testing.T) {
	if got, _ := statusOf(context.DeadlineExceeded); got != http.StatusGatewayTimeout {
		t.Errorf("deadline: %d", got)
	}
	if got, _ := statusOf(errors.New("rollout x is not waiting for an approval")); got != http.StatusConflict {
		t.Errorf("refusal: %d", got)
	}
}

// failFirstReview is a transport that fails the first SelfSubjectReview (a
// hub that did not answer in time), and passes everything else.
type failFirstReview struct {
	next   http.RoundTripper
	failed atomic.Bool
}

func (f *failFirstReview) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/selfsubjectreviews") && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("connection reset by peer")
	}
	return f.next.RoundTrip(req)
}

// The dashboard runs for hours: when the hub could not say who the user is
// at its first action (a timeout, during an incident), it recorded the
// user as "unknown" for every later action too, which the hub's admission
// policy refuses (by must be the user): Approve, Pause and Roll back failed
// until the dashboard was restarted.
func TestAnIdentityTheHubDidNotGiveIsAskedAgain(t *testing.T) {
	hub := testenv.NewHubWithCRDs(t)
	e := promisetest.NewEnv(t, hub.RESTConfig)
	grantRoles(t, e.C)
	createRollout(t, e, "web-9", "web", "web-r1", "web-r2", metav1.NewTime(time.Now().Truncate(time.Second)))
	cfg := as(hub.RESTConfig, alice)
	direct, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	promisetest.Eventually(t, 30*time.Second, "the hub's admission policy in force", func() (bool, string) {
		ro := &fleetv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "web-9"}}
		err := direct.Patch(e.Ctx, ro, client.RawPatch(types.MergePatchType,
			[]byte(`{"spec":{"desiredState":"Paused","stateChange":{"by":"`+rolloutctl.UnknownActor+`"}}}`)), client.DryRunAll)
		return apierrors.IsForbidden(err), fmt.Sprint(err)
	})
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &failFirstReview{next: rt} }
	s, err := New(cfg, Options{Warn: func(msg string) { t.Log("warning:", msg) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	path := "/api/rollouts/" + fleetv1alpha1.PlatformNamespace + "/web-9/pause"

	status, body := call(t, ts, "POST", path, s.Token(), `{"message":"latency alert"}`)
	if status == http.StatusOK {
		t.Fatalf("the first pause, with no identity, went through: %s", body)
	}
	status, body = call(t, ts, "POST", path, s.Token(), `{"message":"latency alert"}`)
	if status != http.StatusOK {
		t.Fatalf("the second pause, the hub answering again: %d %s", status, body)
	}
	if sc := decode[ActionResult](t, body).Rollout.StateChange; sc == nil || sc.By != alice {
		t.Errorf("the pause records %+v, want by %s", sc, alice)
	}
}
