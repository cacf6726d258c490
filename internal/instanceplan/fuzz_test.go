package instanceplan_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// FuzzPlan reconciles random hubs (placements, refused placements, Works of
// the subject, of other instances and of other writers, Rollouts with
// random admissions, DriftExceptions from any namespace, failed and empty
// renders) and checks the invariants at each reconcile, then that a second
// reconcile of the same hub writes nothing. `go test` runs the seeds; `go
// test -fuzz FuzzPlan ./internal/instanceplan` searches further.
func FuzzPlan(f *testing.F) {
	for seed := range uint64(512) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		w := randomWorld(seed)
		for pass := range 2 {
			before := w.facts()
			rt, p, err := w.step()
			if err != nil {
				t.Fatalf("seed %d, pass %d: %v", seed, pass, err)
			}
			if err := checkInvariants(before, w.inputs(), rt, p); err != nil {
				t.Fatalf("seed %d, pass %d: %v", seed, pass, err)
			}
			if pass == 1 {
				for _, wr := range p.Writes {
					if wr.Op != instanceplan.Unchanged {
						t.Fatalf("seed %d: a second reconcile of an unchanged hub %ss the Work on %s", seed, wr.Op, wr.Cluster)
					}
				}
				if len(p.Delete) > 0 {
					t.Fatalf("seed %d: a second reconcile of an unchanged hub deletes %d Works", seed, len(p.Delete))
				}
			}
		}
	})
}

// randomWorld builds a hub from a seed.
func randomWorld(seed uint64) *world {
	r := rand.New(rand.NewPCG(seed, 0x1257))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	s := instanceplan.InstanceSubject("db", "team-a", "orders")
	if r.IntN(5) == 0 {
		s = instanceplan.FleetSubject("db")
	}
	w := newWorld(s)
	if r.IntN(10) > 0 {
		w.latest = pick("r1", "r2", "r3")
	}
	if s.Instance != nil {
		w.instRev = pick("i1", "i2")
	}
	names := []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	for _, c := range names {
		w.clusters = append(w.clusters, placement.Cluster{Name: c, Labels: map[string]string{"tier": pick("edge", "core")}})
	}
	if r.IntN(8) == 0 {
		w.placement = placement.Result{Violations: []placement.Violation{{Reason: fleetv1alpha1.ReasonTenancyViolation, Message: "no"}}}
	} else {
		for _, c := range names {
			if r.IntN(3) > 0 {
				w.placement.Clusters = append(w.placement.Clusters, c)
			}
		}
	}
	for _, c := range names {
		for range r.IntN(3) {
			wk := hubWork(s, c, pick("r1", "r2", "r3", ""), pick("i1", "i2", ""))
			if s.Instance == nil {
				wk.Spec.InstanceRevision = ""
			}
			switch r.IntN(6) {
			case 0:
				delete(wk.Labels, fleetv1alpha1.LabelManagedBy)
			case 1:
				wk.DeletionTimestamp = &metav1.Time{Time: epoch}
			case 2:
				wk = hubWork(instanceplan.InstanceSubject("db", pick("team-a", "team-b"), pick("orders", "billing")), c, "r1", "i1")
			case 3:
				wk = hubWork(instanceplan.FleetSubject(pick("db", "cache")), c, "r1", "")
			}
			w.works = append(w.works, wk)
		}
	}
	randomRollouts := func(own bool, revs ...string) []fleetv1alpha1.Rollout {
		var out []fleetv1alpha1.Rollout
		for i := range r.IntN(3) {
			from, to := pick(revs...), pick(revs...)
			if from == to {
				from = ""
			}
			var waves []string
			rest := slices.Clone(names)
			for wave := 0; len(rest) > 0; wave++ {
				n := 1 + r.IntN(len(rest))
				marks := ""
				for range n {
					marks += pick(".", "T", "R")
				}
				if r.IntN(5) == 0 {
					marks = ""
				}
				phase := pick("", "Progressing", "Baking", "Baking", "Succeeded", "Failed")
				if phase != "" {
					phase = ":" + phase
				}
				waves = append(waves, fmt.Sprintf("w%d:%s:%s%s", wave, strings.Join(rest[:n], ","), marks, phase))
				rest = rest[n:]
			}
			phase := fleetv1alpha1.RolloutPhase(pick("Progressing", "Baking", "Progressing", "Baking", "Succeeded", "RollingBack", "RolledBack", "Aborted", "Failed", "Halted"))
			name := fmt.Sprintf("ro-%d", i)
			if own && r.IntN(4) > 0 {
				// Else named like a Promise Rollout: its checks may collide.
				name = fmt.Sprintf("iro-%d", i)
			}
			ro, err := newRollout(s, own, name, from, to, phase, r.IntN(3), waves...)
			if err != nil {
				panic(err)
			}
			for j := range ro.Status.Waves {
				for _, c := range []string{"smoke", "local", "errors"} {
					if r.IntN(2) == 0 {
						st := fleetv1alpha1.WaveCheckStatus{Name: c, Run: int32(r.IntN(3))}
						if r.IntN(4) == 0 {
							st.Skipped = &fleetv1alpha1.ChangeRecord{By: "alice"}
						}
						ro.Status.Waves[j].Checks = append(ro.Status.Waves[j].Checks, st)
					}
				}
			}
			if r.IntN(3) == 0 {
				ro.Status.RollbackRevision = from
			}
			out = append(out, ro)
		}
		return out
	}
	// Verification checks: the strategy's, a wave's own, the Promise's.
	check := func(name string) fleetv1alpha1.Check {
		c, err := newCheck(name, pick("http", "job", "agent-metric", "hub-metric"))
		if err != nil {
			panic(err)
		}
		return c
	}
	for _, name := range []string{"smoke", "local", "errors"} {
		if r.IntN(2) == 0 {
			w.strategy.Checks = append(w.strategy.Checks, check(name))
		}
	}
	for wave := range r.IntN(3) {
		wv := fleetv1alpha1.Wave{Name: fmt.Sprintf("w%d", wave)}
		if r.IntN(2) == 0 {
			wv.Checks = append(wv.Checks, check(pick("smoke", "e2e")))
		}
		w.strategy.Waves = append(w.strategy.Waves, wv)
	}
	if r.IntN(3) == 0 {
		w.promiseChecks = append(w.promiseChecks, check(pick("local", "extra")))
	}
	if r.IntN(4) == 0 {
		w.skip = []string{pick("smoke", "local", "errors", "e2e")}
	}
	if r.IntN(2) == 0 {
		// A cluster without labels: its agent metric queries cannot render.
		w.clusters[r.IntN(len(w.clusters))].Labels = nil
	}
	w.promiseRO = randomRollouts(false, "r1", "r2", "r3")
	if s.Instance != nil {
		w.instRO = randomRollouts(true, "i1", "i2")
	}
	for i := range r.IntN(4) {
		w.excs = append(w.excs, fleetv1alpha1.DriftException{
			ObjectMeta: metav1.ObjectMeta{Namespace: pick("team-a", "team-b", fleetv1alpha1.PlatformNamespace), Name: fmt.Sprintf("e%d", i)},
			Spec: fleetv1alpha1.DriftExceptionSpec{ExpiresAt: metav1.NewTime(epoch.Add(time.Duration(r.IntN(3)-1) * time.Hour)),
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, Paths: []string{"data"}},
		})
	}
	for _, c := range names {
		switch r.IntN(8) {
		case 0:
			w.outcome[c] = instanceplan.Failed
		case 1:
			if s.IsFleet() {
				w.outcome[c] = instanceplan.Empty
			}
		}
	}
	return w
}

// checkInvariants checks one reconcile's routing and plan against the
// facts it was made from.
func checkInvariants(f instanceplan.Facts, in instanceplan.WorkInputs, rt instanceplan.Routing, p instanceplan.Plan) error {
	s := f.Subject
	owned := map[string]*fleetv1alpha1.Work{}
	for i := range f.Works {
		if s.Owns(&f.Works[i]) {
			owned[f.Works[i].Spec.Cluster] = &f.Works[i]
		}
	}
	// Nothing is written or deleted without a revision, or on a refused placement.
	switch {
	case !f.HasRevision() && rt.Decision != instanceplan.WaitForRevision:
		return fmt.Errorf("no revision, yet %s", rt.Decision)
	case f.HasRevision() && !s.IsFleet() && len(f.Placement.Violations) > 0 && rt.Decision != instanceplan.Hold:
		return fmt.Errorf("a refused placement, yet %s", rt.Decision)
	case rt.Decision != instanceplan.Render && len(rt.Targets)+len(p.Writes)+len(p.Delete) > 0:
		return fmt.Errorf("%s, yet %d targets, %d writes, %d deletions", rt.Decision, len(rt.Targets), len(p.Writes), len(p.Delete))
	}
	written := map[string]bool{}
	for _, wr := range p.Writes {
		c, d := wr.Cluster, wr.Desired
		written[c] = true
		// A Work is only ever written for a placed cluster, in its namespace.
		if !slices.Contains(f.Placement.Clusters, c) {
			return fmt.Errorf("a Work written for %s, not placed (%v)", c, f.Placement.Clusters)
		}
		if d.Namespace != fleetv1alpha1.ClusterNamespace(c) || d.Spec.Cluster != c {
			return fmt.Errorf("the Work for %s is %s/%s for cluster %s", c, d.Namespace, d.Name, d.Spec.Cluster)
		}
		// It is the subject's, and the hub's.
		if !equality.Semantic.DeepEqual(d.Spec.Subject, s.WorkSubject()) || !s.Owns(d) {
			return fmt.Errorf("the Work on %s names subject %+v", c, d.Spec.Subject)
		}
		// It replaces the subject's own Work there, never another's.
		if wr.Current != owned[c] {
			return fmt.Errorf("the Work on %s replaces %v, not the subject's own %v", c, wr.Current, owned[c])
		}
		// Its revisions are the ones the Rollouts give.
		cur, curInst := "", ""
		if o := owned[c]; o != nil {
			cur, curInst = o.Spec.Revision, o.Spec.InstanceRevision
		}
		if want := f.Rollouts.Revision(c, cur, f.LatestRevision); d.Spec.Revision != want {
			return fmt.Errorf("the Work on %s renders %s, RevisionFor gives %s", c, d.Spec.Revision, want)
		}
		wantInst := ""
		if !s.IsFleet() {
			wantInst = f.Rollouts.InstanceRevision(c, curInst, f.InstanceRevision)
		}
		if d.Spec.InstanceRevision != wantInst {
			return fmt.Errorf("the Work on %s renders instance revision %s, want %s", c, d.Spec.InstanceRevision, wantInst)
		}
		if want := f.Rollouts.AdmittedBy(c, d.Spec.Revision); !equality.Semantic.DeepEqual(d.Spec.Rollout, want) {
			return fmt.Errorf("the Work on %s names Rollout %+v, want %+v", c, d.Spec.Rollout, want)
		}
		// Create, update or nothing, as the Work is.
		switch {
		case (wr.Op == instanceplan.Create) != (owned[c] == nil):
			return fmt.Errorf("the Work on %s: %q with current %v", c, wr.Op, owned[c])
		case owned[c] != nil && (wr.Op == instanceplan.Unchanged) != instanceplan.UpToDate(owned[c], d):
			return fmt.Errorf("the Work on %s: %q, but up to date is %v", c, wr.Op, instanceplan.UpToDate(owned[c], d))
		}
		// Confined to the instance's namespace; excused only from it or the platform's.
		if i := s.Instance; i != nil && (d.Spec.Scope == nil || !slices.Equal(d.Spec.Scope.Namespaces, []string{i.Namespace})) {
			return fmt.Errorf("the Work on %s is scoped to %+v, not namespace %s", c, d.Spec.Scope, i.Namespace)
		}
		for _, e := range d.Spec.DriftExceptions {
			ns, _, _ := strings.Cut(e.Name, "/")
			if !slices.Contains(instanceplan.ExceptionNamespaces(s), ns) || !in.Now.Before(e.ExpiresAt.Time) {
				return fmt.Errorf("the Work on %s carries DriftException %s (expires %s)", c, e.Name, e.ExpiresAt)
			}
		}
		if _, failed := p.Failed[c]; failed {
			return fmt.Errorf("the Work on %s is written though its render failed", c)
		}
		if err := checkChecks(f, c, d); err != nil {
			return err
		}
	}
	// A failed render leaves its Work as it was.
	for c := range p.Failed {
		if !slices.Contains(f.Placement.Clusters, c) || written[c] {
			return fmt.Errorf("failed render on %s: placed %v, written %v", c, slices.Contains(f.Placement.Clusters, c), written[c])
		}
	}
	// Only the subject's own Works go, and only where it keeps none.
	for _, d := range p.Delete {
		c := d.Spec.Cluster
		if owned[c] != d {
			return fmt.Errorf("deletes a Work on %s that is not the subject's own", c)
		}
		if slices.Contains(p.Keep, c) || written[c] {
			return fmt.Errorf("deletes the Work on %s it keeps", c)
		}
		if _, failed := p.Failed[c]; failed {
			return fmt.Errorf("deletes the Work on %s whose render failed", c)
		}
	}
	for _, c := range p.Keep {
		if !slices.Contains(f.Placement.Clusters, c) {
			return fmt.Errorf("keeps a Work on %s, not placed", c)
		}
	}
	if rt.Decision == instanceplan.Render {
		for c, o := range owned {
			if !slices.Contains(p.Keep, c) && !slices.Contains(p.Delete, o) && !slices.Contains(p.Held, c) {
				return fmt.Errorf("the Work on %s, not kept, is neither deleted nor held", c)
			}
		}
	}
	return nil
}

// checkChecks: a Work carries verification checks only while its cluster is
// admitted to the target of the Rollout they belong to — the governing one
// (the Promise's newest) or the instance's own (its newest) — and that
// Rollout's wave is at work; only the agent's checks of that wave, named
// for that Rollout and wave, never another's (an older one's, another
// subject's, nor an instance Rollout's named like the governing one); no
// two with one key (rollout and name); exactly those WorkChecksFor gives.
func checkChecks(f instanceplan.Facts, c string, d *fleetv1alpha1.Work) error {
	g, own := f.Rollouts.Governing, f.Rollouts.Spec
	var want []fleetv1alpha1.WorkCheck
	if f.Checks != nil && g != nil && f.Checks.Strategy != nil {
		want, _ = rollout.WorkChecksFor(g, *f.Checks.Strategy, f.Checks.Promise, f.Checks.Skip, c, f.Checks.Labels(c))
	}
	if f.Checks != nil && own != nil && f.Checks.InstanceStrategy != nil && !f.Subject.IsFleet() && (g == nil || g.Name != own.Name) {
		mine, _ := rollout.WorkChecksFor(own, *f.Checks.InstanceStrategy, f.Checks.Promise, f.Checks.Skip, c, f.Checks.Labels(c))
		want = append(want, mine...)
	}
	if len(want) == 0 {
		want = nil
	}
	if !equality.Semantic.DeepEqual(d.Spec.Checks, want) {
		return fmt.Errorf("the Work on %s carries checks %+v, WorkChecksFor gives %+v", c, d.Spec.Checks, want)
	}
	for i, ch := range d.Spec.Checks {
		if slices.ContainsFunc(d.Spec.Checks[:i], func(x fleetv1alpha1.WorkCheck) bool { return x.Rollout == ch.Rollout && x.Name == ch.Name }) {
			return fmt.Errorf("the Work on %s carries check %s of %s twice", c, ch.Name, ch.Rollout)
		}
		ro, strategy, rendered := g, f.Checks.Strategy, d.Spec.Revision
		if g == nil || ch.Rollout != g.Name {
			ro, strategy, rendered = own, f.Checks.InstanceStrategy, d.Spec.InstanceRevision
		}
		if ro == nil || ch.Rollout != ro.Name {
			return fmt.Errorf("the Work on %s carries check %s of %s, a Rollout that governs none of its revisions", c, ch.Name, ch.Rollout)
		}
		if err := checkOf(f, ro, *strategy, c, rendered, ch); err != nil {
			return fmt.Errorf("the Work on %s: %w", c, err)
		}
	}
	return nil
}

// checkOf: check ch of Rollout ro, carried by a Work on cluster c that
// renders revision rendered (of the kind ro moves), may be there.
func checkOf(f instanceplan.Facts, ro *fleetv1alpha1.Rollout, strategy fleetv1alpha1.RolloutStrategySpec, c, rendered string, ch fleetv1alpha1.WorkCheck) error {
	switch rev, ok := rollout.Admitted(ro, c); {
	case ro.Spec.Subject.Promise != f.Subject.Promise || (ro.Spec.Subject.Instance == nil) != (ro.Namespace == fleetv1alpha1.PlatformNamespace):
		return fmt.Errorf("carries checks of another subject's Rollout %s", ro.Name)
	case ro.Status.Phase.IsTerminal() || ro.Status.Phase == fleetv1alpha1.RolloutPhaseRollingBack:
		return fmt.Errorf("carries checks of Rollout %s, %s", ro.Name, ro.Status.Phase)
	case !ok || rev != ro.Spec.TargetRevision || rendered != rev:
		return fmt.Errorf("(at %s) carries checks, not admitted to %s's target %s", rendered, ro.Name, ro.Spec.TargetRevision)
	}
	wave := rollout.WaveOf(ro, c)
	i := slices.IndexFunc(ro.Status.Waves, func(w fleetv1alpha1.WaveStatus) bool { return w.Name == wave })
	if ws := ro.Status.Waves[i]; ws.StartedAt == nil || (ws.Phase != fleetv1alpha1.WavePhaseProgressing && ws.Phase != fleetv1alpha1.WavePhaseBaking) {
		return fmt.Errorf("carries checks of wave %s, %s", wave, ws.Phase)
	}
	if ch.Wave != wave {
		return fmt.Errorf("carries check %s of %s/%s, not %s/%s", ch.Name, ch.Rollout, ch.Wave, ro.Name, wave)
	}
	resolved := rollout.ResolveChecks(strategy, wave, f.Checks.Promise, f.Checks.Skip)
	if rollout.OnHub(ch.Check) || !slices.ContainsFunc(resolved, func(x fleetv1alpha1.Check) bool { return x.Name == ch.Name }) {
		return fmt.Errorf("carries check %s, not one of the wave's agent checks", ch.Name)
	}
	return nil
}
