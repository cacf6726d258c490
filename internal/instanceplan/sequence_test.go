package instanceplan_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
)

// TestSequences plays every scenario in testdata/sequences (*.txt): a hub
// set up line by line, and a reconcile (Route, a stand-in render, Finish,
// the plan carried out) at each `reconcile`. The invariants of FuzzPlan are
// checked at every reconcile, and the trace is compared with the
// scenario's golden file (`go test ./internal/instanceplan -update`
// rewrites them; review the diff).
//
// A scenario is one command a line ('#' starts a comment):
//
//	subject instance NS/NAME of PROMISE | subject fleet of PROMISE
//	latest REV                 the Promise's latest revision (none until set)
//	spec REV                   the instance revision of the current spec
//	clusters C…                the fleet's clusters (label tier=edge for names edge-*)
//	place C…                   the placement's clusters
//	violation REASON           the placement is refused
//	work C rev=R [inst=I] [foreign|deleting|other=NS/NAME]
//	                           a Work on C: the hub's (foreign: someone else's;
//	                           other: another instance's)
//	rollout promise|instance NAME from=R to=R phase=P [rollback=R] [W:C,C:MARKS[:PHASE]…]
//	                           a Rollout (the same NAME again replaces it);
//	                           a wave with a PHASE has started
//	exception NS/NAME [expires=D] [cluster=C]
//	                           a DriftException on the subject's ConfigMap
//	check NAME http|job|agent-metric|hub-metric [wave=W] [promise]
//	                           a verification check of the strategy (of its
//	                           wave W; promise: of the Promise)
//	skipchecks NAME…           the Promise's skipChecks
//	rerun|skip ROLLOUT WAVE CHECK
//	                           a person re-runs (the run counts up) or skips a
//	                           check of a Rollout's wave (the Promise's first)
//	render C ok|failed|empty   what rendering C gives from now on
//	apply [C…]                 the agent applies the subject's Works (all, or on C…)
//	wait D                     time passes
//	reconcile                  the controller reconciles the subject
func TestSequences(t *testing.T) {
	golden.Sequences(t, "testdata/sequences/*.txt", func(script []byte) (string, error) { return play(string(script)) })
}

// play runs a scenario and returns its trace.
func play(script string) (string, error) {
	var out strings.Builder
	var w *world
	rollouts := 0
	for n, line := range strings.Split(script, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fail := func(format string, args ...any) (string, error) {
			return out.String(), fmt.Errorf("line %d (%s): %s", n+1, strings.TrimSpace(line), fmt.Sprintf(format, args...))
		}
		if w == nil && f[0] != "subject" {
			return fail("the first command is subject")
		}
		args := map[string]string{}
		var plain []string
		for _, a := range f[1:] {
			if k, v, ok := strings.Cut(a, "="); ok {
				args[k] = v
			} else {
				plain = append(plain, a)
			}
		}
		switch f[0] {
		case "subject":
			switch {
			case len(f) == 5 && f[1] == "instance" && f[3] == "of":
				ns, name, _ := strings.Cut(f[2], "/")
				w = newWorld(instanceplan.InstanceSubject(f[4], ns, name))
			case len(f) == 4 && f[1] == "fleet" && f[2] == "of":
				w = newWorld(instanceplan.FleetSubject(f[3]))
			default:
				return fail("subject instance NS/NAME of PROMISE | subject fleet of PROMISE")
			}
		case "latest":
			w.latest = f[1]
		case "spec":
			w.instRev = f[1]
		case "clusters":
			w.clusters = nil
			for _, c := range f[1:] {
				tier, _, _ := strings.Cut(c, "-")
				w.clusters = append(w.clusters, placement.Cluster{Name: c, Labels: map[string]string{"tier": tier}})
			}
		case "place":
			w.placement = placement.Result{Clusters: f[1:]}
		case "violation":
			w.placement = placement.Result{Violations: []placement.Violation{{Reason: f[1], Message: "refused by the scenario"}}}
		case "work":
			wk := hubWork(w.subject, plain[0], args["rev"], args["inst"])
			switch {
			case slices.Contains(plain, "foreign"):
				delete(wk.Labels, fleetv1alpha1.LabelManagedBy)
			case slices.Contains(plain, "deleting"):
				wk.DeletionTimestamp = &metav1.Time{Time: w.now}
			case args["other"] != "":
				ns, name, _ := strings.Cut(args["other"], "/")
				wk = hubWork(instanceplan.InstanceSubject(w.subject.Promise, ns, name), plain[0], args["rev"], args["inst"])
			}
			w.works = append(w.works, wk)
		case "rollout":
			if len(plain) < 2 {
				return fail("rollout promise|instance NAME …")
			}
			own := plain[0] == "instance"
			list := &w.promiseRO
			if own {
				list = &w.instRO
			}
			var nth int
			i := slices.IndexFunc(*list, func(r fleetv1alpha1.Rollout) bool { return r.Name == plain[1] })
			if i < 0 {
				rollouts++
				nth = rollouts
			} else {
				nth = int((*list)[i].CreationTimestamp.Sub(epoch) / time.Second)
			}
			ro, err := newRollout(w.subject, own, plain[1], args["from"], args["to"], fleetv1alpha1.RolloutPhase(args["phase"]), nth, plain[2:]...)
			if err != nil {
				return fail("%v", err)
			}
			ro.Status.RollbackRevision = args["rollback"]
			if i < 0 {
				*list = append(*list, ro)
			} else {
				(*list)[i] = ro
			}
		case "exception":
			ns, name, _ := strings.Cut(plain[0], "/")
			d := time.Hour
			if v, ok := args["expires"]; ok {
				var err error
				if d, err = time.ParseDuration(v); err != nil {
					return fail("%v", err)
				}
			}
			sel := fleetv1alpha1.ClusterSelector{}
			if c, ok := args["cluster"]; ok {
				sel.Names = []string{c}
			}
			w.excs = append(w.excs, fleetv1alpha1.DriftException{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: fleetv1alpha1.DriftExceptionSpec{ClusterSelector: sel, ExpiresAt: metav1.NewTime(w.now.Add(d)),
					Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}, Paths: []string{"data"}},
			})
		case "check":
			c, err := newCheck(plain[0], plain[1])
			if err != nil {
				return fail("%v", err)
			}
			switch wave := args["wave"]; {
			case slices.Contains(plain, "promise"):
				w.promiseChecks = append(w.promiseChecks, c)
			case wave != "":
				i := slices.IndexFunc(w.strategy.Waves, func(x fleetv1alpha1.Wave) bool { return x.Name == wave })
				if i < 0 {
					w.strategy.Waves = append(w.strategy.Waves, fleetv1alpha1.Wave{Name: wave})
					i = len(w.strategy.Waves) - 1
				}
				w.strategy.Waves[i].Checks = append(w.strategy.Waves[i].Checks, c)
			default:
				w.strategy.Checks = append(w.strategy.Checks, c)
			}
		case "skipchecks":
			w.skip = f[1:]
		case "rerun", "skip":
			if len(f) != 4 {
				return fail("%s ROLLOUT WAVE CHECK", f[0])
			}
			list := w.promiseRO
			i := slices.IndexFunc(list, func(r fleetv1alpha1.Rollout) bool { return r.Name == f[1] })
			if i < 0 {
				list = w.instRO
				i = slices.IndexFunc(list, func(r fleetv1alpha1.Rollout) bool { return r.Name == f[1] })
			}
			if i < 0 {
				return fail("no rollout %s", f[1])
			}
			ro := &list[i]
			j := slices.IndexFunc(ro.Status.Waves, func(x fleetv1alpha1.WaveStatus) bool { return x.Name == f[2] })
			if j < 0 {
				return fail("no wave %s", f[2])
			}
			wv := &ro.Status.Waves[j]
			k := slices.IndexFunc(wv.Checks, func(x fleetv1alpha1.WaveCheckStatus) bool { return x.Name == f[3] })
			if k < 0 {
				wv.Checks = append(wv.Checks, fleetv1alpha1.WaveCheckStatus{Name: f[3]})
				k = len(wv.Checks) - 1
			}
			if f[0] == "rerun" {
				wv.Checks[k].Run++
			} else {
				wv.Checks[k].Skipped = &fleetv1alpha1.ChangeRecord{By: "alice", Message: "by hand"}
			}
		case "render":
			switch f[2] {
			case "ok":
				delete(w.outcome, f[1])
			case "failed":
				w.outcome[f[1]] = instanceplan.Failed
			case "empty":
				w.outcome[f[1]] = instanceplan.Empty
			default:
				return fail("render C ok|failed|empty")
			}
		case "apply":
			w.apply(f[1:]...)
		case "wait":
			d, err := time.ParseDuration(f[1])
			if err != nil {
				return fail("%v", err)
			}
			w.now = w.now.Add(d)
		case "reconcile":
			before := w.facts()
			rt, p, err := w.step()
			if err != nil {
				return fail("%v", err)
			}
			if err := checkInvariants(before, w.inputs(), rt, p); err != nil {
				return fail("invariant: %v", err)
			}
			trace(&out, w, rt, p)
		default:
			return fail("unknown command %q", f[0])
		}
		if f[0] != "reconcile" {
			fmt.Fprintf(&out, "%s\n", strings.Join(f, " "))
		}
	}
	return out.String(), nil
}

// trace writes one reconcile: the decision, each Target and what became
// of its Work, the deletions, and the instance's conditions.
func trace(out *strings.Builder, w *world, rt instanceplan.Routing, p instanceplan.Plan) {
	fmt.Fprintf(out, "  reconcile +%s: %s\n", w.now.Sub(epoch), rt.Decision)
	if c := rt.StartRollout; c != nil {
		fmt.Fprintf(out, "    start the Rollout of instance revision %s (from %s)\n", c.To, c.From)
	}
	writes := map[string]instanceplan.Write{}
	for _, wr := range p.Writes {
		writes[wr.Cluster] = wr
	}
	for _, t := range rt.Targets {
		revs := t.Revision
		if t.InstanceRevision != "" {
			revs += " " + t.InstanceRevision
		}
		by := ""
		if t.Rollout != nil {
			by = fmt.Sprintf(" by %s/%s", t.Rollout.Name, t.Rollout.Wave)
		}
		what := "empty: no Work"
		if wr, ok := writes[t.Cluster]; ok {
			what = string(wr.Op)
			if wr.Op == instanceplan.Unchanged {
				what = "unchanged"
			}
			if wr.Moved {
				what += ", moved"
			}
			for _, e := range wr.Desired.Spec.DriftExceptions {
				what += ", exception " + e.Name
			}
			for _, c := range wr.Desired.Spec.Checks {
				what += fmt.Sprintf(", check %s#%d (%s/%s)", c.Name, c.Run, c.Rollout, c.Wave)
			}
			if err, ok := p.CheckErrors[t.Cluster]; ok {
				what += ", checks left out: " + err.Error()
			}
		} else if err, ok := p.Failed[t.Cluster]; ok {
			what = "failed, left as it was: " + err.Error()
		}
		fmt.Fprintf(out, "    %-8s %s%s: %s\n", t.Cluster, revs, by, what)
	}
	for _, d := range p.Delete {
		fmt.Fprintf(out, "    %-8s delete (%s)\n", d.Spec.Cluster, d.Spec.Revision)
	}
	for _, c := range p.Held {
		fmt.Fprintf(out, "    %-8s held (%s)\n", c, p.HeldFor)
	}
	if w.subject.Instance == nil {
		return
	}
	for _, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionStalled, fleetv1alpha1.ConditionSpecApplied} {
		if c := meta.FindStatusCondition(w.status.Conditions, typ); c != nil {
			line := fmt.Sprintf("    %s=%s %s", typ, c.Status, c.Reason)
			if c.Message != "" {
				line += ": " + c.Message
			}
			fmt.Fprintln(out, line)
		}
	}
}
