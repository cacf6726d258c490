package health

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const (
	failing = fleetv1alpha1.CauseFailing
	waiting = fleetv1alpha1.CauseWaiting
)

func pod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [app]"},
		}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func waitingIn(reason, message string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "app",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}})
	}
}

func lastTerminated(reason string, code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		s := &p.Status.ContainerStatuses[len(p.Status.ContainerStatuses)-1]
		s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}
	}
}

func readyPod(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions[1] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestPodCause(t *testing.T) {
	long := strings.Repeat("é", 400)
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want Cause // zero: none
	}{
		{"ready", pod("p", readyPod), Cause{}},
		{"being deleted", pod("p", waitingIn("ImagePullBackOff", "x"), func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }), Cause{}},
		{"succeeded", pod("p", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), Cause{}},
		{"image pull back-off", pod("p", waitingIn("ImagePullBackOff", `Back-off pulling image "bad:1"`)),
			Cause{Reason: "ImagePullBackOff", Message: `Back-off pulling image "bad:1"`, Object: "Pod p", Container: "app", Severity: failing}},
		{"err image pull", pod("p", waitingIn("ErrImagePull", "rpc error:\n  not found")),
			Cause{Reason: "ErrImagePull", Message: "rpc error: not found", Object: "Pod p", Container: "app", Severity: failing}},
		{"invalid image name", pod("p", waitingIn("InvalidImageName", "couldn't parse")),
			Cause{Reason: "InvalidImageName", Message: "couldn't parse", Object: "Pod p", Container: "app", Severity: failing}},
		{"config error", pod("p", waitingIn("CreateContainerConfigError", `secret "db" not found`)),
			Cause{Reason: "CreateContainerConfigError", Message: `secret "db" not found`, Object: "Pod p", Container: "app", Severity: failing}},
		{"crash loop", pod("p", waitingIn("CrashLoopBackOff", "back-off 40s restarting failed container"), lastTerminated("Error", 1)),
			Cause{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container; last terminated: Error, exit code 1", Object: "Pod p", Container: "app", Severity: failing}},
		{"crash loop after OOM", pod("p", waitingIn("CrashLoopBackOff", "back-off"), lastTerminated("OOMKilled", 137)),
			Cause{Reason: "OOMKilled", Message: "back-off; last terminated: OOMKilled, exit code 137", Object: "Pod p", Container: "app", Severity: failing}},
		{"oom killed now", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
		}), Cause{Reason: "OOMKilled", Message: "last terminated: OOMKilled, exit code 137", Object: "Pod p", Container: "app", Severity: failing}},
		{"unschedulable", pod("p", func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Status.Conditions[0] = corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
				Message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."}
		}), Cause{Reason: "Unschedulable", Message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", Object: "Pod p", Severity: failing}},
		{"not scheduled yet", pod("p", func(p *corev1.Pod) { p.Spec.NodeName = ""; p.Status.Conditions = nil }),
			Cause{Reason: "Pending", Message: "waiting to be scheduled", Object: "Pod p", Severity: waiting}},
		{"container creating", pod("p", waitingIn("ContainerCreating", "")),
			Cause{Reason: "ContainerCreating", Object: "Pod p", Container: "app", Severity: waiting}},
		{"init container fails first", pod("p", waitingIn("ContainerCreating", ""), func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}}}}
		}), Cause{Reason: "CrashLoopBackOff", Message: "back-off", Object: "Pod p", Container: "migrate", Severity: failing}},
		{"running, not ready", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}), Cause{Reason: "NotReady", Message: "running, not ready", Object: "Pod p", Container: "app", Severity: waiting}},
		{"exited in error, never restarted", pod("p", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2, Message: "boom"}}}}
		}), Cause{Reason: "Error", Message: "boom; last terminated: Error, exit code 2", Object: "Pod p", Container: "app", Severity: failing}},
		{"evicted", pod("p", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
		}), Cause{Reason: "Evicted", Message: "The node was low on resource: memory.", Object: "Pod p", Severity: failing}},
		{"long message is cut", pod("p", waitingIn("ErrImagePull", long)),
			Cause{Reason: "ErrImagePull", Message: long[:MaxCauseMessage-4] + "…", Object: "Pod p", Container: "app", Severity: failing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through CauseOf, as the agent calls it: a Pod is judged by itself.
			u := toUnstructured(t, tc.pod)
			got, ok := CauseOf(u, nil)
			if want := (tc.want != Cause{}); ok != want {
				t.Fatalf("CauseOf ok=%v (%+v), want %v", ok, got, want)
			}
			tc.want.Object = "" // the Pod itself
			if ok && got != tc.want {
				t.Errorf("CauseOf =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if len(got.Message) > MaxCauseMessage {
				t.Errorf("message of %d bytes", len(got.Message))
			}
		})
	}
}

func deployment(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}},
	}}
	return u
}

func TestWorkloadCause(t *testing.T) {
	pods := func(ps ...*corev1.Pod) []unstructured.Unstructured {
		var out []unstructured.Unstructured
		for _, p := range ps {
			out = append(out, *toUnstructured(t, p))
		}
		return out
	}
	job := func(mutate func(*batchv1.Job)) *unstructured.Unstructured {
		j := &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "shop", UID: "job-uid"},
			Spec: batchv1.JobSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"batch.kubernetes.io/controller-uid": "job-uid"}}}}
		if mutate != nil {
			mutate(j)
		}
		return toUnstructured(t, j)
	}
	ownedByJob := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "Job", Name: "migrate", UID: types.UID("job-uid")}}
	}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		pods []unstructured.Unstructured
		want Cause
	}{
		{"all pods ready", deployment(t), pods(pod("web-a", readyPod)), Cause{}},
		{"no pods", deployment(t), nil, Cause{}},
		{"failing pod wins over a waiting one, whatever the order", deployment(t),
			pods(pod("web-a", waitingIn("ContainerCreating", "")), pod("web-b", waitingIn("ImagePullBackOff", "Back-off pulling image"))),
			Cause{Reason: "ImagePullBackOff", Message: "Back-off pulling image", Object: "Pod web-b", Container: "app", Severity: failing}},
		{"first failing pod by name", deployment(t),
			pods(pod("web-c", waitingIn("CrashLoopBackOff", "")), pod("web-b", waitingIn("ErrImagePull", "nope"))),
			Cause{Reason: "ErrImagePull", Message: "nope", Object: "Pod web-b", Container: "app", Severity: failing}},
		{"waiting only", deployment(t), pods(pod("web-a", readyPod), pod("web-b", waitingIn("ContainerCreating", ""))),
			Cause{Reason: "ContainerCreating", Object: "Pod web-b", Container: "app", Severity: waiting}},
		{"a failed pod of a workload is replaced: it only explains", deployment(t),
			pods(pod("web-a", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" })),
			Cause{Reason: "Evicted", Object: "Pod web-a", Severity: waiting}},
		{"a ConfigMap has no cause", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "c"}}}, pods(pod("web-b", waitingIn("ErrImagePull", ""))), Cause{}},
		{"failed job", job(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
				Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}
		}), nil, Cause{Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", Severity: failing}},
		{"running job with a crashing pod of its own", job(nil),
			pods(pod("other", waitingIn("ErrImagePull", "not mine")), pod("migrate-x", ownedByJob, waitingIn("CrashLoopBackOff", "back-off"))),
			Cause{Reason: "CrashLoopBackOff", Message: "back-off", Object: "Pod migrate-x", Container: "app", Severity: failing}},
		{"malformed pods are skipped", deployment(t),
			[]unstructured.Unstructured{{Object: map[string]any{"kind": "Pod", "status": "nonsense"}}}, Cause{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := CauseOf(tc.obj, tc.pods)
			if want := (tc.want != Cause{}); ok != want || got != tc.want {
				t.Errorf("CauseOf = %+v, %v\nwant %+v", got, ok, tc.want)
			}
		})
	}
}

func TestPodSelector(t *testing.T) {
	if sel, ok := PodSelector(deployment(t)); !ok || sel != "app=web" {
		t.Errorf("deployment selector %q %v", sel, ok)
	}
	empty := deployment(t)
	_ = unstructured.SetNestedMap(empty.Object, map[string]any{}, "spec", "selector")
	if sel, ok := PodSelector(empty); ok {
		t.Errorf("empty selector accepted: %q", sel)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
	if _, ok := PodSelector(cm); ok {
		t.Error("a ConfigMap owns no pods")
	}
	if _, ok := PodSelector(nil); ok {
		t.Error("nil owns no pods")
	}
}

func TestCauseStrings(t *testing.T) {
	c := Cause{Reason: "ImagePullBackOff", Message: "Back-off pulling image", Object: "Pod web-b", Container: "app", Severity: failing}
	if got, want := c.Detail(), "Pod web-b container app: Back-off pulling image"; got != want {
		t.Errorf("Detail %q, want %q", got, want)
	}
	w := Cause{Reason: "ContainerCreating", Object: "Pod web-b", Container: "app", Severity: waiting}
	if got, want := w.String(), "Pod web-b container app waiting: ContainerCreating"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	for reason, want := range map[string]bool{"ImagePullBackOff": true, "CrashLoopBackOff": true, "ErrSomething": true,
		"RunContainerError": true, "Unschedulable": true, "ContainerCreating": false, "Pending": false, "NotReady": false} {
		if Failing(reason) != want {
			t.Errorf("Failing(%s) = %v", reason, !want)
		}
	}
}
