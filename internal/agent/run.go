// Package agent is Flotilla's pull agent. It runs next to one member
// cluster, watches the Works in the cluster's own hub namespace, applies them
// to the member with server-side apply, prunes what leaves them, reports
// status and health back, heartbeats with a Lease, and keeps the last desired
// state on local disk so that it keeps the member as it was while the hub is
// unreachable.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/codepages"
	"github.com/flotilla-dev/flotilla/internal/reconnect"
)

// Run starts an agent and blocks until ctx is done; it returns nil on a
// clean stop. hub is scoped by RBAC to the cluster's own namespace (plus its
// own Cluster's status); member is the cluster the agent manages. Options are
// defaulted (see Options.Default) and validated first.
//
// Run does not need the hub to start: Works recorded in StateDir are applied
// to the member straight away, and status reporting resumes once the hub
// answers.
func Run(ctx context.Context, hub, member *rest.Config, opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("invalid agent options: %w", err)
	}
	if hub == nil || member == nil {
		return errors.New("invalid agent options: hub and member configurations are required")
	}
	opts = opts.Default()
	if opts.ClaimNamespace != "" {
		if err := claimMember(ctx, member, opts.ClaimNamespace, opts.ClusterName, opts.ReportOnly); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while claiming: a clean stop
			}
			return err
		}
	}
	requests := newAPIRequests()
	m, err := newAPIMember(countRequests(member, requests, serverMember))
	if err != nil {
		return err
	}
	return runWith(ctx, hub, m, m.ping, opts, requests)
}

// RunWithMember runs an agent as Run does, with the same hub client, token
// rotation, queue and status reporting, but applying to an in-memory member
// instead of a member API server: the fleet simulator runs thousands of
// agents in one process this way. Its probes always answer ok.
func RunWithMember(ctx context.Context, hub *rest.Config, member *SimMember, opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("invalid agent options: %w", err)
	}
	if hub == nil || member == nil {
		return errors.New("invalid agent options: hub configuration and member are required")
	}
	return runWith(ctx, hub, member, func(context.Context) error { return nil }, opts.Default(), newAPIRequests())
}

// runWith runs an agent on member m (ping checks it) with defaulted options;
// requests counts the agent's API requests (its hub requests are counted
// here, its member's by whoever built m).
func runWith(ctx context.Context, hub *rest.Config, m member, ping func(context.Context) error, opts Options, requests *prometheus.CounterVec) error {
	hub, rotator, err := setupTokenRotation(countRequests(hub, requests, serverHub), opts.StateDir, opts.ClusterName, time.Now())
	if err != nil {
		return err
	}
	h, err := newHubClient(hub, opts.ClusterName)
	if err != nil {
		return err
	}
	a, err := newAgent(ctx, opts, h, m, requests)
	if err != nil {
		return err
	}
	a.rotator = rotator
	return a.run(ctx, ping)
}

func newAgent(ctx context.Context, opts Options, h *hubClient, m member, requests *prometheus.CounterVec) (*agent, error) {
	st, err := newStore(opts.StateDir, opts.ClusterName)
	if err != nil {
		return nil, err
	}
	met := newMetrics(requests)
	watcher, canWatch := m.(metadataWatcher)
	if opts.ReportOnly {
		m = readOnlyMember{m}
	}
	a := &agent{
		opts:    opts,
		log:     logr.FromContextOrDiscard(ctx).WithName("agent").WithValues("cluster", opts.ClusterName),
		hub:     h,
		member:  m,
		applier: &applier{member: m, metrics: met},
		store:   st,
		metrics: met,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(newJitterRateLimiter(time.Second, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: ""}),
		now:   time.Now,
		rand:  jitterRand,
		works: map[string]*workState{},
	}
	if opts.ReleaseCodePagesEvery > 0 {
		a.codeRelease = &codeRelease{every: opts.ReleaseCodePagesEvery, release: codepages.Release, log: a.log, results: met.codePageReleases}
	}
	if am, ok := m.(*apiMember); ok && !opts.ReportOnly {
		a.checker = &checker{dynamic: am.dynamic, cluster: opts.ClusterName}
	}
	a.informer = h.workInformer()
	notifier, notifies := m.(statusNotifier)
	switch {
	case opts.DisableDriftWatch || opts.ReportOnly:
	case canWatch:
		a.driftWatch, err = newDriftWatch(watcher, a.queue.AddAfter, met.registry)
		if err != nil {
			return nil, err
		}
		a.applier.watch = a.driftWatch
	case notifies:
		// No watch to run: the member tells of status changes itself, and
		// a converging Work gets its look as a watch event would ask for
		// it. The applier learns nothing from it about drift.
		a.driftWatch, err = newDriftWatch(nil, a.queue.AddAfter, met.registry)
		if err != nil {
			return nil, err
		}
		notifier.notifyStatus(a.driftWatch.statusChanged)
	}
	return a, nil
}

// run runs the agent until ctx is done. ping checks the member for /healthz.
func (a *agent) run(ctx context.Context, ping func(context.Context) error) error {
	log := a.log
	// client-go's reflector logs through klog's contextual logger.
	ctx = klog.NewContext(logr.NewContext(ctx, log), log)

	records, bad, err := a.store.load()
	if err != nil {
		return err
	}
	for path, err := range bad {
		log.Error(err, "ignoring unreadable state file; it is left for inspection", "file", path)
	}
	for name, rec := range records {
		st := &workState{record: rec}
		a.applier.owners.set(name, rec.Inventory)
		if rec.Work != nil {
			st.restoredHash = specHash(rec.Work)
			st.restoredManifests = rec.Work.Spec.Manifests
		}
		a.setState(name, st)
	}
	log.Info("starting agent", "namespace", a.hub.namespace, "recordedWorks", len(records),
		"heartbeatInterval", a.opts.HeartbeatInterval, "heartbeatGrace", a.opts.HeartbeatGrace, "resyncInterval", a.opts.ResyncInterval, "reportOnly", a.opts.ReportOnly, "driftWatch", a.applier.watch != nil)

	if _, judges := a.member.(dryRunner); judges {
		// Drift Events, where drift is judged (not in the fleet simulator).
		rec, stop := newEventRecorder(ctx, a.hub, a.opts.ClusterName)
		a.events = rec
		defer stop()
	}
	servers, err := a.listen(ping)
	if err != nil {
		return err
	}

	if _, err := a.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.enqueue,
		UpdateFunc: func(_, obj any) { a.enqueue(obj) },
		DeleteFunc: a.enqueue,
	}); err != nil {
		return fmt.Errorf("watching works: %w", err)
	}
	if err := a.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if !errors.Is(err, io.EOF) && !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			a.metrics.hubConnected.Set(0)
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	}); err != nil {
		return fmt.Errorf("watching works: %w", err)
	}

	// The member first: what was applied before keeps being applied, hub or not.
	for name := range records {
		a.queue.Add(name)
	}

	var wg sync.WaitGroup
	wg.Go(func() { a.informer.RunWithContext(ctx) })
	wg.Go(func() {
		if !cache.WaitForCacheSync(ctx.Done(), a.informer.HasSynced) {
			return
		}
		a.metrics.hubConnected.Set(1)
		// Now the hub is the truth: Works recorded locally but gone from the
		// hub get pruned, the others get their status.
		names := a.workNames()
		for _, key := range a.informer.GetStore().ListKeys() {
			if _, name, err := cache.SplitMetaNamespaceKey(key); err == nil {
				names = append(names, name)
			}
		}
		for _, name := range names {
			a.queue.Add(name)
		}
		log.Info("hub work cache synced", "works", len(a.informer.GetStore().ListKeys()))
	})
	wg.Go(func() { a.heartbeat(ctx) })
	if a.rotator != nil {
		log.Info("renewing the hub token before it expires", "expires", a.rotator.claims.expiry(), "file", a.rotator.path)
		wg.Go(func() { a.rotator.run(ctx) })
	}
	wg.Go(func() { a.runWorkers(ctx) })
	if a.codeRelease != nil {
		wg.Go(func() { a.codeRelease.run(ctx) })
	}
	if a.driftWatch != nil && a.driftWatch.member != nil {
		wg.Go(func() { a.driftWatch.run(ctx) })
	}
	for _, s := range servers {
		wg.Go(func() {
			if err := s.srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(err, "server stopped", "address", s.listener.Addr().String())
			}
		})
	}

	<-ctx.Done()
	log.Info("stopping agent")
	a.queue.ShutDownWithDrain()
	for _, s := range servers {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.Shutdown(shutdownCtx)
		cancel()
	}
	wg.Wait()
	return nil
}

func (a *agent) enqueue(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if w, ok := obj.(*fleetv1alpha1.Work); ok {
		a.queue.Add(w.Name)
	}
}

// heartbeat renews the Lease every HeartbeatInterval, with the member's
// facts on it (see hubClient.renewLease). Facts are read first, bounded by
// factsTimeout: a member that does not answer delays the renewal by at most
// that, and the last facts read are sent instead. A renewal that failed (the
// hub away, starting, or refusing) is retried soon (see heartbeatDelay), so
// that the hub sees the agent again within seconds of its return, not up to
// an interval later.
func (a *agent) heartbeat(ctx context.Context) {
	log := a.log
	holder, err := os.Hostname()
	if err != nil || holder == "" {
		holder = "flotilla-agent"
	}
	var known *clusterFacts
	self := agentIdentity{Version: a.opts.Version, Mode: fleetv1alpha1.AgentModeApply}
	if a.opts.ReportOnly {
		self.Mode = fleetv1alpha1.AgentModeReportOnly
	}
	leaseMissingLogged, refusalLogged, failures := false, false, 0
	var refusedSince time.Time // when the hub started refusing; zero while it does not
	for ctx.Err() == nil {
		start := time.Now()
		if facts, err := a.readFacts(ctx); err != nil {
			log.V(1).Info("reading cluster facts", "error", err.Error())
		} else {
			if known == nil || *known != facts {
				log.Info("reporting cluster facts", "kubernetesVersion", facts.KubernetesVersion, "nodeCount", facts.NodeCount, "agentVersion", a.opts.Version)
			}
			known = &facts
		}
		// A renewal is worth nothing once the next one is due: one stuck on
		// a hub that is starting (or a connection that went dead) must not
		// hold back the next.
		renewCtx, cancel := context.WithTimeout(ctx, a.opts.HeartbeatInterval)
		err := a.hub.renewLease(renewCtx, holder, a.opts.HeartbeatGrace, a.now(), known, self)
		cancel()
		a.metrics.heartbeats.WithLabelValues(outcome(err)).Inc()
		if retrySoon(err) {
			failures++
		} else {
			failures = 0
		}
		switch {
		case apierrors.IsNotFound(err):
			a.metrics.hubConnected.Set(1)
			refusedSince, refusalLogged = time.Time{}, false
			if !leaseMissingLogged {
				log.Error(err, "agent lease missing on the hub; `flotilla join` creates it; retrying")
				leaseMissingLogged = true
			}
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			a.metrics.hubConnected.Set(0)
			// A hub API server that just started refuses for a moment while
			// its caches fill; say so (once) only when it lasts two intervals.
			if refusedSince.IsZero() {
				refusedSince = start
			}
			if !refusalLogged && start.Sub(refusedSince) >= 2*a.opts.HeartbeatInterval {
				refusalLogged = true
				log.Error(err, "the hub keeps refusing the agent's credentials (expired or revoked token, or the cluster was unjoined); the member is kept as it is")
			}
		case err != nil:
			a.metrics.hubConnected.Set(0)
			log.V(1).Info("heartbeat failed", "error", err.Error())
		default:
			a.metrics.hubConnected.Set(1)
			leaseMissingLogged, refusedSince, refusalLogged = false, time.Time{}, false
		}
		// The period is not sliding (it starts before the renewal, not after
		// it), so renewals never come later than the interval the grace was
		// computed from.
		if !sleepUntil(ctx, start.Add(heartbeatDelay(a.opts.HeartbeatInterval, failures, a.rand()))) {
			return
		}
	}
}

// Retries of a failed renewal: as the Work watch reconnects
// (reconnect.AgentBase and reconnect.AgentMax), and never later than
// the heartbeat interval.
const (
	heartbeatRetryBase = reconnect.AgentBase
	heartbeatRetryMax  = reconnect.AgentMax
)

// retrySoon reports whether a renewal that ended with err is retried
// before the interval is up: any failure but an API server saying it is
// overloaded (429). Ten thousand agents retrying an overloaded hub within
// seconds would keep it overloaded (docs/benchmarks.md, "Overload, 429 and
// the Lease renewal"); client-go has already honoured its Retry-After.
func retrySoon(err error) bool {
	return err != nil && !apierrors.IsTooManyRequests(err)
}

// heartbeatDelay is how long after the start of a renewal the next one
// starts, given how many renewals in a row failed and a random number in
// [0, 1). After a renewal that succeeded it is the interval less up to 10%
// of jitter (jitter only shortens it: the grace is computed from the
// interval). After n failures in a row, it is the retry base
// doubled n-1 times, up to heartbeatRetryMax, stretched by up to 50% so that
// agents that lost the hub together do not return in step; never more than
// the interval.
func heartbeatDelay(interval time.Duration, failures int, random float64) time.Duration {
	steady := interval - time.Duration(float64(interval/10)*(1-random))
	if failures <= 0 {
		return steady
	}
	d := heartbeatRetryBase
	for i := 1; i < failures && d < heartbeatRetryMax; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, heartbeatRetryMax)) * (1 + 0.5*random))
	return min(d, steady)
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// readFacts reads the member's facts, giving up after factsTimeout (or a
// third of the heartbeat interval, when shorter) so a slow member does not
// hold back the heartbeat.
func (a *agent) readFacts(ctx context.Context) (clusterFacts, error) {
	ctx, cancel := context.WithTimeout(ctx, min(factsTimeout, a.opts.HeartbeatInterval/3))
	defer cancel()
	return a.member.facts(ctx)
}

// factsTimeout bounds reading the member's facts before a heartbeat.
const factsTimeout = 5 * time.Second

type server struct {
	srv      *http.Server
	listener net.Listener
}

// listen opens the metrics and probe endpoints (so that a taken port is an
// error from Run, not a log line).
func (a *agent) listen(ping func(context.Context) error) ([]server, error) {
	var servers []server
	add := func(addr string, handler http.Handler) error {
		if !enabled(addr) {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		servers = append(servers, server{listener: l, srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}})
		return nil
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{}))
	if err := add(a.opts.MetricsAddr, metricsMux); err != nil {
		return nil, err
	}
	probeMux := http.NewServeMux()
	// Alive means the member answers: applying to it is the agent's job.
	// Ready is the same: the hub being away is a state the agent handles,
	// not a reason to restart it or to take it out of rotation.
	check := func(w http.ResponseWriter, r *http.Request) {
		if err := ping(r.Context()); err != nil {
			http.Error(w, "member unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
	probeMux.HandleFunc("/healthz", check)
	probeMux.HandleFunc("/readyz", check)
	if err := add(a.opts.ProbeAddr, probeMux); err != nil {
		for _, s := range servers {
			_ = s.listener.Close()
		}
		return nil, err
	}
	return servers, nil
}
