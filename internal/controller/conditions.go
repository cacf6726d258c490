package controller

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets c in conds. A condition whose status, reason and
// observedGeneration are unchanged is left exactly as it is, message included,
// so a message that embeds an age or a count costs no status write on every
// reconcile; its message is refreshed at the next real change. The transition
// time is now (to the second) when the status changes, and kept otherwise.
func SetCondition(conds *[]metav1.Condition, c metav1.Condition, now time.Time) {
	old := meta.FindStatusCondition(*conds, c.Type)
	if old != nil && old.Status == c.Status && old.Reason == c.Reason && old.ObservedGeneration == c.ObservedGeneration {
		return
	}
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	if old != nil && old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	meta.SetStatusCondition(conds, c)
}
