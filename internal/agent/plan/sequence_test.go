package plan_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/golden"
)

// TestSequences plays every scenario in testdata/sequences (*.txt) through
// Begin and End, with a scripted member and hub, checks the invariants at
// every look and compares the trace with the scenario's golden file (`go
// test ./internal/agent/plan -update` rewrites them).
//
// A scenario is one command a line ('#' starts a comment):
//
//	resync D                 the resync interval (default 20s)
//	jitter F                 the jitter of every look (default 0.5)
//	hub gen=N spec=S [exc=E] [uid=U] [expires=D]
//	                         the hub has the Work (D: a DriftException expiring D from now)
//	hub deleting | hub gone  the hub deletes it (a finalizer holds it) | no longer has it
//	synced true|false        whether the hub's Work watch has synced
//	member settled|converging|failing
//	                         what an apply or check finds: all ready; applied, not ready
//	                         yet; a transient failure (the pass is incomplete)
//	replaced                 the next check finds an applied object replaced
//	confirm Confirmed|NotConfirmed|Unreachable
//	                         the hub's answer when asked whether the Work is gone
//	prune done|retry         what the next prune does
//	queue busy|idle          whether other Works wait for a worker
//	watch                    a drift watch event asks for a look
//	restart                  the agent restarts: state from its store only
//	wait D                   time passes
//	look                     the agent looks at the Work now
//	next                     time passes to the next look the agent scheduled; it looks
func TestSequences(t *testing.T) {
	golden.Sequences(t, "testdata/sequences/*.txt", func(script []byte) (string, error) { return play(string(script)) })
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is the scripted hub, member and agent of a scenario.
type world struct {
	now    time.Time
	resync time.Duration
	jitter float64

	// The hub.
	onHub, deleting, synced bool
	hub                     plan.Identity
	exceptions              []fleetv1alpha1.WorkDriftException
	confirm                 plan.Confirmation
	queueBusy               bool

	// The member.
	member    string // settled, converging, failing
	replaced  bool
	pruneDone bool

	// The agent.
	known    bool
	state    plan.State
	recorded *plan.Identity
	last     *plan.Pass
	// inventory says whether the agent's store lists objects (prune needs them).
	watchDue bool
	// scheduled is when the agent's queue hands the Work out again.
	scheduled time.Time
	// reported counts status writes.
	reported int
}

func play(script string) (string, error) {
	w := &world{now: epoch, resync: 20 * time.Second, jitter: 0.5, synced: true, member: "settled", pruneDone: true}
	var out strings.Builder
	for n, line := range strings.Split(script, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		fail := func(format string, a ...any) error {
			return fmt.Errorf("line %d (%s): %s", n+1, strings.Join(f, " "), fmt.Sprintf(format, a...))
		}
		arg := func() string { // the command's first argument
			if len(f) > 1 {
				return f[1]
			}
			return ""
		}
		switch f[0] {
		case "resync", "wait":
			d, err := time.ParseDuration(arg())
			if err != nil {
				return out.String(), fail("%v", err)
			}
			if f[0] == "resync" {
				w.resync = d
			} else {
				w.now = w.now.Add(d)
				fmt.Fprintf(&out, "%s  wait %s\n", w.at(), d)
			}
		case "jitter":
			j, err := strconv.ParseFloat(arg(), 64)
			if err != nil {
				return out.String(), fail("%v", err)
			}
			w.jitter = j
		case "hub":
			switch arg() {
			case "deleting":
				w.deleting = true
			case "gone":
				w.onHub, w.deleting = false, false
			default:
				if err := w.setHub(f[1:]); err != nil {
					return out.String(), fail("%v", err)
				}
			}
			fmt.Fprintf(&out, "%s  %s\n", w.at(), strings.Join(f, " "))
		case "synced":
			w.synced = arg() == "true"
			fmt.Fprintf(&out, "%s  %s\n", w.at(), strings.Join(f, " "))
		case "member":
			w.member = arg()
			fmt.Fprintf(&out, "%s  %s\n", w.at(), strings.Join(f, " "))
		case "replaced":
			w.replaced = true
			fmt.Fprintf(&out, "%s  an applied object is replaced on the member\n", w.at())
		case "confirm":
			w.confirm = plan.Confirmation(arg())
		case "prune":
			w.pruneDone = arg() == "done"
		case "queue":
			w.queueBusy = arg() == "busy"
		case "watch":
			w.watchDue = true
			fmt.Fprintf(&out, "%s  drift watch event\n", w.at())
		case "restart":
			w.state, w.last, w.watchDue, w.scheduled = plan.State{}, nil, false, w.now
			w.known = w.recorded != nil
			fmt.Fprintf(&out, "%s  agent restarts (store: %s)\n", w.at(), describeRecord(w.recorded))
		case "look", "next":
			if f[0] == "next" {
				if w.scheduled.IsZero() {
					return out.String(), fail("no look scheduled")
				}
				w.now = w.scheduled
			}
			line, err := w.look()
			out.WriteString(line)
			if err != nil {
				return out.String(), fail("%v", err)
			}
		default:
			return out.String(), fail("unknown command")
		}
	}
	return out.String(), nil
}

func (w *world) at() string { return fmt.Sprintf("%10s", "+"+w.now.Sub(epoch).String()) }

func describeRecord(r *plan.Identity) string {
	if r == nil {
		return "empty"
	}
	return fmt.Sprintf("gen %d spec %s", r.Generation, r.SpecHash)
}

func (w *world) setHub(args []string) error {
	if !w.onHub {
		w.hub = plan.Identity{UID: "u1"}
	}
	w.onHub, w.deleting = true, false
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("want key=value, got %q", a)
		}
		switch k {
		case "gen":
			g, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return err
			}
			w.hub.Generation = g
		case "spec":
			w.hub.SpecHash = v
		case "exc":
			w.hub.ExceptionsHash = strings.TrimPrefix(v, "-")
		case "uid":
			w.hub.UID = v
		case "expires":
			d, err := time.ParseDuration(v)
			if err != nil {
				return err
			}
			w.exceptions = []fleetv1alpha1.WorkDriftException{{Name: "e", ExpiresAt: metav1.NewTime(w.now.Add(d))}}
			w.hub.ExceptionsHash = "e@" + v
		default:
			return fmt.Errorf("unknown key %q", k)
		}
	}
	return nil
}

// look is one look of the agent, as agent.sync does it, against the script.
func (w *world) look() (string, error) {
	l := plan.Look{Now: w.now, Resync: w.resync, Jitter: w.jitter, Known: w.known,
		OnHub: w.onHub, Deleting: w.onHub && w.deleting, InformerSynced: w.synced,
		Recorded: w.recorded, Last: w.last}
	switch {
	case w.onHub:
		l.Desired, l.Exceptions = w.hub, w.exceptions
	case w.known && w.recorded != nil:
		l.Desired = *w.recorded
	}
	if w.watchDue {
		l.WatchDue, w.watchDue = true, false
	}
	start := plan.Begin(w.state, l)
	var steps []string
	if start.Action == plan.ConfirmDeletion {
		if w.confirm == plan.NotAsked {
			return "", fmt.Errorf("the hub is asked to confirm a deletion: script its answer with confirm")
		}
		l.Deletion = w.confirm
		steps = append(steps, "confirm:"+string(w.confirm))
		start = plan.Begin(w.state, l)
	}
	if err := checkStart(l, start); err != nil {
		return "", err
	}
	steps = append(steps, string(start.Action))
	o := plan.Outcome{PruneDone: true, QueueIdle: !w.queueBusy}
	switch start.Action {
	case plan.Nothing:
	case plan.PruneDeleting, plan.PruneDeleted:
		o.PruneDone = w.pruneDone
		if !w.known {
			o.PruneDone = true // nothing recorded: nothing to prune
		}
		w.known = true
	case plan.Apply, plan.Retry, plan.Check, plan.Idle:
		w.known = true
		if start.SaveRecord {
			rec := l.Desired
			w.recorded = &rec
			steps = append(steps, "save-record")
		}
		if start.ObserveGeneration {
			w.last.Generation = l.Desired.Generation
			steps = append(steps, "observe-generation")
		}
		if start.Rejudge {
			steps = append(steps, "rejudge")
		}
		switch start.Action {
		case plan.Apply, plan.Retry:
			o.Applied = true
		case plan.Check:
			if w.replaced {
				w.replaced = false
				o.Applied = true
				steps = append(steps, "reapply")
			}
		}
		if o.Applied {
			w.last = &plan.Pass{Generation: l.Desired.Generation, Complete: w.member != "failing"}
		}
		if start.Action != plan.Idle {
			w.last.Settled = w.member == "settled"
		}
		o.Pass = &plan.Pass{Generation: w.last.Generation, Complete: w.last.Complete, Settled: w.last.Settled}
	}
	end := plan.End(start, l, o)
	if err := checkEnd(l, start, o, end); err != nil {
		return "", err
	}
	if start.Action != plan.Wait && start.Action != plan.Nothing {
		w.state = end.State
	}
	w.scheduled = time.Time{}
	if end.Again {
		w.scheduled = w.now.Add(end.LookAfter)
	}
	if end.HoldFor > 0 && (w.scheduled.IsZero() || w.now.Add(end.HoldFor).Before(w.scheduled)) {
		w.scheduled = w.now.Add(end.HoldFor)
	}
	if end.Forget {
		w.known, w.recorded, w.last, w.state = false, nil, nil, plan.State{}
		steps = append(steps, "forget")
	}
	var after []string
	switch {
	case end.Report:
		w.reported++
		after = append(after, "report")
	case end.HoldFor > 0:
		after = append(after, "hold "+round(end.HoldFor))
	case start.Action == plan.Nothing || start.Action == plan.PruneDeleted:
	case !w.onHub:
		after = append(after, "no report (hub not seen)")
	}
	if len(after) == 0 && !end.Again {
		after = append(after, "no look scheduled")
	}
	if end.Again {
		after = append(after, "next in "+round(end.LookAfter))
	}
	if end.Rescheduled {
		after = append(after, fmt.Sprintf("converging=%v", end.Converging))
	}
	if w.state.Attempt > 0 {
		after = append(after, fmt.Sprintf("attempt=%d", w.state.Attempt))
	}
	return fmt.Sprintf("%s  look: %s -> %s\n", w.at(), strings.Join(steps, ", "), strings.Join(after, ", ")), nil
}

func round(d time.Duration) string { return d.Round(time.Millisecond).String() }

// checkStart checks Begin's invariants.
func checkStart(l plan.Look, s plan.Start) error {
	switch s.Action {
	case plan.PruneDeleting, plan.PruneDeleted:
		if l.Deletion != plan.Confirmed {
			return fmt.Errorf("%s without the hub's confirmation", s.Action)
		}
		if s.Action == plan.PruneDeleted && (!l.InformerSynced || l.OnHub) {
			return fmt.Errorf("pruning a Work the hub's watch may still have (synced %v, on hub %v)", l.InformerSynced, l.OnHub)
		}
	case plan.Apply, plan.Retry, plan.Check, plan.Idle:
		if !l.OnHub && !l.Known {
			return fmt.Errorf("%s a Work the agent does not know", s.Action)
		}
		if l.Deleting {
			return fmt.Errorf("%s a Work being deleted", s.Action)
		}
	}
	return nil
}

// checkEnd checks End's invariants.
func checkEnd(l plan.Look, s plan.Start, o plan.Outcome, e plan.Finish) error {
	if e.Report && !l.OnHub {
		return fmt.Errorf("reports status without the hub")
	}
	if e.Again && e.LookAfter <= 0 {
		return fmt.Errorf("looks again after %s", e.LookAfter)
	}
	limit := max(time.Duration(float64(l.Resync)*1.1), time.Duration(float64(plan.MaxRecheck)*1.25))
	if e.Again && e.LookAfter > limit {
		return fmt.Errorf("looks again after %s, more than %s", e.LookAfter, limit)
	}
	if e.HoldFor > plan.StatusHold+plan.StatusHold/4 {
		return fmt.Errorf("holds status for %s", e.HoldFor)
	}
	if o.Pass != nil && !o.Pass.Settled && e.Rescheduled && e.LookAfter > time.Duration(float64(plan.MaxRecheck)*1.25) {
		return fmt.Errorf("an unsettled Work waits %s", e.LookAfter)
	}
	if e.Forget && s.Action != plan.PruneDeleted {
		return fmt.Errorf("forgets a Work after %s", s.Action)
	}
	return nil
}

func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t) }
