package simulate

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
	"github.com/flotilla-dev/flotilla/internal/verify"
)

// fleet is the fake fleet: clusters whose agents apply an admitted revision
// applyAfter later and settle (healthy or failed) some time after that.
type fleet struct {
	timing   Fleet
	target   string
	from     string
	rng      *rand.Rand
	clusters []*cluster
	byName   map[string]*cluster
	buf      []rollout.ClusterObservation
}

// cluster is one fake member.
type cluster struct {
	obs       rollout.ClusterObservation
	behaviour Behaviour
	// applyAt is when the agent applies obs.Revision; zero when nothing is pending.
	applyAt time.Time
	// settleAt is when health settles to settleTo; zero when nothing is pending.
	settleAt time.Time
	settleTo rollout.Health
	// metric is what the cluster's metric says to checks.
	metric Metric
}

func newFleet(s Scenario, start time.Time) (*fleet, error) {
	f := &fleet{
		timing: s.Fleet,
		target: s.Rollout.TargetRevision,
		from:   s.Rollout.FromRevision,
		rng:    rand.New(rand.NewPCG(s.Fleet.Seed, 0)),
		byName: map[string]*cluster{},
	}
	for _, g := range s.Clusters {
		for _, name := range g.names() {
			if f.byName[name] != nil {
				return nil, fmt.Errorf("cluster %s is listed twice", name)
			}
			rev := or(g.Revision, s.Rollout.FromRevision)
			c := &cluster{behaviour: or(g.Behaviour, Good), metric: or(g.Metric, MetricPassing), obs: rollout.ClusterObservation{
				Name: name, Labels: g.Labels, Online: !g.Offline,
				Revision: rev, AppliedRevision: rev, Health: rollout.HealthHealthy, HealthSince: start.Add(-time.Hour),
			}}
			f.clusters = append(f.clusters, c)
			f.byName[name] = c
		}
	}
	slices.SortFunc(f.clusters, func(a, b *cluster) int { return cmp.Compare(a.obs.Name, b.obs.Name) })
	return f, nil
}

// observe returns what the controller would see, in a buffer reused from
// one step to the next.
func (f *fleet) observe() []rollout.ClusterObservation {
	if len(f.buf) != len(f.clusters) {
		f.buf = make([]rollout.ClusterObservation, len(f.clusters))
	}
	for i, c := range f.clusters {
		f.buf[i] = c.obs
	}
	return f.buf
}

// admit sets a cluster's Work to a revision: the controller then reports it
// Progressing until the agent applies it.
func (f *fleet) admit(a rollout.Admission, now time.Time) {
	c := f.byName[a.Cluster]
	c.obs.Revision, c.obs.AdmittedAt = a.Revision, now
	c.obs.Health, c.obs.HealthSince, c.obs.Reason, c.obs.Message = rollout.HealthProgressing, now, "", ""
	c.applyAt, c.settleAt = now.Add(f.timing.ApplyAfter.Duration), time.Time{}
}

// advance moves every online cluster's agent forward to now.
func (f *fleet) advance(now time.Time) {
	for _, c := range f.clusters {
		if !c.obs.Online {
			continue
		}
		if !c.applyAt.IsZero() && !c.applyAt.After(now) {
			f.apply(c)
		}
		if !c.settleAt.IsZero() && !c.settleAt.After(now) {
			c.setHealth(c.settleTo, c.settleAt)
			c.settleAt = time.Time{}
		}
	}
}

// apply applies the admitted revision and schedules how its health settles.
func (f *fleet) apply(c *cluster) {
	at := c.applyAt
	c.applyAt = time.Time{}
	c.obs.AppliedRevision = c.obs.Revision
	behaviour := c.behaviour
	if c.obs.Revision != f.target {
		behaviour = Good
	}
	switch behaviour {
	case Bad:
		c.settleAt, c.settleTo = at.Add(f.timing.FailAfter.Duration), rollout.HealthFailed
	case Stuck:
		c.settleAt = time.Time{}
	default:
		c.settleAt, c.settleTo = at.Add(f.timing.HealthyAfter.Duration+f.jitter()), rollout.HealthHealthy
	}
}

// jitter draws the extra delay of one cluster from the seeded source.
func (f *fleet) jitter() time.Duration {
	if f.timing.Jitter.Duration <= 0 {
		return 0
	}
	return time.Duration(f.rng.Int64N(int64(f.timing.Jitter.Duration/time.Second)+1)) * time.Second
}

// next is the earliest pending change after now, or zero.
func (f *fleet) next(now time.Time) time.Time {
	var next time.Time
	for _, c := range f.clusters {
		if !c.obs.Online {
			continue
		}
		for _, t := range []time.Time{c.applyAt, c.settleAt} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if !next.IsZero() && next.Before(now) {
		return now
	}
	return next
}

// act applies a scripted action to one cluster.
func (f *fleet) act(name string, a Action, now time.Time) error {
	c := f.byName[name]
	if c == nil {
		return fmt.Errorf("no cluster %s", name)
	}
	onTarget := c.obs.AppliedRevision == f.target && c.obs.Revision == f.target
	switch a {
	case Fail:
		c.behaviour = Bad
		if onTarget {
			c.setHealth(rollout.HealthFailed, now)
			c.settleAt = time.Time{}
		}
	case Flap:
		if c.obs.Health == rollout.HealthHealthy {
			c.setHealth(rollout.HealthProgressing, now)
			c.settleAt, c.settleTo = now.Add(f.timing.HealthyAfter.Duration), rollout.HealthHealthy
		}
	case Heal:
		c.behaviour = Good
		if c.obs.Health != rollout.HealthHealthy && c.obs.AppliedRevision == c.obs.Revision {
			c.setHealth(rollout.HealthProgressing, now)
			c.settleAt, c.settleTo = now.Add(f.timing.HealthyAfter.Duration), rollout.HealthHealthy
		}
	case Offline:
		c.obs.Online = false
	case Online:
		if !c.obs.Online {
			// The hub dates the return: the bake counts from it.
			c.obs.OnlineSince = now
		}
		c.obs.Online = true
		if !c.applyAt.IsZero() && c.applyAt.Before(now.Add(f.timing.ApplyAfter.Duration)) {
			c.applyAt = now.Add(f.timing.ApplyAfter.Duration)
		}
		if !c.settleAt.IsZero() && c.settleAt.Before(now) {
			c.settleAt = now
		}
	case Adopt:
		c.obs.Adopted = true
	case StrayFail:
		rev := f.from
		if rev == "" {
			rev = f.target
		}
		c.obs.Unattributed = &rollout.Unattributed{Revision: rev, Reason: "ApplyFailed", Since: now,
			Message: "team-c/ledger: namespaces \"team-c\" not found"}
	case StrayHeal:
		c.obs.Unattributed = nil
	case MetricFail:
		c.metric = MetricFailing
	case MetricPass:
		c.metric = MetricPassing
	case MetricInconclusive:
		c.metric = MetricUnreachable
	default:
		return fmt.Errorf("unknown action %q", a)
	}
	return nil
}

func (c *cluster) setHealth(h rollout.Health, at time.Time) {
	c.obs.Health, c.obs.HealthSince = h, at
	c.obs.Reason, c.obs.Message = "", ""
	if h == rollout.HealthFailed {
		c.obs.Reason, c.obs.Message = "Unhealthy", "Deployment app: CrashLoopBackOff"
	}
}

func or[T ~string](s, def T) T {
	if s == "" {
		return def
	}
	return s
}

// measure takes the measurements of the due checks: each cluster's metric
// says what it says; a whole-wave check sees the worst of its clusters'.
func (f *fleet) measure(tasks []rollout.CheckTask, now time.Time) []rollout.Measurement {
	var out []rollout.Measurement
	for _, t := range tasks {
		worst := MetricPassing
		for _, tc := range t.Clusters {
			m := f.byName[tc.Name].metric
			if t.Check.Scope != fleetv1alpha1.CheckWholeWave {
				out = append(out, rollout.Measurement{Wave: t.Wave, Check: t.Check.Name, Cluster: tc.Name, Measurement: judged(m, now)})
				continue
			}
			if m == MetricUnreachable || (m == MetricFailing && worst == MetricPassing) {
				worst = m
			}
		}
		if t.Check.Scope == fleetv1alpha1.CheckWholeWave {
			out = append(out, rollout.Measurement{Wave: t.Wave, Check: t.Check.Name, Measurement: judged(worst, now)})
		}
	}
	return out
}

// judged is a measurement of a metric at now.
func judged(m Metric, now time.Time) verify.Measurement {
	switch m {
	case MetricFailing:
		return verify.Measurement{At: now, Outcome: verify.Failed, Value: "[0.31]"}
	case MetricUnreachable:
		return verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: "querying http://prometheus:9090/api/v1/query: connection refused"}
	}
	return verify.Measurement{At: now, Outcome: verify.Passed, Value: "[0.01]"}
}
