package freeze

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

func TestStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	until := metav1.NewTime(now.Add(time.Hour))
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "incident-42", Generation: 2},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "bad node image", Action: fleetv1alpha1.FreezeRollback, Until: &until},
	}
	held := heldBy("incident-42", "FleetFreeze incident-42: bad node image")
	heldByOther := heldBy("incident-4", "FleetFreeze incident-4: other")
	rolledBack := rolledBackBy("incident-42", "FleetFreeze incident-42 rolls back every rollout in flight: bad node image")
	rollouts := []fleetv1alpha1.Rollout{held, heldByOther, rolledBack}

	st := Status(f, rollouts, now)
	if st.HeldRollouts != 1 || st.RolledBackRollouts != 1 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v", st)
	}
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("active freeze: %+v", st.Conditions)
	}

	st = Status(f, nil, now.Add(2*time.Hour))
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionActive); c == nil || c.Status != metav1.ConditionFalse || c.Reason != fleetv1alpha1.ReasonExpired {
		t.Errorf("expired freeze: %+v", st.Conditions)
	}
}

// The counts come from the Rollouts' fields (status.freeze), never from
// their messages: text that names another freeze, or this one, changes
// nothing; only the fields do.
func TestStatusCountsFieldsNotMessages(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "other", Generation: 1},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "r", Action: fleetv1alpha1.FreezeRollback},
	}
	for _, tc := range []struct {
		name            string
		rollout         fleetv1alpha1.Rollout
		held, rolledBck int32
	}{
		{"held by another freeze, message names this one", heldBy("incident-1", "FleetFreeze other: not me"), 0, 0},
		{"held by this freeze, message names another", heldBy("other", "FleetFreeze incident-1: says the text"), 1, 0},
		{"held by this freeze, no message", heldBy("other", ""), 1, 0},
		{"rolled back by another freeze, history names this one", rolledBackBy("incident-1", "FleetFreeze other rolls back every rollout in flight"), 0, 0},
		{"rolled back by this freeze, history names another", rolledBackBy("other", "FleetFreeze incident-1 rolls back"), 0, 1},
		{"no fields, every message names this one", fleetv1alpha1.Rollout{Status: fleetv1alpha1.RolloutStatus{
			Phase: fleetv1alpha1.RolloutPhaseRollingBack,
			Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionFrozen, Status: metav1.ConditionTrue, Message: "FleetFreeze other: r"},
				{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Message: "FleetFreeze other: r"}},
			History: []fleetv1alpha1.HistoryEntry{{To: fleetv1alpha1.RolloutPhaseRollingBack, Message: "FleetFreeze other rolls back every rollout in flight: r"}},
		}}, 0, 0},
		{"held by this freeze, but ended", func() fleetv1alpha1.Rollout {
			ro := heldBy("other", "")
			ro.Status.Phase = fleetv1alpha1.RolloutPhaseAborted
			return ro
		}(), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := Status(f, []fleetv1alpha1.Rollout{tc.rollout}, now)
			if st.HeldRollouts != tc.held || st.RolledBackRollouts != tc.rolledBck {
				t.Errorf("held %d, rolled back %d; want %d and %d", st.HeldRollouts, st.RolledBackRollouts, tc.held, tc.rolledBck)
			}
		})
	}
}

// heldBy is a Paused Rollout whose status.freeze.heldBy names freeze, with
// a Frozen condition saying message.
func heldBy(freeze, message string) fleetv1alpha1.Rollout {
	return fleetv1alpha1.Rollout{Status: fleetv1alpha1.RolloutStatus{
		Phase:      fleetv1alpha1.RolloutPhasePaused,
		Conditions: []metav1.Condition{{Type: fleetv1alpha1.ConditionFrozen, Status: metav1.ConditionTrue, Message: message}},
		Freeze:     &fleetv1alpha1.RolloutFreezeStatus{HeldBy: freeze},
	}}
}

// rolledBackBy is a RolledBack Rollout whose status.freeze.rolledBackBy
// names freeze, with a history entry saying message.
func rolledBackBy(freeze, message string) fleetv1alpha1.Rollout {
	return fleetv1alpha1.Rollout{Status: fleetv1alpha1.RolloutStatus{
		Phase: fleetv1alpha1.RolloutPhaseRolledBack,
		History: []fleetv1alpha1.HistoryEntry{
			{To: fleetv1alpha1.RolloutPhaseProgressing},
			{To: fleetv1alpha1.RolloutPhaseRollingBack, Message: message, Freeze: freeze},
			{To: fleetv1alpha1.RolloutPhaseRolledBack},
		},
		Freeze: &fleetv1alpha1.RolloutFreezeStatus{RolledBackBy: freeze},
	}}
}

// The freeze's Event follows its Active condition: one when it turns
// active, one when it expires, none while it stays as it was.
// After a Rollback freeze every Rollout it rolled back has ended: it holds
// none, and says so. The counts are written even when 0, so `kubectl get
// fleetfreezes` shows HELD 0 (a merge patch from 1 to an omitted 0 would
// delete the field and leave the column blank).
func TestStatusAfterARollbackFreezeShowsZeroHeld(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "incident-42", Generation: 1},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "bad node image", Action: fleetv1alpha1.FreezeRollback},
		Status:     fleetv1alpha1.FleetFreezeStatus{HeldRollouts: 1},
	}
	rolledBack := rolledBackBy("incident-42", "FleetFreeze incident-42 rolls back every rollout in flight: bad node image")
	st := Status(f, []fleetv1alpha1.Rollout{rolledBack}, now)
	if st.HeldRollouts != 0 || st.RolledBackRollouts != 1 {
		t.Errorf("status %+v, want 0 held and 1 rolled back", st)
	}
	out, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"heldRollouts":0`) || !strings.Contains(string(out), `"rolledBackRollouts":1`) {
		t.Errorf("status JSON %s leaves out heldRollouts 0", out)
	}
}

func TestRecordTransition(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	until := metav1.NewTime(now.Add(time.Hour))
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "incident-42"},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: "bad node image", FrozenBy: "alice", Until: &until},
	}
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Recorder: rec}
	ctx := context.Background()
	next := func() string {
		select {
		case e := <-rec.Events:
			return e
		default:
			return ""
		}
	}

	f.Status = Status(f, nil, now)
	r.recordTransition(ctx, f, false)
	if e := next(); e != "Warning Activated no rollout admits any cluster (Halt): bad node image (by alice)" {
		t.Errorf("activation event %q", e)
	}
	r.recordTransition(ctx, f, true)
	if e := next(); e != "" {
		t.Errorf("an active freeze that stays active recorded %q", e)
	}
	f.Status = Status(f, nil, now.Add(2*time.Hour))
	r.recordTransition(ctx, f, true)
	if e := next(); !strings.HasPrefix(e, "Normal Expired ended at 2026-11-22T11:00:00Z") {
		t.Errorf("expiry event %q", e)
	}
	r.recordTransition(ctx, f, false)
	if e := next(); e != "" {
		t.Errorf("an expired freeze that stays expired recorded %q", e)
	}
}

// hubRecorder is the hub's Event recorder writing to the API server behind
// cfg, as the manager's is.
func hubRecorder(t *testing.T, cfg *rest.Config) events.EventRecorder {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); b.Shutdown() })
	return controller.EventRecorder(recorderOf{b.NewRecorder(kube.NewScheme(), EventSource)}, EventSource)
}

type recorderOf struct{ events.EventRecorder }

func (r recorderOf) GetEventRecorder(string) events.EventRecorder { return r.EventRecorder }

// A freeze whose reason is long (an incident write-up, up to the 1024
// bytes the API takes) still raises its Warning Event naming who froze:
// the note, "<condition message> (by alice)", was over the 1 kB the API
// server takes, so the kill switch was pulled without an Event.
func TestALongReasonKeepsTheFreezesWarningEvent(t *testing.T) {
	ctx := context.Background()
	hub := testenv.NewHubWithCRDs(t)
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fleetv1alpha1.FleetFreeze{
		ObjectMeta: metav1.ObjectMeta{Name: "incident-43"},
		Spec:       fleetv1alpha1.FleetFreezeSpec{Reason: strings.Repeat("x", 1024), FrozenBy: "alice"},
	}
	if err := c.Create(ctx, f); err != nil {
		t.Fatal(err)
	}
	f.Status = Status(f, nil, time.Now())
	r := &Reconciler{Recorder: hubRecorder(t, hub.RESTConfig)}
	r.recordTransition(ctx, f, false)

	var notes []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list := &eventsv1.EventList{}
		if err := c.List(ctx, list, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			t.Fatal(err)
		}
		notes = notes[:0]
		for _, e := range list.Items {
			if e.Regarding.Name == f.Name && e.Reason == fleetv1alpha1.ReasonActivated {
				notes = append(notes, e.Note)
			}
		}
		if len(notes) > 0 {
			break
		}
	}
	if len(notes) != 1 {
		t.Fatalf("%d Activated Events on FleetFreeze %s, want 1", len(notes), f.Name)
	}
	if !strings.HasSuffix(notes[0], " (by alice)") {
		t.Errorf("the Activated Event does not end with who froze: …%s", notes[0][max(0, len(notes[0])-40):])
	}
}
