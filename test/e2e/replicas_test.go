package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The leader election timings of the replicas: short, so that a takeover
// after a SIGKILL (which releases nothing) takes seconds, with room enough
// that a loaded machine does not lose the lease by itself.
const (
	replicaLeaseDuration = 5 * time.Second
	replicaRenewDeadline = 4 * time.Second
	replicaRetryPeriod   = time.Second
)

// TestHubReplicas (issue 18): two `flotilla hub` processes elect a leader.
// The leader is SIGKILLed mid-rollout, after the first cluster of the first
// wave was admitted and before that wave ends; the standby takes the Lease
// over and the Rollout ends exactly as an uninterrupted run of the same
// change on the same two replicas: the same phase, waves, clusters and
// revisions, the same history, the same admissions in the same order (none
// twice, none out of wave order) and no Event twice. It logs the takeover
// time (SIGKILL → Lease taken → next admission). Every replica serves its
// probes and /metrics; only the leader runs the controllers and reports the
// fleet's and the Promises' gauges. The killed replica comes back as a
// standby; last, a SIGTERMed leader hands the Lease over at once.
//
// What a Rollout admitted is rebuilt by the new leader from stored state
// (the Rollout's status and its Works), never carried over in memory.
func TestHubReplicas(t *testing.T) {
	t.Parallel() // its own fleet: see givenFleetWith
	began := time.Now()
	flotilla := startBuildingFlotilla(t)
	f := givenRolloutFleet(t)
	bin := flotilla()
	t.Logf("fleet ready and flotilla built in %s", time.Since(began).Round(time.Millisecond))

	// The fleet's in-process hub controller makes way for two replicas,
	// started at the same time, as a Deployment's pods are.
	if err := f.env.StopHub(); err != nil {
		t.Fatal(err)
	}
	hubs := givenHubReplicas(t, f, bin, "hub-a", "hub-b")
	leader, standby := hubs.thenOneLeads(time.Minute)
	first := hubs.lease()
	t.Logf("%s leads (Lease held by %s), %s stands by", leader.name, first.holder, standby.name)

	// Three waves, one cluster at a time, with bakes: the new leader has to
	// finish the first wave, bake it and run the other two.
	f.givenStrategy("replicas", fleetv1alpha1.RolloutStrategySpec{
		Waves: []fleetv1alpha1.Wave{
			ringWave("canary", 5*time.Second, 30*time.Second, oneAtATime),
			ringWave("early", 2*time.Second, 30*time.Second, oneAtATime),
			ringWave("general", 0, 30*time.Second, oneAtATime),
		},
		OnFailure: fleetv1alpha1.FailureRollback,
	})
	reference, failover := webPromise("web-ha-reference"), webPromise("web-ha-failover")
	for _, w := range []web{reference, failover} {
		f.givenWebSite(w, "replicas", "team-"+w.promise)
	}

	// The reference run, on the same replicas, uninterrupted.
	start := time.Now()
	name := f.whenImageChanges(reference, webV2)
	ro := f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	want := f.replicaRun(reference, ro)
	t.Logf("reference run: %s in %s", name, time.Since(start).Round(time.Millisecond))
	if l := hubs.lease(); l.holder != first.holder || l.transitions != first.transitions {
		t.Fatalf("the leader changed during the uninterrupted run: Lease %+v, then %+v (lease lost under load?)", first, l)
	}
	// Now that there are Promises and a Rollout: what runs on every
	// replica, and what on the leader only.
	hubs.thenRoles(leader, standby)

	// The same change of the other Promise; the leader dies mid-rollout.
	start = time.Now()
	name = f.whenImageChanges(failover, webV2)
	ro = f.thenRollout(name, "started", 30*time.Second, func(ro *fleetv1alpha1.Rollout) bool { return len(ro.Status.Waves) > 0 })
	target := ro.Spec.TargetRevision
	var firstAdmitted string
	f.eventually(time.Minute, "the first cluster of wave canary admitted", func() (bool, string) {
		for _, c := range f.works.changesOf(failover.promise) {
			if c.revision == target && rings[c.cluster] == "canary" {
				firstAdmitted = c.cluster
				return true, ""
			}
		}
		return false, fmt.Sprintf("changes %v", f.works.changesOf(failover.promise))
	})
	before := f.rollout(name)
	if w := wave(before, "canary"); w == nil || w.Phase == fleetv1alpha1.WavePhaseSucceeded || before.Status.CurrentWave != "canary" {
		t.Fatalf("the canary wave ended before the kill, the machine is too slow for this story: %s", describe(before))
	}
	killed := time.Now()
	leader.kill(t)
	t.Logf("SIGKILLed the leader %s after %s was admitted, at %s/%s (canary admitted %d of %d)", leader.name, firstAdmitted,
		before.Status.Phase, before.Status.CurrentWave, wave(before, "canary").Counts.Admitted, wave(before, "canary").Counts.Total)

	// The standby takes the Lease over once it expires, and goes on.
	taken := hubs.thenLeaseTakenOver(first, time.Minute)
	leaseTaken := time.Since(killed)
	f.eventually(30*time.Second, standby.name+" reports it leads", func() (bool, string) {
		m, err := standby.scrape()
		return err == nil && m[masterStatus] == 1, fmt.Sprintf("%s=%v (%v)", masterStatus, m[masterStatus], err)
	})
	if taken.transitions != first.transitions+1 {
		t.Errorf("Lease transitions %d after one takeover, want %d", taken.transitions, first.transitions+1)
	}
	var next workChange
	f.eventually(time.Minute, "the next admission after the takeover", func() (bool, string) {
		for _, c := range f.works.changesOf(failover.promise) {
			if c.revision == target && c.seen.After(killed) {
				next = c
				return true, ""
			}
		}
		return false, describe(f.rollout(name))
	})
	t.Logf("takeover: SIGKILL → Lease held by %s in %s; → next admission (%s) in %s", taken.holder,
		leaseTaken.Round(time.Millisecond), next.cluster, next.seen.Sub(killed).Round(time.Millisecond))

	// The killed replica comes back, as its pod would, and stands by.
	leader.start(t)
	ro = f.thenRolloutPhase(name, fleetv1alpha1.RolloutPhaseSucceeded, 2*time.Minute)
	got := f.replicaRun(failover, ro)
	t.Logf("interrupted run: %s in %s", name, time.Since(start).Round(time.Millisecond))
	hubs.thenRoles(standby, leader)

	// The same outcome: phase, waves (phases, clusters, counts), failures,
	// every cluster's rendered and applied revision…
	if got.summary != want.summary {
		t.Errorf("final state differs:\nreference:\n%s\ninterrupted:\n%s", want.summary, got.summary)
	}
	// …the same history, step by step (times aside)…
	if !slices.Equal(got.history, want.history) {
		t.Errorf("history differs:\nreference:   %s\ninterrupted: %s", strings.Join(want.history, " | "), strings.Join(got.history, " | "))
	}
	// …the same admissions in the same order: every cluster once, in wave order…
	if !slices.Equal(got.admitted, want.admitted) {
		t.Errorf("admissions differ:\nreference:   %v\ninterrupted: %v", want.admitted, got.admitted)
	}
	for _, run := range []struct {
		w   web
		run replicaRun
	}{{reference, want}, {failover, got}} {
		checkWaveOrder(t, run.w.promise, run.run.admitted, []string{"canary", "early", "general"})
		for key, revs := range f.works.history(run.w.promise) {
			if !slices.Equal(revs, []string{run.run.from, run.run.target}) {
				t.Errorf("%s: Work %s rendered %v, want %s then %s once", run.w.promise, key, revs, run.run.from, run.run.target)
			}
		}
	}
	// …and no decision reported twice. An Event the killed leader had not
	// sent yet is lost (Events are best effort; the history is the record).
	for k, n := range got.events {
		switch {
		case want.events[k] == 0:
			t.Errorf("Event %q (×%d) not in the reference run", k, n)
		case n > want.events[k]:
			t.Errorf("Event %q ×%d, the reference run had it ×%d", k, n, want.events[k])
		}
	}
	for k, n := range want.events {
		if got.events[k] < n {
			t.Logf("Event %q lost with the killed leader (×%d, the reference ×%d)", k, got.events[k], n)
		}
	}
	f.thenWebRuns("team-"+failover.promise, "shop", webV2, 30*time.Second, allMembers...)
	if !standby.running() || !leader.running() {
		t.Errorf("a replica stopped: %s running %v, %s running %v", standby.name, standby.running(), leader.name, leader.running())
	}
	// The replica that came back did not take the Lease back.
	if l := hubs.lease(); l != taken {
		t.Errorf("the Lease moved again after the takeover: %+v, then %+v", taken, l)
	}

	// A leader that stops cleanly (a rolling update, a drain) releases the
	// Lease: the other replica takes over at its next try, not a lease later.
	stopped := time.Now()
	standby.stop(t, 30*time.Second)
	handedOver := hubs.thenLeaseTakenOver(taken, time.Minute)
	handover := time.Since(stopped)
	t.Logf("handover: SIGTERM to %s → Lease held by %s (%s) in %s", standby.name, handedOver.holder, leader.name, handover.Round(time.Millisecond))
	if handover >= replicaLeaseDuration {
		t.Errorf("handover after SIGTERM took %s, a lease duration or more: the stopping leader did not release the Lease", handover)
	}
	f.eventually(30*time.Second, leader.name+" reports it leads", func() (bool, string) {
		m, err := leader.scrape()
		return err == nil && m[masterStatus] == 1, fmt.Sprintf("%s=%v (%v)", masterStatus, m[masterStatus], err)
	})
	t.Logf("TestHubReplicas: %s", time.Since(began).Round(time.Millisecond))
}

// replicaRun is what the comparison of two runs looks at.
type replicaRun struct {
	rolloutOutcome
	// history is each step of status.history: from, to, wave, actor and message.
	history []string
	// admitted are the clusters, in the order their Works moved to the target.
	admitted []string
	// events counts the Events on the Rollout by type, reason and note,
	// with the run's names and revisions replaced by placeholders.
	events map[string]int
}

func (f *rolloutFleet) replicaRun(w web, ro *fleetv1alpha1.Rollout) replicaRun {
	f.t.Helper()
	run := replicaRun{rolloutOutcome: f.outcome(w, ro), events: map[string]int{}}
	names := strings.NewReplacer(ro.Spec.TargetRevision, "<target>", ro.Spec.FromRevision, "<from>", ro.Name, "<rollout>", w.promise, "<promise>")
	normalize := func(s string) string { return rfc3339.ReplaceAllString(names.Replace(s), "<time>") }
	for _, h := range ro.Status.History {
		run.history = append(run.history, fmt.Sprintf("%s→%s %s by %s: %s", h.From, h.To, h.Wave, h.Actor, normalize(h.Message)))
	}
	for _, c := range f.works.changesOf(w.promise) {
		if c.revision == ro.Spec.TargetRevision && !slices.Contains(run.admitted, c.cluster) {
			run.admitted = append(run.admitted, c.cluster)
		}
	}
	// Events are written a moment after the status that decided them.
	time.Sleep(time.Second)
	list := &eventsv1.EventList{}
	if err := f.hub.List(context.Background(), list, client.InNamespace(ro.Namespace)); err != nil {
		f.t.Fatalf("listing events: %v", err)
	}
	for _, e := range list.Items {
		if e.Regarding.Kind != "Rollout" || e.Regarding.Name != ro.Name {
			continue
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		run.events[fmt.Sprintf("%s %s: %s", e.Type, e.Reason, normalize(e.Note))] += n
	}
	return run
}

// rfc3339 matches the times in history messages and Event notes (when a bake ends).
var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)

// checkWaveOrder fails unless clusters were admitted wave after wave.
func checkWaveOrder(t *testing.T, promise string, admitted, waves []string) {
	t.Helper()
	last := 0
	for _, c := range admitted {
		i := slices.Index(waves, rings[c])
		if i < last {
			t.Errorf("%s: %s (wave %s) admitted after a cluster of a later wave: %v", promise, c, rings[c], admitted)
		}
		last = max(last, i)
	}
	if len(admitted) != len(allMembers) {
		t.Errorf("%s: admitted %v, want each of %v once", promise, admitted, allMembers)
	}
}

// ---- hub replicas -------------------------------------------------------------

// masterStatus is client-go's leader election gauge for the hub's Lease, as
// every replica serves it on /metrics.
var masterStatus = fmt.Sprintf("leader_election_master_status{name=%q}", hub.LeaderElectionID)

// hubReplicas are `flotilla hub` processes with leader election on.
type hubReplicas struct {
	t        *testing.T
	f        *rolloutFleet
	leases   kubernetes.Interface
	replicas map[string]*hubReplica
}

// hubReplica is one `flotilla hub` process; its log is DIR/<name>.log.
type hubReplica struct {
	name                   string
	bin, logPath           string
	args                   []string
	metricsAddr, probeAddr string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	// logStart is the size of the log when the process last started.
	logStart int64
}

// givenHubReplicas starts a `flotilla hub --leader-elect` process per name,
// all at once, against the fleet's hub; they are SIGKILLed when the test ends.
func givenHubReplicas(t *testing.T, f *rolloutFleet, bin string, names ...string) *hubReplicas {
	t.Helper()
	leases, err := kubernetes.NewForConfig(f.env.Hub.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	h := &hubReplicas{t: t, f: f, leases: leases, replicas: map[string]*hubReplica{}}
	for _, name := range names {
		r := &hubReplica{name: name, bin: bin, logPath: filepath.Join(f.env.Dir, name+".log"),
			metricsAddr: testenv.FreeAddr(t), probeAddr: testenv.FreeAddr(t)}
		r.args = []string{"hub",
			"--kubeconfig", filepath.Join(f.env.Dir, "hub.kubeconfig"),
			"--leader-elect", "--leader-election-namespace", fleetv1alpha1.PlatformNamespace,
			"--leader-election-lease-duration", replicaLeaseDuration.String(),
			"--leader-election-renew-deadline", replicaRenewDeadline.String(),
			"--leader-election-retry-period", replicaRetryPeriod.String(),
			"--metrics-bind-address", r.metricsAddr, "--health-probe-bind-address", r.probeAddr,
			// As the fleet's in-process hub (devenv): agents heartbeat every second.
			"--cluster-offline-grace", "3s", "--heartbeat-status-resolution", "1m",
		}
		h.replicas[name] = r
	}
	t.Cleanup(func() {
		for _, name := range names {
			r := h.replicas[name]
			if r.running() {
				r.kill(t)
			}
			if t.Failed() {
				t.Logf("last lines of %s:\n%s", r.logPath, tail(r.logPath, 40))
			}
		}
	})
	for _, name := range names {
		h.replicas[name].start(t)
	}
	return h
}

func (r *hubReplica) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	info, err := log.Stat()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := spawnImmortal(cmd); err != nil {
		_ = log.Close()
		t.Fatalf("starting %s: %v", r.name, err)
	}
	done := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.done, r.waitErr, r.logStart = cmd, done, nil, info.Size()
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = log.Close()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(done)
	}()
}

// kill SIGKILLs the replica, as a crash or a lost node would: it releases nothing.
func (r *hubReplica) kill(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("killing %s: %v", r.name, err)
	}
	<-done
}

// stop sends SIGTERM, as the kubelet does, and waits until the replica exited.
func (r *hubReplica) stop(t *testing.T, within time.Duration) {
	t.Helper()
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stopping %s: %v", r.name, err)
	}
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s still running %s after SIGTERM", r.name, within)
	}
}

func (r *hubReplica) running() bool {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// scrape reads the replica's /metrics: each series (name and labels, as
// written) with its value.
func (r *hubReplica) scrape() (map[string]float64, error) {
	body, err := get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	s := bufio.NewScanner(strings.NewReader(body))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		i := strings.LastIndexByte(line, ' ')
		if line == "" || strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, s.Err()
}

// sum adds the values of the series of metric name whose labels contain every label given (`key="value"`).
func sum(m map[string]float64, name string, labels ...string) (float64, int) {
	total, n := 0.0, 0
	for series, v := range m {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(series, l)
		}
		if ok {
			total, n = total+v, n+1
		}
	}
	return total, n
}

func get(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return b.String(), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b.String(), nil
}

// leaseState is the hub's leader Lease.
type leaseState struct {
	holder      string
	transitions int32
}

func (h *hubReplicas) lease() leaseState {
	h.t.Helper()
	l, err := h.leases.CoordinationV1().Leases(fleetv1alpha1.PlatformNamespace).Get(context.Background(), hub.LeaderElectionID, metav1.GetOptions{})
	if err != nil {
		h.t.Fatalf("reading the leader Lease: %v", err)
	}
	var s leaseState
	if l.Spec.HolderIdentity != nil {
		s.holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		s.transitions = *l.Spec.LeaseTransitions
	}
	return s
}

// thenOneLeads waits until the Lease has a holder and exactly one replica
// reports it leads; it returns that one and another.
func (h *hubReplicas) thenOneLeads(within time.Duration) (leader, standby *hubReplica) {
	h.t.Helper()
	h.f.eventually(within, "one hub replica leads", func() (bool, string) {
		leader, standby = nil, nil
		var states []string
		for _, name := range keys(h.replicas) {
			r := h.replicas[name]
			if !r.running() {
				h.t.Fatalf("%s exited: %v\n%s", r.name, r.waitErr, tail(r.logPath, 30))
			}
			m, err := r.scrape()
			states = append(states, fmt.Sprintf("%s: %s=%v (%v)", name, masterStatus, m[masterStatus], err))
			switch {
			case err != nil:
				return false, strings.Join(states, "; ")
			case m[masterStatus] == 1 && leader != nil:
				h.t.Fatalf("two replicas lead: %s", strings.Join(states, "; "))
			case m[masterStatus] == 1:
				leader = r
			default:
				standby = r
			}
		}
		return leader != nil && standby != nil && h.lease().holder != "", strings.Join(states, "; ")
	})
	return leader, standby
}

// thenLeaseTakenOver waits until another replica than before holds the Lease.
func (h *hubReplicas) thenLeaseTakenOver(before leaseState, within time.Duration) leaseState {
	h.t.Helper()
	var now leaseState
	deadline := time.Now().Add(within)
	for {
		if now = h.lease(); now.holder != "" && now.holder != before.holder {
			return now
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the Lease is still held by %s after %s", now.holder, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// thenRoles checks what runs where: both replicas serve their probes and
// /metrics; the leader reports it leads, runs the Rollout controller and
// reports the gauges read from its cache; the standby does none of that,
// although its cache holds the same objects.
func (h *hubReplicas) thenRoles(leader, standby *hubReplica) {
	h.t.Helper()
	for _, r := range []*hubReplica{leader, standby} {
		h.f.eventually(time.Minute, r.name+" serves its probes and metrics", func() (bool, string) {
			for _, path := range []string{"/healthz", "/readyz"} {
				if _, err := get("http://" + r.probeAddr + path); err != nil {
					return false, err.Error()
				}
			}
			_, err := r.scrape()
			return err == nil, fmt.Sprint(err)
		})
	}
	h.f.eventually(time.Minute, leader.name+" leads and reports the fleet", func() (bool, string) {
		m, err := leader.scrape()
		if err != nil {
			return false, err.Error()
		}
		clusters, _ := sum(m, "flotilla_clusters", `availability="Available"`)
		_, promises := sum(m, "flotilla_promise_ready")
		_, rollouts := sum(m, "flotilla_rollouts")
		return m[masterStatus] == 1 && clusters == float64(len(allMembers)) && promises > 0 && rollouts > 0,
			fmt.Sprintf("%s=%v flotilla_clusters{Available}=%v flotilla_promise_ready series=%d flotilla_rollouts series=%d",
				masterStatus, m[masterStatus], clusters, promises, rollouts)
	})
	m, err := standby.scrape()
	if err != nil {
		h.t.Fatalf("scraping %s: %v", standby.name, err)
	}
	if m[masterStatus] == 1 {
		h.t.Errorf("the standby %s reports it leads", standby.name)
	}
	for _, name := range []string{"flotilla_clusters", "flotilla_promise_ready", "flotilla_promise_revisions", "flotilla_instances", "flotilla_rollouts"} {
		if _, n := sum(m, name); n > 0 {
			h.t.Errorf("the standby %s reports %s (%d series): only the leader reports the fleet", standby.name, name, n)
		}
	}
	if reconciles, _ := sum(m, "controller_runtime_reconcile_total", `controller="rollout"`); reconciles > 0 {
		h.t.Errorf("the standby %s reconciled Rollouts %v times", standby.name, reconciles)
	}
	if log := standby.log(); !strings.Contains(log, `"starting hub"`) || strings.Contains(log, leadingLog) {
		h.t.Errorf("the standby %s did not start, or logged that it leads:\n%s", standby.name, log)
	}
	if log := leader.log(); !strings.Contains(log, leadingLog) {
		h.t.Errorf("the leader %s did not log that it leads:\n%s", leader.name, log)
	}
}

// leadingLog is what a hub logs when it starts leading.
const leadingLog = "leading: this replica runs the controllers"

// log returns what the replica logged since it last started.
func (r *hubReplica) log() string {
	r.mu.Lock()
	start := r.logStart
	r.mu.Unlock()
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b[min(start, int64(len(b))):])
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var (
	spawnOnce  sync.Once
	spawnQueue chan func()
)

// spawnImmortal starts cmd from one OS thread that never exits, so that its
// Pdeathsig fires only when the test binary dies (as testenv does for the
// control planes): Go may retire the thread that forked a child, and
// Pdeathsig follows the thread.
func spawnImmortal(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnQueue = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked
			for fn := range spawnQueue {
				fn()
			}
		}()
	})
	result := make(chan error, 1)
	spawnQueue <- func() { result <- cmd.Start() }
	return <-result
}
