package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The agent's correlator decides as client-go's (tools/record, default
// options) for a sequence that exercises all of it: repeats counted and
// patched, similar Events combined from the 10th message on, the spam
// filter's burst of 25 and its refill, and the 10-minute aggregation window.
func TestEventCorrelatorAsClientGo(t *testing.T) {
	start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ourClock, theirClock := clocktesting.NewFakeClock(start), clocktesting.NewFakeClock(start)
	ours := newEventCorrelator(ourClock)
	theirs := record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{Clock: theirClock})
	rec := &eventRecorder{source: corev1.EventSource{Component: eventComponent, Host: "edge-1"}, clock: ourClock}
	works := []*fleetv1alpha1.Work{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-cluster-edge-1", Name: "web", UID: "u1", ResourceVersion: "7"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-cluster-edge-1", Name: "db", UID: "u2", ResourceVersion: "9"}},
	}
	rv := 100
	seen := map[string]int{}
	step := func(i int, w *fleetv1alpha1.Work, eventType, reason, message string) {
		t.Helper()
		event := rec.makeEvent(w, eventType, reason, message)
		got := ours.correlate(event)
		want, err := theirs.EventCorrelate(event.DeepCopy())
		if err != nil {
			t.Fatalf("step %d: client-go: %v", i, err)
		}
		if got.skip != want.Skip {
			t.Fatalf("step %d (%s %s %q): skip %v, client-go's %v", i, w.Name, reason, message, got.skip, want.Skip)
		}
		if got.skip {
			seen["skipped"]++
			return
		}
		if got.patch != nil {
			seen["patched"]++
		}
		if strings.HasPrefix(got.event.Message, "(combined") {
			seen["combined"]++
		}
		if !reflect.DeepEqual(got.event, want.Event) || string(got.patch) != string(want.Patch) {
			t.Fatalf("step %d (%s %s %q):\nours      %+v\npatch %s\nclient-go %+v\npatch %s", i, w.Name, reason, message, got.event, got.patch, want.Event, want.Patch)
		}
		// The API server stores it: a new resourceVersion.
		stored := got.event.DeepCopy()
		rv++
		stored.ResourceVersion = fmt.Sprint(rv)
		ours.updateState(stored)
		theirs.UpdateState(stored.DeepCopy())
	}
	tick := func(d time.Duration) {
		ourClock.Step(d)
		theirClock.Step(d)
	}
	i := 0
	for round := range 3 {
		for range 4 { // repeats: counted
			step(i, works[0], corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected, "corrected drift on ConfigMap/a/b: data.x changed by kubectl")
			i++
			tick(time.Second)
		}
		// One reason, many messages: combined from the 10th. (Each message
		// new: which one client-go forgets once it combines is random.)
		for m := range 14 {
			step(i, works[0], corev1.EventTypeWarning, fleetv1alpha1.ReasonDriftDetected, fmt.Sprintf("drift on ConfigMap/a/cm-%d-%d left in place", round, m))
			i++
			tick(time.Second)
		}
		for m := range 30 { // over the spam budget of the other Work
			step(i, works[1], corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftAccepted, fmt.Sprintf("drift on Deployment/a/d-%d accepted", m%3))
			i++
		}
		tick(time.Duration(round+5) * time.Minute) // refills a token or two; the last passes the aggregation window
	}
	if seen["skipped"] == 0 || seen["patched"] == 0 || seen["combined"] == 0 {
		t.Errorf("the sequence does not exercise the correlator: %v", seen)
	}
	t.Logf("%d Events: %v", i, seen)
}

// fakeEventWriter records what the recorder writes; fail decides the
// error of each write, in order (nil: written).
type fakeEventWriter struct {
	mu      sync.Mutex
	calls   []string
	fail    []error
	written chan struct{}
}

func (f *fakeEventWriter) next(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	var err error
	if len(f.fail) > 0 {
		err, f.fail = f.fail[0], f.fail[1:]
	}
	if err == nil {
		f.written <- struct{}{}
	}
	return err
}

func (f *fakeEventWriter) Create(event *corev1.Event) (*corev1.Event, error) {
	if err := f.next(fmt.Sprintf("create %s count=%d rv=%q %s", event.Reason, event.Count, event.ResourceVersion, event.Message)); err != nil {
		return nil, err
	}
	out := event.DeepCopy()
	out.ResourceVersion = "1"
	return out, nil
}

func (f *fakeEventWriter) Patch(event *corev1.Event, data []byte) (*corev1.Event, error) {
	if err := f.next(fmt.Sprintf("patch %s %s", event.Name[:strings.LastIndexByte(event.Name, '.')], data)); err != nil {
		return nil, err
	}
	out := event.DeepCopy()
	out.ResourceVersion = "2"
	return out, nil
}

func (f *fakeEventWriter) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Written as client-go's recorder writes: a new Event is created, a repeat
// patches it (or is created again when it is gone), a transient failure is
// retried, a refusal is not.
func TestEventRecorderWrites(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	gone := apierrors.NewNotFound(schema.GroupResource{Resource: "events"}, "x")
	refused := apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "x", errors.New("no"))
	sink := &fakeEventWriter{written: make(chan struct{}, 10), fail: []error{
		nil,       // 1: created
		nil,       // 2: patched
		gone, nil, // 3: patch finds it gone, created again
		errors.New("connection reset"), nil, // 4: retried
		refused, // 5: not retried
	}}
	r := newEventRecorderFor(context.Background(), sink, corev1.EventSource{Component: eventComponent, Host: "edge-1"}, clk)
	r.sleep = time.Millisecond
	defer r.stop()
	w := &fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Namespace: "flotilla-cluster-edge-1", Name: "web", UID: "u1"}}
	wait := func() {
		t.Helper()
		select {
		case <-sink.written:
		case <-time.After(10 * time.Second):
			t.Fatalf("nothing written; calls %v", sink.log())
		}
	}
	r.Eventf(w, corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected, "corrected drift on %s", "ConfigMap/a/b")
	wait()
	r.Event(w, corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected, "corrected drift on ConfigMap/a/b")
	wait()
	r.Event(w, corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftCorrected, "corrected drift on ConfigMap/a/b")
	wait()
	r.Event(w, corev1.EventTypeWarning, fleetv1alpha1.ReasonDriftDetected, "drift on ConfigMap/a/b left in place")
	wait()
	r.Event(w, corev1.EventTypeWarning, EventDriftExceptionExpired, "refused")
	r.Event(w, "Bogus", "NotAType", "never written")
	r.Event(w, corev1.EventTypeNormal, fleetv1alpha1.ReasonDriftAccepted, "accepted")
	wait()
	want := []string{
		`create DriftCorrected count=1 rv="" corrected drift on ConfigMap/a/b`,
		`patch web {"count":2,"lastTimestamp":"2026-12-05T10:00:00Z","message":"corrected drift on ConfigMap/a/b"}`,
		`patch web {"count":3,"lastTimestamp":"2026-12-05T10:00:00Z","message":"corrected drift on ConfigMap/a/b"}`,
		`create DriftCorrected count=3 rv="" corrected drift on ConfigMap/a/b`,
		`create DriftDetected count=1 rv="" drift on ConfigMap/a/b left in place`,
		`create DriftDetected count=1 rv="" drift on ConfigMap/a/b left in place`,
		`create DriftExceptionExpired count=1 rv="" refused`,
		`create DriftAccepted count=1 rv="" accepted`,
	}
	if got := sink.log(); !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	ev := r.makeEvent(w, corev1.EventTypeNormal, "R", "m")
	if ev.Name != fmt.Sprintf("web.%x", now.UnixNano()) || ev.Namespace != w.Namespace ||
		ev.InvolvedObject != (corev1.ObjectReference{Kind: "Work", APIVersion: "fleet.flotilla.dev/v1alpha1", Namespace: w.Namespace, Name: "web", UID: "u1"}) ||
		ev.Source != (corev1.EventSource{Component: "flotilla-agent", Host: "edge-1"}) || ev.ReportingController != "flotilla-agent" || ev.ReportingInstance != "edge-1" {
		t.Errorf("event %+v", ev)
	}
	if n := eventName(strings.Repeat("w", 260), 1); strings.HasPrefix(n, "www") {
		t.Errorf("a name too long for an Event: %q, want a UUID", n)
	}
}
