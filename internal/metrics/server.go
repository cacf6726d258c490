package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Handler serves, on /metrics, controller-runtime's global registry (its
// controllers, work queues, client, Go runtime and process) together with
// the hub's own. A collector that fails is logged and left out; the rest is
// still served.
func Handler(hub prometheus.Gatherer, log logr.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{ctrlmetrics.Registry, hub}, promhttp.HandlerOpts{
		ErrorLog:      logAdapter{log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// Server serves Handler on addr while the manager runs, on every replica
// (it needs no leader election). It replaces controller-runtime's metrics
// server, which serves only the global registry.
type Server struct {
	Addr    string
	Handler http.Handler
	Log     logr.Logger
}

// Start listens on Addr and serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", s.Addr, err)
	}
	srv := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			s.Log.Error(err, "stopping the metrics server")
		}
	}()
	s.Log.Info("serving metrics", "address", l.Addr().String())
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics: %w", err)
	}
	<-stopped // Shutdown returned: open scrapes are answered
	return nil
}

// NeedLeaderElection is false: every replica serves its metrics.
func (s *Server) NeedLeaderElection() bool { return false }

// logAdapter passes promhttp's errors to logr.
type logAdapter struct{ log logr.Logger }

func (a logAdapter) Println(v ...any) { a.log.Info("serving metrics", "error", fmt.Sprint(v...)) }
