package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PrometheusBinary is where Debian's prometheus package installs the server.
const PrometheusBinary = "/usr/bin/prometheus"

// Prometheus is a real Prometheus server on loopback, scraping targets every
// ScrapeInterval, for tests of verification checks.
type Prometheus struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123.
	URL string
	// ScrapeInterval is how often it scrapes (and evaluates).
	ScrapeInterval time.Duration
	proc           *process
}

// StartPrometheus starts binary (PrometheusBinary, or a path a test chose)
// scraping each target ("127.0.0.1:PORT", path /metrics) every second, with
// its data in a temporary directory, and stops it when the test ends.
func StartPrometheus(t TB, binary string, targets ...string) *Prometheus {
	t.Helper()
	dir, err := os.MkdirTemp("", "flotilla-prometheus-")
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ports, err := freePorts(1)
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	p := &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), ScrapeInterval: time.Second}
	quoted := make([]string, len(targets))
	for i, target := range targets {
		quoted[i] = fmt.Sprintf("%q", target)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: test
    static_configs:
      - targets: [%s]
`, strings.Join(quoted, ", "))
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	p.proc, err = startProcess(dir, "prometheus", binary,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+strings.TrimPrefix(p.URL, "http://"),
		"--log.level=warn")
	if err != nil {
		t.Fatalf("prometheus: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.proc.tailLog(30))
		}
		p.proc.stop(10 * time.Second)
	})
	if err := p.waitReady(60 * time.Second); err != nil {
		t.Fatalf("prometheus: %v\n%s", err, p.proc.tailLog(30))
	}
	return p
}

// waitReady waits for /-/ready.
func (p *Prometheus) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if done, err := p.proc.exited(); done {
			return fmt.Errorf("exited: %w", err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Pid is the server's process id.
func (p *Prometheus) Pid() int { return p.proc.pid() }
