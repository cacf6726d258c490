package health

import (
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Bounds of a cause, so that what a member says stays small on the hub.
const (
	// MaxCauseMessage bounds a cause's message (the API's bound).
	MaxCauseMessage = 512
	// MaxPods bounds the Pods inspected for one workload: the caller lists
	// at most this many.
	MaxPods = 20
)

// Cause is the most specific reason an object is not healthy, as seen on
// the member: a container's waiting or terminated reason, an unschedulable
// Pod, a failed Job.
type Cause struct {
	// Reason is the Kubernetes reason, e.g. ImagePullBackOff or Unschedulable.
	Reason string
	// Message is the member's own words, at most MaxCauseMessage bytes.
	Message string
	// Object names the object it was seen on when it is not the one judged,
	// e.g. "Pod web-7d9f-x2x4z".
	Object string
	// Container names the failing container, if any.
	Container string
	// Severity is Failing (the object is Failed now) or Waiting (it is still
	// on its way; the cause says what it waits for).
	Severity fleetv1alpha1.CauseSeverity
}

// Where names where the cause was seen, e.g. "Pod web-x2x4z container app";
// empty when it is the object itself.
func (c Cause) Where() string {
	var parts []string
	if c.Object != "" {
		parts = append(parts, c.Object)
	}
	if c.Container != "" {
		parts = append(parts, "container "+c.Container)
	}
	return strings.Join(parts, " ")
}

// Detail is the cause without its reason, for a message whose reason is
// the cause's: "Pod web-x2x4z container app: Back-off pulling image …".
func (c Cause) Detail() string {
	what := c.Message
	if what == "" {
		what = c.Reason
	}
	if w := c.Where(); w != "" {
		return w + ": " + what
	}
	return what
}

// Brief is Detail without the object: "container app: Back-off pulling
// image …", for a message that names the object elsewhere.
func (c Cause) Brief() string {
	what := c.Message
	if what == "" {
		what = c.Reason
	}
	if c.Container != "" {
		return "container " + c.Container + ": " + what
	}
	return what
}

// String is the cause with its reason, for a message whose reason is not
// the cause's: "Pod web-x2x4z container app waiting: ContainerCreating".
func (c Cause) String() string {
	s := c.Reason
	if c.Message != "" {
		s += ": " + c.Message
	}
	if w := c.Where(); w != "" {
		verb := ""
		if c.Severity == fleetv1alpha1.CauseWaiting {
			verb = " waiting"
		}
		return w + verb + ": " + s
	}
	return s
}

// failingReasons are container waiting reasons that do not go away by
// waiting: the kubelet backs off, or the Pod spec must change.
var failingReasons = map[string]bool{
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"RegistryUnavailable":        true,
	"CrashLoopBackOff":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
	"PreStartHookError":          true,
	"PostStartHookError":         true,
	"OOMKilled":                  true,
	"ContainerCannotRun":         true,
	"Unschedulable":              true,
	"BackoffLimitExceeded":       true,
	"DeadlineExceeded":           true,
	"PodFailurePolicy":           true,
	"FailedIndexes":              true,
	"JobFailed":                  true,
	"Evicted":                    true,
}

// Failing reports whether a cause reason fails an object as soon as it is
// seen: one of the known reasons above, or a kubelet reason shaped like
// one (Err…, …Error, …BackOff).
func Failing(reason string) bool {
	return failingReasons[reason] || strings.HasPrefix(reason, "Err") ||
		strings.HasSuffix(reason, "Error") || strings.HasSuffix(reason, "BackOff")
}

// PodSelector returns the label selector of the Pods a workload owns
// (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job), to list them with;
// ok is false for other kinds and for a workload without a usable selector
// (an empty one would select every Pod of the namespace).
func PodSelector(obj *unstructured.Unstructured) (selector string, ok bool) {
	if obj == nil || !ownsPods(obj) {
		return "", false
	}
	raw, found, err := unstructured.NestedMap(obj.Object, "spec", "selector")
	if !found || err != nil {
		return "", false
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return "", false
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil || sel.Empty() {
		return "", false
	}
	return sel.String(), true
}

func ownsPods(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	switch gvk.Group {
	case "apps":
		switch gvk.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet":
			return true
		}
	case "batch":
		return gvk.Kind == "Job"
	}
	return false
}

// CauseOf explains an object that is not healthy: a Pod from its own status,
// a Job from its Failed condition, else (a Job, or a workload PodSelector
// accepts) from pods, the Pods listed with its selector. Of those it
// reports the first failing cause (Pods by name), else the first thing
// waited for; a failed Pod of a workload (evicted, or a Job's attempt) only
// explains, as its controller replaces it. ok is false when nothing more specific than the object's own
// health is seen. It never panics on malformed input.
func CauseOf(obj *unstructured.Unstructured, pods []unstructured.Unstructured) (Cause, bool) {
	if obj == nil {
		return Cause{}, false
	}
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		var pod corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &pod) != nil {
			return Cause{}, false
		}
		return bound(PodCause(&pod, ""))
	case gvk.Group == "batch" && gvk.Kind == "Job":
		var job batchv1.Job
		if runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &job) == nil {
			if c, ok := JobCause(&job); ok {
				return bound(c, true)
			}
		}
	}
	if !ownsPods(obj) {
		return Cause{}, false
	}
	owner := obj.GetUID()
	typed := make([]corev1.Pod, 0, len(pods))
	for i := range pods {
		var pod corev1.Pod
		if runtime.DefaultUnstructuredConverter.FromUnstructured(pods[i].Object, &pod) != nil {
			continue
		}
		if gvk.Kind == "Job" && owner != "" && !ownedBy(&pod, owner) {
			continue
		}
		typed = append(typed, pod)
	}
	sort.Slice(typed, func(i, j int) bool { return typed[i].Name < typed[j].Name })
	var waiting *Cause
	for i := range typed {
		c, ok := PodCause(&typed[i], "Pod "+typed[i].Name)
		if ok && typed[i].Status.Phase == corev1.PodFailed {
			// Its controller replaces it (a Job retries, or its Failed
			// condition says it gave up): worth saying, not a failure.
			c.Severity = fleetv1alpha1.CauseWaiting
		}
		switch {
		case !ok:
		case c.Severity == fleetv1alpha1.CauseFailing:
			return bound(c, true)
		case waiting == nil:
			waiting = &c
		}
	}
	if waiting != nil {
		return bound(*waiting, true)
	}
	return Cause{}, false
}

func ownedBy(pod *corev1.Pod, uid types.UID) bool {
	for _, o := range pod.OwnerReferences {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// JobCause explains a Job that failed: its Failed condition's reason
// (BackoffLimitExceeded, DeadlineExceeded…) and message.
func JobCause(job *batchv1.Job) (Cause, bool) {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			reason := c.Reason
			if reason == "" {
				reason = "JobFailed"
			}
			return Cause{Reason: reason, Message: c.Message, Severity: fleetv1alpha1.CauseFailing}, true
		}
	}
	return Cause{}, false
}

// PodCause explains a Pod that is not ready, object naming it in the cause
// (empty when the Pod is the object judged). In order: a Pod being deleted
// or ready has none; a failed Pod; an unschedulable one; its containers
// (init containers first): a waiting reason, a container killed or exited
// in error; then what it waits for (not scheduled yet, a container
// creating, running but not ready).
func PodCause(pod *corev1.Pod, object string) (Cause, bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded {
		return Cause{}, false
	}
	mk := func(reason, message, container string) Cause {
		sev := fleetv1alpha1.CauseWaiting
		if Failing(reason) {
			sev = fleetv1alpha1.CauseFailing
		}
		return Cause{Reason: reason, Message: oneLine(message), Object: object, Container: container, Severity: sev}
	}
	if pod.Status.Phase == corev1.PodFailed {
		if pod.Status.Reason == "" {
			if c, ok := containersCause(pod, mk); ok && c.Severity == fleetv1alpha1.CauseFailing {
				return c, true
			}
		}
		c := mk(or(pod.Status.Reason, "PodFailed"), pod.Status.Message, "")
		c.Severity = fleetv1alpha1.CauseFailing
		return c, true
	}
	if ready(pod) {
		return Cause{}, false
	}
	if cond := podCondition(pod, corev1.PodScheduled); cond != nil && cond.Status == corev1.ConditionFalse {
		return mk(or(cond.Reason, "Unschedulable"), cond.Message, ""), true
	}
	if c, ok := containersCause(pod, mk); ok {
		return c, true
	}
	if pod.Spec.NodeName == "" {
		return mk("Pending", "waiting to be scheduled", ""), true
	}
	if cond := podCondition(pod, corev1.PodReady); cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason != "" {
		return mk(cond.Reason, cond.Message, ""), true
	}
	return mk("Pending", "waiting for the kubelet to start the containers", ""), true
}

// containersCause is the first failing container's cause, else the first
// waiting one's, init containers first.
func containersCause(pod *corev1.Pod, mk func(reason, message, container string) Cause) (Cause, bool) {
	restartNever := pod.Spec.RestartPolicy == corev1.RestartPolicyNever
	var waiting *Cause
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		if s.Ready {
			continue
		}
		var c Cause
		switch {
		case s.State.Waiting != nil && s.State.Waiting.Reason != "":
			w := s.State.Waiting
			c = mk(w.Reason, w.Message, s.Name)
			if t := s.LastTerminationState.Terminated; t != nil && w.Reason == "CrashLoopBackOff" {
				if t.Reason == "OOMKilled" {
					c.Reason = "OOMKilled"
				}
				c.Message = joinNonEmpty("; ", c.Message, lastExit(t))
			}
		case s.State.Terminated != nil && (s.State.Terminated.Reason == "OOMKilled" ||
			s.State.Terminated.ExitCode != 0 && (restartNever || pod.Status.Phase == corev1.PodFailed)):
			t := s.State.Terminated
			c = mk(or(t.Reason, "Error"), joinNonEmpty("; ", oneLine(t.Message), lastExit(t)), s.Name)
			c.Severity = fleetv1alpha1.CauseFailing
		case s.State.Running != nil:
			c = mk("NotReady", "running, not ready", s.Name)
		default:
			continue
		}
		if c.Severity == fleetv1alpha1.CauseFailing {
			return c, true
		}
		if waiting == nil {
			waiting = &c
		}
	}
	if waiting != nil {
		return *waiting, true
	}
	return Cause{}, false
}

func lastExit(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		s = "last terminated: " + t.Reason + ", " + s
	}
	return s
}

func ready(pod *corev1.Pod) bool {
	c := podCondition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// bound keeps a cause's fields within the API's bounds.
func bound(c Cause, ok bool) (Cause, bool) {
	if !ok {
		return c, ok
	}
	c.Reason = fleetv1alpha1.ClipMessage(c.Reason, 128)
	c.Message = fleetv1alpha1.ClipMessage(c.Message, MaxCauseMessage)
	c.Object = fleetv1alpha1.ClipMessage(c.Object, 317)
	c.Container = fleetv1alpha1.ClipMessage(c.Container, 63)
	return c, true
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
