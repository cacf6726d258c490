package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// The server answers /metrics with the hub's registry and controller-runtime's
// global one, stops when its context ends, and reports a port it cannot take.
func TestServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	reg := prometheus.NewRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "flotilla_test_up", Help: "test"})
	up.Set(1)
	reg.MustRegister(up)
	s := &Server{Addr: addr, Handler: Handler(reg, logr.Discard()), Log: logr.Discard()}
	if s.NeedLeaderElection() {
		t.Error("the metrics server waits for leader election")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()

	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics") //nolint:gosec,noctx // loopback test server
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics server never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(body, "flotilla_test_up 1") {
		t.Errorf("/metrics lacks the hub's registry:\n%s", body)
	}

	taken := &Server{Addr: addr, Handler: http.NotFoundHandler(), Log: logr.Discard()}
	if err := taken.Start(ctx); err == nil || !strings.Contains(err.Error(), "listening for metrics on "+addr) {
		t.Errorf("a second server on %s: %v", addr, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop")
	}
}
