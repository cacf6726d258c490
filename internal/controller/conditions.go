package controller

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SetCondition sets c in conds. A condition that says exactly the same
// (status, reason, message and observedGeneration) is left as it is, so a
// reconcile that observes no change costs no status write. A new message is
// always written, even under the same reason: it names the cause (which
// Override, how many clusters), and a stale one misleads. So a message must
// not embed what changes by itself, such as an age. The transition time is
// now (to the second) when the status changes, and kept otherwise.
func SetCondition(conds *[]metav1.Condition, c metav1.Condition, now time.Time) {
	old := meta.FindStatusCondition(*conds, c.Type)
	if old != nil && old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message &&
		old.ObservedGeneration == c.ObservedGeneration {
		return
	}
	c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
	if old != nil && old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	meta.SetStatusCondition(conds, c)
}
