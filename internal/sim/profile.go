package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// freeLocalAddr returns a loopback address with a port free at the time of
// the call, for a child process to listen on.
func freeLocalAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return addr, nil
}

// cpuProfiler takes CPU profiles of the hub controller, kube-apiserver and
// the simulator itself (its agents) at the same time, each over the same
// window, and writes them to dir as hub-controller.pprof,
// kube-apiserver.pprof and simulator.pprof (`go tool pprof FILE`).
type cpuProfiler struct {
	dir       string
	hubPprof  string // host:port of the hub controller's pprof endpoint
	apiserver rest.Interface
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	mu        sync.Mutex
	errs      []error
}

// start begins both profiles over window; wait returns when both are written.
func (p *cpuProfiler) start(ctx context.Context, window time.Duration) {
	secs := strconv.Itoa(max(1, int(window/time.Second)))
	// The server stops sampling after window; leave room for the transfer.
	ctx, p.cancel = context.WithTimeout(ctx, window+time.Minute)
	p.wg.Add(3)
	go func() {
		defer p.wg.Done()
		p.record(p.profileSelf(ctx, window))
	}()
	go func() {
		defer p.wg.Done()
		p.record(p.fetchHub(ctx, "profile?seconds="+secs, "hub-controller.pprof"))
	}()
	go func() {
		defer p.wg.Done()
		data, err := p.apiserver.Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).Timeout(window + time.Minute).DoRaw(ctx)
		if err != nil {
			p.record(fmt.Errorf("profiling kube-apiserver: %w", err))
			return
		}
		p.record(p.write("kube-apiserver.pprof", data))
	}()
}

// profileSelf profiles this process (the simulated agents) over window.
func (p *cpuProfiler) profileSelf(ctx context.Context, window time.Duration) error {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return fmt.Errorf("profiling the simulator: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(window):
	}
	pprof.StopCPUProfile()
	return p.write("simulator.pprof", buf.Bytes())
}

// fetchHub writes the hub controller's profile at /debug/pprof/<profile> to dir/<name>.
func (p *cpuProfiler) fetchHub(ctx context.Context, profile, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.hubPprof+"/debug/pprof/"+profile, nil)
	if err != nil {
		return fmt.Errorf("profiling the hub controller: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profiling the hub controller: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("profiling the hub controller: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiling the hub controller: %s: %s", resp.Status, data)
	}
	return p.write(name, data)
}

func (p *cpuProfiler) write(name string, data []byte) error {
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o600); err != nil {
		return fmt.Errorf("writing the %s profile: %w", name, err)
	}
	return nil
}

func (p *cpuProfiler) record(err error) {
	if err == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, err)
}

// wait waits for both profiles and returns what went wrong taking them.
func (p *cpuProfiler) wait() error {
	p.wg.Wait()
	p.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}
