package v1alpha1

import (
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The one way Flotilla writes a condition, on the hub and in the agent (this
// package is the only one both may import; it needs no client). Read
// docs/development.md, "Writing status and conditions", first.

// MaxConditionMessage bounds every condition message Flotilla writes, in
// bytes; a longer one is cut on a character boundary and ends with "…".
const MaxConditionMessage = 1024

// SetCondition sets c in conds at now:
//
//   - the transition time is now, to the second (what the API keeps), when
//     the condition is new or its status changes, and kept otherwise;
//   - a condition that says exactly the same (status, reason, message and
//     observedGeneration) is left as it is, so a reconcile that observes no
//     change costs no status write;
//   - a changed message is always written, even under the same status and
//     reason: it names the cause (which Override, how many clusters), and a
//     stale one misleads (an instance once kept naming an Override that had
//     been deleted, because the next refused one had the same reason). So a
//     message must not embed what changes by itself, such as an age;
//   - the message is cut to MaxConditionMessage.
func SetCondition(conds *[]metav1.Condition, c metav1.Condition, now time.Time) {
	c.Message = ClipMessage(c.Message, MaxConditionMessage)
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	if old := meta.FindStatusCondition(*conds, c.Type); old != nil && old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	meta.SetStatusCondition(conds, c)
}

// ClipMessage cuts s to at most n bytes without splitting a character,
// marking the cut with "…": the one truncation of messages Flotilla shows.
func ClipMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ConditionSetter sets the conditions of one status, all for one observed
// generation at one instant:
//
//	set := fleetv1alpha1.NewConditionSetter(&st.Conditions, obj.Generation, now)
//	set.Set(fleetv1alpha1.ConditionActive, metav1.ConditionTrue, fleetv1alpha1.ReasonInForce, "…")
//	set.Ready(fleetv1alpha1.ReasonSucceeded, "…")
//
// +kubebuilder:object:generate=false
type ConditionSetter struct {
	conds      *[]metav1.Condition
	generation int64
	now        time.Time
}

// NewConditionSetter returns a setter of conds for generation at now, with
// SetCondition's rules.
func NewConditionSetter(conds *[]metav1.Condition, generation int64, now time.Time) ConditionSetter {
	return ConditionSetter{conds: conds, generation: generation, now: now}
}

// Set sets one condition.
func (s ConditionSetter) Set(typ string, status metav1.ConditionStatus, reason, message string) {
	SetCondition(s.conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: s.generation}, s.now)
}

// SetBool sets one condition True when ok, False otherwise.
func (s ConditionSetter) SetBool(typ string, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	s.Set(typ, status, reason, message)
}

// The kstatus trio. Exactly one of these describes an object at a time, so
// kstatus (and `kubectl wait --for=condition=Ready`, Argo CD health) reads
// it as Current, InProgress or Failed.

// Ready: the object reached its desired state (Ready True; Reconciling and
// Stalled False). kstatus: Current.
func (s ConditionSetter) Ready(reason, message string) {
	s.trio(metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse, reason, message)
}

// Reconciling: the hub (or the agent) works towards the desired state and
// will get there without help (Ready False, Reconciling True, Stalled
// False). kstatus: InProgress.
func (s ConditionSetter) Reconciling(reason, message string) {
	s.trio(metav1.ConditionFalse, metav1.ConditionTrue, metav1.ConditionFalse, reason, message)
}

// Stalled: it cannot proceed until a person acts (bad input, a failure not
// retried by itself, a member gone quiet) (Ready False, Reconciling False,
// Stalled True). kstatus: Failed.
func (s ConditionSetter) Stalled(reason, message string) {
	s.trio(metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue, reason, message)
}

// NotReady: not at its desired state, yet neither working towards it nor
// stuck: it waits for something outside (a paused Rollout) (all three
// False). kstatus: InProgress.
func (s ConditionSetter) NotReady(reason, message string) {
	s.trio(metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionFalse, reason, message)
}

func (s ConditionSetter) trio(ready, reconciling, stalled metav1.ConditionStatus, reason, message string) {
	s.Set(ConditionReady, ready, reason, message)
	s.Set(ConditionReconciling, reconciling, reason, message)
	s.Set(ConditionStalled, stalled, reason, message)
}

// MaxEventNote is the most an Event's note may hold, in bytes: the API
// server refuses a longer Event, and the Event is lost.
const MaxEventNote = 1024

// EventNote is the note of an Event that says what happened (text) and who
// did it: "<text> (by <actor>)", within MaxEventNote. The text quotes what
// people write (a message, a freeze's reason), so it is cut before the
// actor: cut after it, the note would name no one, or whoever a quoted
// "(by …)" at the cut names.
func EventNote(text, actor string) string {
	by := " (by " + ClipMessage(actor, 253) + ")"
	return ClipMessage(text, MaxEventNote-len(by)) + by
}
