package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The browser tests drive Debian's chromium in headless mode through the
// DevTools protocol, against a dashboard on a real hub.

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumFlags are the browser's flags; a fresh --user-data-dir is added
// per test.
var chromiumFlags = []string{"headless", "no-sandbox", "disable-gpu", "disable-background-networking",
	"disable-component-update", "disable-sync"}

// needChromium returns the browser's path, installing Debian's chromium
// package when it is missing (or skipping the test loudly if that fails).
func needChromium(t *testing.T) string {
	t.Helper()
	return testenv.NeedDebianPackage(t, "chromium", chromiumPath)
}

// browser is a headless chromium tab for one test.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu sync.Mutex
	// problems are the page's uncaught exceptions and console errors.
	problems []string
}

// newBrowser starts chromium with chromiumFlags and a fresh profile, and
// stops it when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := needChromium(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}
	for _, f := range chromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Logf("chromium started in %s", time.Since(start).Round(time.Millisecond))
	b := &browser{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs steps within d.
func (b *browser) do(d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.report())
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v%s", expr, err, b.report())
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true or d passes.
func (b *browser) waitFor(d time.Duration, what, predicate string) {
	b.t.Helper()
	start := time.Now()
	b.do(d+5*time.Second, "waiting for "+what,
		chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d)))
	b.t.Logf("page: %s after %s", what, time.Since(start).Round(time.Millisecond))
}

// report is what the page said that went wrong, for a failure message.
func (b *browser) report() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) == 0 {
		return ""
	}
	return "\npage errors:\n  " + strings.Join(b.problems, "\n  ")
}

// count is how many elements match a CSS selector.
func count(b *browser, selector string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", selector))
}

// text is the text of the first element matching a CSS selector, or "".
func text(b *browser, selector string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", selector))
}

// artifactDir is $FLOTILLA_ARTIFACTS, else a directory of the test.
func artifactDir(t *testing.T) string {
	if dir := os.Getenv("FLOTILLA_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

const (
	screenWidth  = 1280
	screenHeight = 900
)

// The page draws the fixture fleet: a tile per cluster, coloured by health,
// the version chart per Promise, the rollout waiting for approval with its
// Approve button, the failure list and the freeze; and a screenshot of it is
// a real, non-trivial picture of the expected size.
func TestBrowserShowsTheFleet(t *testing.T) {
	cfg := fixtureFleet(t)
	_, ts := dashboardFor(t, cfg, alice)
	b := newBrowser(t)

	start := time.Now()
	b.do(30*time.Second, "loading the page",
		chromedp.EmulateViewport(screenWidth, screenHeight),
		chromedp.Navigate(ts.URL),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`, chromedp.WithPollingTimeout(20*time.Second)))
	t.Logf("page loaded and drawn in %s", time.Since(start).Round(time.Millisecond))

	if got := count(b, `[data-testid=cluster-tile]`); got != 6 {
		t.Errorf("%d cluster tiles, want 6", got)
	}
	for cluster, health := range map[string]string{"eu-1": "Healthy", "us-2": "Failed", "ap-1": "Offline", "idle-1": "Idle"} {
		sel := fmt.Sprintf(`[data-testid=cluster-tile][data-cluster=%q].health-%s`, cluster, health)
		if count(b, sel) != 1 {
			t.Errorf("no %s tile for %s (%s)", health, cluster, sel)
		}
	}
	// Grouped by the wave of the rollout in flight (two rollouts share the
	// clusters; the newest names them), plus the idle cluster.
	if got := count(b, `[data-testid=tile-group]`); got != 3 {
		t.Errorf("%d tile groups, want the canary wave, the general wave and the rest", got)
	}
	if got := count(b, `[data-testid=promise-chart]`); got != 2 {
		t.Errorf("%d version charts, want 2", got)
	}
	if got := count(b, `[data-testid=promise-chart][data-promise=web] [data-testid=revision-segment]`); got != 2 {
		t.Errorf("web's chart has %d segments, want 2", got)
	}
	// web-r2 is applied on eu-1, eu-2 and us-2, but us-2 fails on it: 2 of 5
	// clusters are healthy on it, and us-2 is shown apart.
	if got := text(b, `[data-testid=promise-chart][data-promise=web] [data-testid=revision-segment][data-revision=web-r2]`); got != "40%" {
		t.Errorf("web-r2's segment says %q, want 40%%", got)
	}
	if got := text(b, `[data-testid=promise-chart][data-promise=web] [data-testid=revision-segment-not-healthy][data-revision=web-r2]`); got != "20%" {
		t.Errorf("web-r2's not-healthy segment says %q, want 20%%", got)
	}
	if got := count(b, `[data-testid=failure-row]`); got != 1 {
		t.Errorf("%d failure rows, want 1", got)
	}
	if got := text(b, `[data-testid=failure-row]`); !strings.Contains(got, "us-2") || !strings.Contains(got, "ProgressDeadlineExceeded") {
		t.Errorf("failure row %q", got)
	}
	if got := count(b, `[data-testid=rollout][data-rollout="flotilla-system/`+fixtureRollout+`"] [data-testid=approve]`); got != 1 {
		t.Errorf("%d Approve buttons on %s, want 1", got, fixtureRollout)
	}
	if got := text(b, `[data-testid=freeze]`); !strings.Contains(got, "end-of-year change freeze") {
		t.Errorf("freeze banner %q", got)
	}
	if got := text(b, `[data-testid=identity]`); got != "as alice" {
		t.Errorf("identity %q", got)
	}
	if got := text(b, `[data-testid=count-total] dd`); got != "6" {
		t.Errorf("header counts %q clusters", got)
	}
	if !eval[bool](b, `document.querySelector('[data-testid=hidden-notice]').hidden`) {
		t.Error("alice sees a hidden-by-RBAC notice")
	}
	// The Drift panel: the counts, then unexplained drift first, highlighted.
	if got := text(b, `[data-testid=drift-summary]`); got != "2 resources drifted on 2 clusters: 1 unexplained, 1 accepted" {
		t.Errorf("drift summary %q", got)
	}
	if got := count(b, `[data-testid=drift-row]`); got != 2 {
		t.Errorf("%d drift rows, want 2", got)
	}
	if got := text(b, `[data-testid=drift-row].drift-Unexplained[data-cluster=eu-1]`); !strings.Contains(got, "ConfigMap/shop/cart") ||
		!strings.Contains(got, "data.size [accepted: data.color]") || !strings.Contains(got, "kubectl-edit") {
		t.Errorf("eu-1's unexplained drift row %q", got)
	}
	if got := text(b, `[data-testid=drift-row].drift-Accepted[data-cluster=us-1]`); !strings.Contains(got, "shop/tolerated (db-team, declared by dana, expires ") {
		t.Errorf("us-1's accepted drift row %q", got)
	}
	if !eval[bool](b, `getComputedStyle(document.querySelector('[data-testid=drift-row]')).backgroundColor !== getComputedStyle(document.querySelectorAll('[data-testid=drift-row]')[1]).backgroundColor`) {
		t.Error("the unexplained drift row is not highlighted")
	}
	if got := text(b, `[data-testid=count-drift] dd`); got != "1" {
		t.Errorf("header counts %q unexplained drift", got)
	}

	// Group by a label instead.
	b.do(10*time.Second, "grouping by region",
		chromedp.SetValue(chromedp.CSS(`#group-by`), "label:region"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("group-by").dispatchEvent(new Event("change"))`))
	if got := count(b, `[data-testid=tile-group]`); got != 4 {
		t.Errorf("%d groups by region, want ap, eu, id, us", got)
	}
	b.do(10*time.Second, "grouping by wave", chromedp.SetValue(chromedp.CSS(`#group-by`), "wave"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("group-by").dispatchEvent(new Event("change"))`))

	shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	full, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := artifactDir(t)
	for name, data := range map[string][]byte{"dashboard.png": shot, "dashboard-full.png": full} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", path, len(data))
	}
	checkScreenshot(t, shot, screenWidth, screenHeight)
	if problems := b.report(); problems != "" {
		t.Errorf("the page reported errors:%s", problems)
	}
}

// checkScreenshot asserts data is a PNG of width×height with a real picture
// on it: many colours, among them the tiles' health colours.
func checkScreenshot(t *testing.T, data []byte, width, height int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got != (image.Point{X: width, Y: height}) {
		t.Errorf("screenshot is %v, want %dx%d", got, width, height)
	}
	colours := map[[3]uint32]int{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	if len(colours) < 100 || len(data) < 20_000 {
		t.Errorf("screenshot has %d colours in %d bytes: it looks blank", len(colours), len(data))
	}
	// The health colours of static/style.css: healthy, failed, offline.
	for name, c := range map[string][3]uint32{"healthy": {0x2e, 0x7d, 0x32}, "failed": {0xc6, 0x28, 0x28}, "offline": {0x54, 0x6e, 0x7a}} {
		if colours[c] < 50 {
			t.Errorf("the screenshot shows almost no %s tile colour #%02x%02x%02x (%d pixels)", name, c[0], c[1], c[2], colours[c])
		}
	}
}

// Bob may read but not patch Rollouts: his click on Approve shows the API
// server's refusal in the page, and nothing changes. Carol, who may list
// only Clusters, sees them and a notice of what is hidden from her.
func TestBrowserShowsTheServersRefusal(t *testing.T) {
	cfg := fixtureFleet(t)
	_, ts := dashboardFor(t, cfg, bob)
	b := newBrowser(t)

	card := `[data-testid=rollout][data-rollout="flotilla-system/` + fixtureRollout + `"]`
	b.do(30*time.Second, "loading the page",
		chromedp.EmulateViewport(screenWidth, screenHeight),
		chromedp.Navigate(ts.URL),
		chromedp.WaitVisible(chromedp.CSS(card+` [data-testid=approve]`)),
		chromedp.Click(chromedp.CSS(card+` [data-testid=approve]`)))
	b.waitFor(15*time.Second, "the refusal", fmt.Sprintf(`(document.querySelector(%q) || {}).textContent?.includes("Forbidden")`,
		card+` [data-testid=action-status]`))
	got := text(b, card+` [data-testid=action-status]`)
	if !strings.Contains(got, `User "bob" cannot patch resource "rollouts"`) {
		t.Errorf("the page says %q, want the API server's message", got)
	}
	if !eval[bool](b, fmt.Sprintf(`document.querySelector(%q).classList.contains("error")`, card+` [data-testid=action-status]`)) {
		t.Error("the refusal is not shown as an error")
	}
	if got := count(b, card+` [data-testid=wave-approval]`); got != 0 {
		t.Errorf("the page shows %d approvals after a refused one", got)
	}

	// Carol may list only Clusters: the page shows them and names the rest
	// as hidden.
	_, carolTS := dashboardFor(t, cfg, carol)
	b.do(30*time.Second, "loading carol's page", chromedp.Navigate(carolTS.URL),
		chromedp.Poll[chromedp.Void](`document.body.dataset.loaded === "true"`, chromedp.WithPollingTimeout(20*time.Second)))
	notice := text(b, `[data-testid=hidden-notice]`)
	if eval[bool](b, `document.querySelector('[data-testid=hidden-notice]').hidden`) ||
		!strings.Contains(notice, "fleetfreezes, promises, rollouts, works") {
		t.Errorf("hidden notice %q", notice)
	}
	if got := count(b, `[data-testid=cluster-tile]`); got != 6 {
		t.Errorf("carol sees %d tiles, want 6", got)
	}
	if got := text(b, `[data-testid=rollouts]`); got != "Rollouts are hidden: your credentials may not list them." {
		t.Errorf("carol's rollouts: %q", got)
	}
	// What she may not list is unknown, not idle or zero.
	if got := count(b, `[data-testid=cluster-tile][data-health=Hidden]`); got != 5 {
		t.Errorf("carol sees %d Hidden tiles, want every cluster but the offline one", got)
	}
	if got := text(b, `[data-testid=count-failures] dd`); got != "hidden" {
		t.Errorf("carol's header counts %q failing Works", got)
	}
}
