// Package dashboard serves Flotilla's web page on the operator's own
// machine: the fleet grid, each Rollout's waves, the version distribution
// per Promise and the failures, with buttons to approve, pause, resume and
// roll back. It talks to the hub with the operator's own credentials, so
// Kubernetes RBAC alone decides what the page shows and what it may do.
//
// The page, its script and its style are embedded in the binary; the script
// polls the API (see pollInterval in static/app.js and Server.fleet for why).
// The server listens on loopback only and guards every request against
// DNS rebinding (Host) and cross-site use (Origin, Sec-Fetch-Site and a
// per-process token only the served page knows).
package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

// DefaultPort is the port `flotilla dashboard` listens on unless told otherwise.
const DefaultPort = 8089

// minReadInterval is how old a fleet read may be and still be served to
// another poll: however many tabs poll, the hub sees at most one read of
// each kind per interval.
const minReadInterval = time.Second

// shutdownGrace bounds how long Serve waits for requests in flight once its
// context ends.
const shutdownGrace = 5 * time.Second

// Options configure a Server.
type Options struct {
	// Namespace is where Rollouts are listed when the user may not list
	// them in every namespace (hubread.Options.Namespace).
	Namespace string
	// Token guards the API; empty picks a random one.
	Token string
	// Clock stamps fleet reads; nil is the real clock.
	Clock clock.PassiveClock
	// Warn receives warnings that do not stop an action (an identity the
	// hub would not tell); nil discards them.
	Warn func(string)
}

// Server is the dashboard's http.Handler.
type Server struct {
	reader   client.Reader
	rollouts *rolloutctl.Client
	clock    clock.PassiveClock
	ns       string
	token    string
	mux      *http.ServeMux

	// mu guards the last fleet read, shared by polls within minReadInterval.
	mu       sync.Mutex
	lastRead time.Time
	lastView *fleetview.View
}

// New returns the dashboard handler for the hub cfg reaches, acting with
// cfg's credentials.
func New(cfg *rest.Config, opts Options) (*Server, error) {
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return nil, fmt.Errorf("creating hub client: %w", err)
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	token := opts.Token
	if token == "" {
		if token, err = newToken(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		reader:   c,
		rollouts: rolloutctl.NewForClient(c, clk, opts.Warn),
		clock:    clk,
		ns:       opts.Namespace,
		token:    token,
	}
	if s.mux, err = s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Token is what the page sends in the X-Flotilla-Token header.
func (s *Server) Token() string { return s.token }

// ServeHTTP refuses requests that fail the guard and routes the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	if status, msg := s.guard(r); status != 0 {
		writeError(w, status, msg)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// newToken is 32 random bytes, URL-safe.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("creating the dashboard token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Serve runs the dashboard for the hub cfg reaches on listen (host:port, a
// loopback host; port 0 picks a free one) until ctx ends. started, if not
// nil, receives the page's URL once the port is open.
func Serve(ctx context.Context, cfg *rest.Config, listen string, started func(url string)) error {
	return ServeWith(ctx, cfg, listen, Options{}, started)
}

// ServeWith is Serve with Options.
func ServeWith(ctx context.Context, cfg *rest.Config, listen string, opts Options, started func(url string)) error {
	log := logr.FromContextOrDiscard(ctx)
	if err := CheckListenAddress(listen); err != nil {
		return err
	}
	if opts.Warn == nil {
		opts.Warn = func(msg string) { log.Info("warning", "message", msg) }
	}
	s, err := New(cfg, opts)
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("listening on %s: got %s, which is not a loopback address", listen, ln.Addr())
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	url := "http://" + net.JoinHostPort(addr.IP.String(), strconv.Itoa(addr.Port)) + "/"
	log.Info("dashboard serving", "url", url)
	if started != nil {
		started(url)
	}
	select {
	case err := <-done:
		return fmt.Errorf("serving the dashboard: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("stopping the dashboard: %w", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the dashboard: %w", err)
	}
	return nil
}

// CheckListenAddress accepts host:port where host is "localhost" or a
// loopback IP: the dashboard acts with the user's credentials, so nothing
// but this machine may reach it.
func CheckListenAddress(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port: %w", listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: port %q is not a number from 0 to 65535", listen, port)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("listen address %q: the dashboard acts with your credentials and listens on loopback only "+
			"(127.0.0.1, ::1 or localhost); use an SSH tunnel to reach it from elsewhere", listen)
	}
	return nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
