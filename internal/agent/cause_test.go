package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/health"
)

// podMember is a fake member that can list Pods, counting the lists.
type podMember struct {
	*fakeMember
	pods  []unstructured.Unstructured
	lists []string
	err   error // fails every list
}

func (m *podMember) listPods(_ context.Context, namespace, selector string, limit int64) ([]unstructured.Unstructured, error) {
	m.lists = append(m.lists, namespace+"?"+selector)
	if m.err != nil {
		return nil, m.err
	}
	return m.pods[:min(len(m.pods), int(limit))], nil
}

func backingOffPod(name string) unstructured.Unstructured {
	return unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "ns"},
		"spec":     map[string]any{"nodeName": "n1", "containers": []any{map[string]any{"name": "app", "image": "bad:1"}}},
		"status": map[string]any{"phase": "Pending", "containerStatuses": []any{map[string]any{
			"name": "app", "ready": false, "restartCount": int64(0), "image": "bad:1", "imageID": "",
			"state": map[string]any{"waiting": map[string]any{"reason": "ImagePullBackOff", "message": `Back-off pulling image "bad:1"`}},
		}}},
	}}
}

func liveDeployment(ready bool) *unstructured.Unstructured {
	st := map[string]any{"observedGeneration": int64(1), "replicas": int64(1), "updatedReplicas": int64(1)}
	if ready {
		st["readyReplicas"], st["availableReplicas"] = int64(1), int64(1)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "b", "namespace": "ns", "generation": int64(1)},
		"spec": map[string]any{"replicas": int64(1),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "b"}}},
		"status": st,
	}}
}

// A workload whose Pod backs off pulling its image is Failed at once, with
// the Pod's reason on the resource and on the Healthy, Ready and Stalled
// conditions; one Pod list was made, and none for a healthy workload.
func TestExplainFailsAWorkloadWhosePodBacksOff(t *testing.T) {
	m := &podMember{fakeMember: newFakeMember(), pods: []unstructured.Unstructured{backingOffPod("b-1")}}
	a := &applier{member: m, metrics: newMetrics(nil)}

	healthy := applied(depB, fleetv1alpha1.HealthCurrent, "")
	a.explain(context.Background(), &healthy, liveDeployment(true))
	if healthy.cause != nil || len(m.lists) != 0 {
		t.Fatalf("healthy deployment: cause %+v, lists %v", healthy.cause, m.lists)
	}

	live := liveDeployment(false)
	r := resourceResult{ref: depB, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
	if r.health.Status != fleetv1alpha1.HealthInProgress {
		t.Fatalf("kstatus says %+v", r.health)
	}
	a.explain(context.Background(), &r, live)
	if len(m.lists) != 1 || m.lists[0] != "ns?app=b" {
		t.Errorf("pod lists %v", m.lists)
	}
	if r.cause == nil || r.cause.Reason != "ImagePullBackOff" || r.cause.Container != "app" || r.cause.Object != "Pod b-1" {
		t.Fatalf("cause %+v", r.cause)
	}
	if r.health.Status != fleetv1alpha1.HealthFailed || !strings.Contains(r.health.Message, "Back-off pulling image") {
		t.Errorf("health %+v", r.health)
	}
	if settled(&applyPass{resources: []resourceResult{r}}) {
		t.Error("a workload failed by its Pods is settled: it would not be looked at again before the resync")
	}

	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(2, "rev-2", []resourceResult{applied(cmA, fleetv1alpha1.HealthCurrent, ""), r}), t0)
	msg := `Deployment ns/b: container app: Back-off pulling image "bad:1" (Pod b-1; 1/2 current, 1 failed)`
	wantCond(t, st, fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, "ImagePullBackOff", msg)
	wantCond(t, st, fleetv1alpha1.ConditionReady, metav1.ConditionFalse, "ImagePullBackOff", msg)
	wantCond(t, st, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue, "ImagePullBackOff", msg)
	got := st.Resources[1].Cause
	want := &fleetv1alpha1.ResourceCause{Reason: "ImagePullBackOff", Message: `Back-off pulling image "bad:1"`,
		Object: "Pod b-1", Container: "app", Severity: fleetv1alpha1.CauseFailing}
	if got == nil || *got != *want {
		t.Errorf("resource cause %+v, want %+v", got, want)
	}
}

// A workload still on its way stays InProgress and says what it waits for.
func TestExplainSaysWhatAWorkloadWaitsFor(t *testing.T) {
	p := backingOffPod("b-1")
	_ = unstructured.SetNestedSlice(p.Object, []any{map[string]any{"name": "app", "ready": false, "restartCount": int64(0),
		"image": "web:1", "imageID": "", "state": map[string]any{"waiting": map[string]any{"reason": "ContainerCreating"}}}},
		"status", "containerStatuses")
	m := &podMember{fakeMember: newFakeMember(), pods: []unstructured.Unstructured{p}}
	a := &applier{member: m, metrics: newMetrics(nil)}
	live := liveDeployment(false)
	r := resourceResult{ref: depB, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
	a.explain(context.Background(), &r, live)
	if r.health.Status != fleetv1alpha1.HealthInProgress || r.cause == nil || r.cause.Severity != fleetv1alpha1.CauseWaiting {
		t.Fatalf("health %+v cause %+v", r.health, r.cause)
	}
	st := computeStatus(fleetv1alpha1.WorkStatus{}, pass(2, "rev-2", []resourceResult{r}), t0)
	wantCond(t, st, fleetv1alpha1.ConditionHealthy, metav1.ConditionFalse, fleetv1alpha1.ReasonInProgress,
		"Pod b-1 container app waiting: ContainerCreating")
	wantCond(t, st, fleetv1alpha1.ConditionStalled, "", "", "")
}

// A member that cannot list Pods (the fleet simulator's) reports no cause
// for a workload, and judges it by kstatus alone.
func TestExplainWithoutPodLister(t *testing.T) {
	a, _ := newTestApplier()
	live := liveDeployment(false)
	r := resourceResult{ref: depB, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
	a.explain(context.Background(), &r, live)
	if r.cause != nil || r.health.Status != fleetv1alpha1.HealthInProgress {
		t.Errorf("health %+v cause %+v", r.health, r.cause)
	}
}

// A Pod list that fails leaves the kstatus judgement as it is.
func TestExplainWhenPodsCannotBeListed(t *testing.T) {
	m := &podMember{fakeMember: newFakeMember(), err: errors.New("the server is currently unable to handle the request")}
	a := &applier{member: m, metrics: newMetrics(nil)}
	live := liveDeployment(false)
	r := resourceResult{ref: depB, result: fleetv1alpha1.ApplyResultApplied, health: health.Of(live)}
	a.explain(context.Background(), &r, live)
	if len(m.lists) != 1 || r.cause != nil || r.health != health.Of(live) {
		t.Errorf("lists %v, health %+v, cause %+v", m.lists, r.health, r.cause)
	}
}
