package health

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// statefulSetHeldBack judges a StatefulSet kstatus read as Current. kstatus
// leaves an update that Pods must be deleted for to the user: under
// updateStrategy OnDelete it reads Current at once (not a Pod ready, not one
// on the new template), and a rollingUpdate.partition is "complete" once the
// Pods above it are updated, a partition of at least spec.replicas at once.
// Either way every Pod may still run the earlier template. Here the update
// is complete only when the controller observed the spec, every replica is
// ready, and the Pods all run the update revision: it is the current one, or
// every replica is updated (an OnDelete update whose Pods were deleted never
// moves currentRevision). ok is false when there is nothing to add.
func statefulSetHeldBack(obj *unstructured.Unstructured) (Result, bool) {
	gvk := obj.GroupVersionKind()
	if gvk.Group != "apps" || gvk.Kind != "StatefulSet" {
		return Result{}, false
	}
	content := obj.UnstructuredContent()
	inProgress := func(format string, args ...any) (Result, bool) {
		return Result{Status: fleetv1alpha1.HealthInProgress, Message: fmt.Sprintf(format, args...)}, true
	}
	observed, found, err := unstructured.NestedInt64(content, "status", "observedGeneration")
	if !found || err != nil || observed < obj.GetGeneration() {
		return inProgress("the StatefulSet controller has not observed generation %d yet", obj.GetGeneration())
	}
	want := intField(content, 1, "spec", "replicas")
	replicas := intField(content, 0, "status", "replicas")
	ready := intField(content, 0, "status", "readyReplicas")
	updated := intField(content, 0, "status", "updatedReplicas")
	switch {
	case replicas < want:
		return inProgress("Replicas: %d/%d", replicas, want)
	case ready < want:
		return inProgress("Ready: %d/%d", ready, want)
	case replicas > want:
		return inProgress("Pending termination: %d", replicas-want)
	}
	updateRevision, _, _ := unstructured.NestedString(content, "status", "updateRevision")
	currentRevision, _, _ := unstructured.NestedString(content, "status", "currentRevision")
	if updateRevision == currentRevision || updated >= want {
		return Result{}, false
	}
	held := "the rolling update"
	if strategy, _, _ := unstructured.NestedString(content, "spec", "updateStrategy", "type"); strategy == "OnDelete" {
		held = "updateStrategy OnDelete (its Pods update only when deleted)"
	} else if partition, found, _ := unstructured.NestedInt64(content, "spec", "updateStrategy", "rollingUpdate", "partition"); found && partition > 0 {
		held = fmt.Sprintf("rollingUpdate.partition %d (Pods below it keep the earlier revision)", partition)
	}
	return inProgress("%s: %d of %d Pods on the new revision (update revision %s, current %s)",
		held, updated, want, updateRevision, currentRevision)
}

// intField reads an integer field, def when it is absent or not an integer.
func intField(content map[string]any, def int64, fields ...string) int64 {
	v, found, err := unstructured.NestedInt64(content, fields...)
	if !found || err != nil {
		return def
	}
	return v
}

// jobSuspended judges a Job kstatus read as Current, which it does for any
// Job that started: one suspended since (spec.suspend, or its Suspended
// condition) runs no Pod, and a member whose Job controller keeps startTime
// on suspension would have it read Current. A Job that completed stays so.
func jobSuspended(obj *unstructured.Unstructured) (Result, bool) {
	gvk := obj.GroupVersionKind()
	if gvk.Group != "batch" || gvk.Kind != "Job" {
		return Result{}, false
	}
	content := obj.UnstructuredContent()
	if hasCondition(content, "Complete") {
		return Result{}, false
	}
	if suspend, _, _ := unstructured.NestedBool(content, "spec", "suspend"); !suspend && !hasCondition(content, "Suspended") {
		return Result{}, false
	}
	return Result{Status: fleetv1alpha1.HealthInProgress, Message: "Job suspended: it runs no Pod until resumed"}, true
}

// hasCondition reports whether status.conditions holds condType as True.
func hasCondition(content map[string]any, condType string) bool {
	conds, _, _ := unstructured.NestedSlice(content, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == condType && m["status"] == "True" {
			return true
		}
	}
	return false
}

// staleReady judges an object of a kind kstatus has no rules for, which it
// reads Current on a Ready=True condition. A controller that records the
// generation it observed on the condition (metav1.Condition's
// observedGeneration), not in status.observedGeneration, may still say Ready
// for an earlier spec: it has not acted on the change yet, or is down.
func staleReady(obj *unstructured.Unstructured) (Result, bool) {
	if kstatus.GetLegacyConditionsFn(obj) != nil {
		return Result{}, false // built-in kinds: their own rules and status.observedGeneration
	}
	conds, _, _ := unstructured.NestedSlice(obj.UnstructuredContent(), "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		observed, ok := m["observedGeneration"].(int64)
		if ok && observed > 0 && observed < obj.GetGeneration() {
			return Result{Status: fleetv1alpha1.HealthInProgress, Message: fmt.Sprintf(
				"Ready condition is of generation %d, the object is at generation %d: its controller has not observed the change yet",
				observed, obj.GetGeneration())}, true
		}
	}
	return Result{}, false
}
