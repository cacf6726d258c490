//go:build !agent

package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestDashboardFlags(t *testing.T) {
	checkFlags(t, &dashboardOptions{}, nil, "", func(o *dashboardOptions) bool {
		return o.listen() == "127.0.0.1:8089" && o.kubeContext == "" && o.namespace == ""
	})
	checkFlags(t, &dashboardOptions{}, []string{"--port", "0", "--address", "::1", "--context", "hub", "-n", "team-a"}, "",
		func(o *dashboardOptions) bool {
			return o.listen() == "[::1]:0" && o.kubeContext == "hub" && o.namespace == "team-a"
		})
	checkFlags(t, &dashboardOptions{}, []string{"--address", "localhost"}, "", func(o *dashboardOptions) bool { return o.listen() == "localhost:8089" })
	checkFlags(t, &dashboardOptions{}, []string{"--address", "0.0.0.0"}, "loopback only", nil)
	checkFlags(t, &dashboardOptions{}, []string{"--address", "10.0.0.5"}, "loopback only", nil)
	checkFlags(t, &dashboardOptions{}, []string{"--port", "70000"}, "--port 70000", nil)
}

// lockedBuffer is a bytes.Buffer that a command may write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `flotilla dashboard` prints its URL, serves the page there with the
// kubeconfig's credentials, and stops when its context ends.
func TestDashboardCommandServesUntilInterrupted(t *testing.T) {
	hub := testenv.NewHub(t)
	run := func(ctx context.Context, out io.Writer, args ...string) error {
		root := newRootCommand()
		root.SetOut(out)
		root.SetErr(out)
		root.SetArgs(append([]string{"dashboard", "--kubeconfig", hub.KubeconfigPath}, args...))
		return root.ExecuteContext(ctx)
	}

	var out bytes.Buffer
	if err := run(context.Background(), &out, "--context", "no-such-context"); err == nil || !strings.Contains(err.Error(), "no-such-context") {
		t.Errorf("an unknown context: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buf := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, buf, "--port", "0") }()
	urlRE := regexp.MustCompile(`Flotilla dashboard: (http://127\.0\.0\.1:\d+/)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlRE.FindStringSubmatch(buf.String()); m != nil {
			url = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("the dashboard stopped: %v; output:\n%s", err, buf.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed within 30s; output:\n%s", buf.String())
		}
	}
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="flotilla-token"`) {
		t.Errorf("GET %s: %d %s", url, res.StatusCode, page)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the dashboard did not stop within 30s")
	}
}
