package instance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story: a Promise declares what its instances may render (ConfigMaps,
// in the instance's namespace). Every instance Work carries that scope and
// the Promise's adoption policy for the agent to check again. An instance
// whose render leaves the scope gets no Work at all, and says why, with one
// Warning Event; an instance whose new spec leaves it keeps its Work as it
// was; a team's Override that would change an object's kind is refused the
// same way.
func TestRenderOutsideTheOutputIsRefused(t *testing.T) {
	e := newEnv(t)
	// Every cluster is admitted to the latest revisions at once (as a
	// finished Rollout would): a spec change reaches the Work unless refused.
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "boundary.example.com", "Boxed"
	e.Cluster("bnd-1", map[string]string{"story": "boundary"})
	e.Fleet("bnd", map[string]string{"story": "boundary"}, "bnd-team")
	e.Namespace("bnd-team", nil)
	p := configMapPromise("bnd-db", group, kind, "bnd")
	p.Spec.API.Schema = promisetest.Raw(map[string]any{"type": "object", "properties": map[string]any{
		"size":   map[string]any{"type": "string"},
		"target": map[string]any{"type": "string"},
	}})
	// A template that puts a second ConfigMap wherever spec.target says: the
	// scope, not the template, keeps it in the instance's namespace.
	p.Spec.Templates.GoTemplates[0].Template += `{{ with dig "target" "" .spec }}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: extra
  namespace: {{ . | quote }}
{{ end }}`
	p.Spec.Output.Adoption = fleetv1alpha1.AdoptionIfUnowned
	e.Create(p)
	e.PromiseReady("bnd-db")

	// Inside the scope: the Work carries it.
	e.Create(instance(group, kind, "bnd-team", "inside", map[string]any{"size": "small", "target": "bnd-team"}))
	before := e.WaitWork("bnd-db", "bnd-team", "inside", "bnd-1", func(w *fleetv1alpha1.Work) (bool, string) { return len(w.Spec.Manifests) == 2, "" })
	want := &fleetv1alpha1.WorkScope{Namespaces: []string{"bnd-team"}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}}
	if s := before.Spec.Scope; s == nil || !slices.Equal(s.Namespaces, want.Namespaces) || !slices.Equal(s.Kinds, want.Kinds) {
		t.Errorf("work scope %+v, want %+v", s, want)
	}
	if before.Spec.Adoption != fleetv1alpha1.AdoptionIfUnowned {
		t.Errorf("work adoption %q", before.Spec.Adoption)
	}

	// Outside from the start: no Work, Ready=False OutputNotAllowed naming the object and the rule.
	e.Create(instance(group, kind, "bnd-team", "outside", map[string]any{"size": "small", "target": "kube-system"}))
	st := e.WaitInstance(group, kind, "bnd-team", "outside", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonOutputNotAllowed
	})
	ready := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "ConfigMap kube-system/extra: namespace kube-system is neither the instance's (bnd-team)") {
		t.Errorf("Ready %+v", ready)
	}
	if !conditionIs(st.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) {
		t.Errorf("Stalled: %+v", st.Conditions)
	}
	if e.Work("bnd-db", "bnd-team", "outside", "bnd-1") != nil {
		t.Error("a refused render wrote a Work")
	}
	waitEvents(t, e, "bnd-team", "outside", "Warning OutputNotAllowed the render was refused on cluster bnd-1")

	// A later spec that leaves the scope: the Work stays as it was.
	e.UpdateInstance(instance(group, kind, "bnd-team", "inside", nil), func(u *unstructured.Unstructured) {
		u.Object["spec"] = map[string]any{"size": "large", "target": "default"}
	})
	e.WaitInstance(group, kind, "bnd-team", "inside", "refused", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonOutputNotAllowed && s.ObservedGeneration == 2
	})
	time.Sleep(time.Second) // give a wrong write time to happen
	after := e.Work("bnd-db", "bnd-team", "inside", "bnd-1")
	if after == nil || after.Generation != before.Generation || after.Spec.InstanceRevision != before.Spec.InstanceRevision {
		t.Errorf("the Work changed after a refused render: %+v", after)
	}
	waitEvents(t, e, "bnd-team", "inside", "Warning OutputNotAllowed")

	// Back inside: the Work follows again.
	e.UpdateInstance(instance(group, kind, "bnd-team", "inside", nil), func(u *unstructured.Unstructured) {
		u.Object["spec"] = map[string]any{"size": "large"}
	})
	e.WaitWork("bnd-db", "bnd-team", "inside", "bnd-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return manifestData(t, w, "size") == "large" && len(w.Spec.Manifests) == 1, fmt.Sprint(len(w.Spec.Manifests))
	})

	// A team's Override that would turn the ConfigMap into another kind: the
	// Override says so, and the instance's render is refused.
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "rekind", Namespace: "bnd-team"},
		Spec: fleetv1alpha1.OverrideSpec{
			Type:  fleetv1alpha1.PatchJSONMerge,
			Patch: promisetest.Raw(map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"}),
		},
	})
	waitOverride(t, e, "bnd-team", "rekind", func(o *fleetv1alpha1.Override) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == fleetv1alpha1.ReasonPatchNotAllowed &&
			strings.Contains(c.Message, "the patch sets apiVersion")
	})
	st = e.WaitInstance(group, kind, "bnd-team", "inside", "override refused", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonPatchNotAllowed
	})
	if c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady); !strings.Contains(c.Message, "override bnd-team/rekind") {
		t.Errorf("Ready %+v", c)
	}
	if w := e.Work("bnd-db", "bnd-team", "inside", "bnd-1"); w == nil || len(w.Spec.Overrides) != 0 {
		t.Errorf("the refused Override shaped the Work: %+v", w)
	}

	// A team's Values Override must leave a spec the Promise's schema accepts.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "rekind", Namespace: "bnd-team"}}); err != nil {
		t.Fatal(err)
	}
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "retype", Namespace: "bnd-team"},
		Spec: fleetv1alpha1.OverrideSpec{
			Promise: "bnd-db",
			Type:    fleetv1alpha1.PatchValues,
			Patch:   promisetest.Raw(map[string]any{"size": 5}),
		},
	})
	waitOverride(t, e, "bnd-team", "retype", func(o *fleetv1alpha1.Override) bool {
		c := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonPatchNotAllowed && strings.Contains(c.Message, "spec.size")
	})
	// Ask for a new render (a label change) rather than rely on the timing
	// of the Override's events against the deletion just before.
	e.UpdateInstance(instance(group, kind, "bnd-team", "inside", nil), func(u *unstructured.Unstructured) {
		u.SetLabels(map[string]string{"poke": "1"})
	})
	e.WaitInstance(group, kind, "bnd-team", "inside", "values override refused", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonPatchNotAllowed && strings.Contains(c.Message, "override bnd-team/retype")
	})
}

// waitEvents waits until the instance ns/name has an events.k8s.io Event
// per want, "type reason note-prefix".
func waitEvents(t *testing.T, e *promisetest.Env, ns, name string, want ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "events of "+ns+"/"+name, func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		var got []string
		for _, ev := range list.Items {
			if ev.Regarding.Name == name {
				got = append(got, ev.Type+" "+ev.Reason+" "+ev.Note)
			}
		}
		for _, w := range want {
			if !slices.ContainsFunc(got, func(line string) bool { return strings.HasPrefix(line, w) }) {
				return false, "no " + w + " in:\n" + strings.Join(got, "\n")
			}
		}
		return true, ""
	})
}
