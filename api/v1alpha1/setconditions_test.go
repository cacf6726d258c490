package v1alpha1

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSetCondition(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var conds []metav1.Condition
	SetCondition(&conds, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Down", Message: "down for 1s", ObservedGeneration: 1}, t0)

	// The same condition: nothing changes.
	before := append([]metav1.Condition(nil), conds...)
	SetCondition(&conds, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Down", Message: "down for 1s", ObservedGeneration: 1}, t0.Add(8*time.Second))
	if !equality.Semantic.DeepEqual(before, conds) {
		t.Errorf("an unchanged condition was rewritten: %+v", conds)
	}
	// Same status and reason, another message: the message says what is
	// true now, the transition time stays.
	SetCondition(&conds, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Down", Message: "down: override b", ObservedGeneration: 1}, t0.Add(8*time.Second))
	if c := meta.FindStatusCondition(conds, "Ready"); c.Message != "down: override b" || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("after a new message: %+v", c)
	}
	// New generation: message and generation refresh, the transition time stays.
	SetCondition(&conds, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Down", Message: "down for 20s", ObservedGeneration: 2}, t0.Add(20*time.Second))
	if c := meta.FindStatusCondition(conds, "Ready"); c.Message != "down for 20s" || c.ObservedGeneration != 2 || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("after a new generation: %+v", c)
	}
	// New status: transition time moves (to the second).
	t1 := t0.Add(time.Minute + 300*time.Millisecond)
	SetCondition(&conds, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Up", ObservedGeneration: 2}, t1)
	if c := meta.FindStatusCondition(conds, "Ready"); c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Time.Equal(t1.Truncate(time.Second)) {
		t.Errorf("after a transition: %+v", c)
	}
	if len(conds) != 1 {
		t.Errorf("conditions = %+v", conds)
	}
	// Messages are bounded, on a character boundary.
	SetCondition(&conds, metav1.Condition{Type: "Long", Status: metav1.ConditionTrue, Reason: "R", Message: strings.Repeat("é", MaxConditionMessage)}, t1)
	if c := meta.FindStatusCondition(conds, "Long"); len(c.Message) > MaxConditionMessage || !utf8.ValidString(c.Message) || !strings.HasSuffix(c.Message, "…") {
		t.Errorf("long message kept as %d bytes: %q…", len(c.Message), c.Message[:20])
	}
}

func TestConditionSetter(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var conds []metav1.Condition
	NewConditionSetter(&conds, 3, t0).Reconciling(ReasonProgressing, "1 of 2")
	want := map[string]metav1.ConditionStatus{ConditionReady: metav1.ConditionFalse, ConditionReconciling: metav1.ConditionTrue, ConditionStalled: metav1.ConditionFalse}
	for typ, status := range want {
		if c := meta.FindStatusCondition(conds, typ); c == nil || c.Status != status || c.ObservedGeneration != 3 || c.Reason != ReasonProgressing {
			t.Errorf("%s: %+v, want %s", typ, c, status)
		}
	}

	// Same state, new count: the message changes, the transition time does not.
	NewConditionSetter(&conds, 3, t0.Add(time.Minute)).Reconciling(ReasonProgressing, "2 of 2")
	if c := meta.FindStatusCondition(conds, ConditionReconciling); c.Message != "2 of 2" || !c.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("refreshed message: %+v", c)
	}

	NewConditionSetter(&conds, 3, t0.Add(2*time.Minute)).Stalled(ReasonInvalidSpec, "bad")
	if !meta.IsStatusConditionTrue(conds, ConditionStalled) || meta.IsStatusConditionTrue(conds, ConditionReconciling) || meta.IsStatusConditionTrue(conds, ConditionReady) {
		t.Errorf("stalled: %+v", conds)
	}
	NewConditionSetter(&conds, 3, t0.Add(3*time.Minute)).Ready(ReasonSucceeded, "done")
	if !meta.IsStatusConditionTrue(conds, ConditionReady) || meta.IsStatusConditionTrue(conds, ConditionReconciling) || meta.IsStatusConditionTrue(conds, ConditionStalled) {
		t.Errorf("ready: %+v", conds)
	}
	NewConditionSetter(&conds, 3, t0).SetBool(ConditionActive, true, ReasonInForce, "")
	if !meta.IsStatusConditionTrue(conds, ConditionActive) || len(conds) != 4 {
		t.Errorf("SetBool: %+v", conds)
	}
}
