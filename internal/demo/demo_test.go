package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The whole demo, as `flotilla demo` runs it, on real control planes: it
// must end as it says, and say the milestones a user is shown.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end: starts a hub and five member control planes")
	}
	dir, err := os.MkdirTemp("", testenv.DirPrefix+"demo-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo directory (logs) kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// With Keep, the demo stays up after its story and serves the dashboard;
	// the test reads the page, then ends it as Ctrl-C would.
	var out syncBuffer
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Out: &out, Keep: true, DashboardAddress: "127.0.0.1:0"})
	}()
	dashboardURL := regexp.MustCompile(`Dashboard: (http://127\.0\.0\.1:\d+/)`)
	var page string
	for page == "" {
		select {
		case err := <-done:
			t.Fatalf("demo ended before it served the dashboard: %v\nnarration:\n%s", err, out.String())
		case <-time.After(time.Second):
		}
		if m := dashboardURL.FindStringSubmatch(out.String()); m != nil {
			page = getPage(t, m[1])
		}
	}
	t.Logf("the demo ran in %s", time.Since(start).Round(time.Second))
	if !strings.Contains(page, "<html") {
		t.Errorf("the dashboard the demo serves answered:\n%s", page)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo failed: %v\nnarration:\n%s", err, out.String())
	}
	narration := out.String()
	// The hub's admin credentials of testenv are user "admin": the approver.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^== 1/8  A fleet: one hub and five member clusters$`),
		regexp.MustCompile(`(?m)^== 8/8  After the rollback`),
		regexp.MustCompile(`\$ flotilla rollout approve web-2 -m "pilot and canary are healthy"`),
		regexp.MustCompile(`wave general of rollout web-2 approved by admin`),
		regexp.MustCompile(`(?m)^ok: rollout web-2 Succeeded: every member runs nginx:1\.28; wave general was approved by admin\.$`),
		regexp.MustCompile(`WaitingForApproval → Progressing\s+general\s+admin\s+wave general approved by admin`),
		// The live view polls: the short RollingBack phase may fall between two
		// looks, the terminal phase never does.
		regexp.MustCompile(`\[\d:\d\d\] rollout web-3: RolledBack \(wave canary\)`),
		regexp.MustCompile(`(?m)^ok: rollout web-3 RolledBack: wave canary \(member-2, member-3\) breached its failure budget, and every member is back on nginx:1\.28\.$`),
		regexp.MustCompile(`member-2 \(wave canary\): ImagePullBackOff\n\s+.*container \S+: Back-off pulling image`),
		regexp.MustCompile(`member-3 \(wave canary\): ImagePullBackOff`),
		regexp.MustCompile(`(?m)^The demo ended as it should`),
	} {
		if !want.MatchString(narration) {
			t.Errorf("the narration lacks %s", want)
		}
	}
	if strings.Contains(narration, "\x1b[") {
		t.Error("the narration to a buffer has terminal escapes")
	}
	if t.Failed() {
		t.Logf("narration:\n%s", narration)
	}

	// The commands shown work on the files left behind, and nothing runs any more.
	if _, err := os.Stat(filepath.Join(dir, manifestsDir, promiseAsset)); err != nil {
		t.Errorf("the manifests the narration names are not there: %v", err)
	}
	for _, f := range []string{devenv.ReadyFile, devenv.PIDFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left after the demo stopped: %v", f, err)
		}
	}
}

// syncBuffer is a bytes.Buffer the demo writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func getPage(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test's one request to loopback
	if err != nil {
		t.Fatalf("reading the dashboard at %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard at %s: status %d, error %v", url, resp.StatusCode, err)
	}
	return string(body)
}
