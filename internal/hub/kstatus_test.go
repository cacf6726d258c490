package hub_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

// Every kind Flotilla serves, settled, is Current for kstatus (so `kubectl
// wait --for=condition=Ready`, Argo CD health and cli-utils appliers work
// on them): a real object of each, on a real hub with its controllers,
// computed by kstatus itself. Every kind whose status a controller writes
// also carries Ready=True for its current generation, so Current is not
// kstatus's default for an object without conditions.
func TestEveryKindSettlesCurrent(t *testing.T) {
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	const (
		group, kind = "kstatus.example.com", "KsDB"
		team        = "team-ks"
	)

	// A member whose agent heartbeats (its Lease, renewed now for an hour).
	e.Cluster("ks-1", map[string]string{"env": "ks"})
	now := metav1.NewMicroTime(time.Now())
	e.Create(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace("ks-1"), Name: fleetv1alpha1.AgentLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("agent"), LeaseDurationSeconds: ptr(int32(3600)), RenewTime: &now},
	})
	e.Namespace(team, nil)
	e.Fleet("ks", map[string]string{"env": "ks"}, team)
	e.Create(&fleetv1alpha1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: "ks"},
		Spec: fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{Name: "all"}}}})
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "ks-label"},
		Spec: fleetv1alpha1.OverrideSpec{Promise: "ksdb", Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}},
			Type: fleetv1alpha1.PatchJSONMerge, Patch: promisetest.Raw(map[string]any{"metadata": map[string]any{"labels": map[string]any{"tier": "ks"}}})},
	})
	p := promisetest.ConfigMapPromise("ksdb", group, kind, "ks")
	p.Spec.StrategyRef = &fleetv1alpha1.LocalObjectReference{Name: "ks"}
	e.Create(p)
	rev := e.PromiseReady("ksdb")
	e.Create(promisetest.Instance(group, kind, team, "db", map[string]any{"size": "small"}))
	w := e.WaitWork("ksdb", team, "db", "ks-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Spec.Revision == rev, "revision " + w.Spec.Revision
	})
	e.ReportReady(w) // as the agent does once applied and healthy
	e.Create(&fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: "ksdb-adhoc"},
		Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "ksdb"}, TargetRevision: rev,
			StrategyRef: &fleetv1alpha1.LocalObjectReference{Name: "ks"}},
	})
	e.Create(&fleetv1alpha1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: team, Name: "replicas"},
		Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "team-ks", Reason: "autoscaled", ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
			Resources: []fleetv1alpha1.ResourceSelector{{Group: "apps", Kind: "Deployment"}}, Paths: []string{"spec.replicas"}},
	})
	// Play the agent: the hub may write the Work again (the Rollout's
	// admission, the Rollout's end naming it on the Work), and the agent
	// reports on each generation, until the end of the test.
	playAgent := func() {
		if w := e.Work("ksdb", team, "db", "ks-1"); w != nil && (w.Status.ObservedGeneration != w.Generation || w.Status.AppliedRevision != w.Spec.Revision) {
			e.ReportReady(w)
		}
	}
	promisetest.Eventually(t, 2*time.Minute, "the instance Ready", func() (bool, string) {
		playAgent()
		st := e.InstanceStatus(group, kind, team, "db")
		return promisetest.ConditionIs(st.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue), fmt.Sprintf("%+v", st.Conditions)
	})
	promisetest.Eventually(t, 2*time.Minute, "every Rollout ended", func() (bool, string) {
		playAgent()
		list := &fleetv1alpha1.RolloutList{}
		if err := e.C.List(e.Ctx, list); err != nil {
			return false, err.Error()
		}
		var phases []string
		done := len(list.Items) > 0
		for _, ro := range list.Items {
			phases = append(phases, ro.Name+" "+string(ro.Status.Phase))
			done = done && ro.Status.Phase.IsTerminal()
		}
		return done, strings.Join(phases, ", ")
	})
	// Last, as it holds every Rollout while active.
	e.Create(&fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "ks-freeze"},
		Spec: fleetv1alpha1.FleetFreezeSpec{Reason: "kstatus test", Action: fleetv1alpha1.FreezeHalt}})

	// Every kind of the API group, and the Promise's generated kind.
	kinds := map[string]schema.GroupVersionKind{}
	scheme := kube.NewScheme()
	for gvk := range scheme.AllKnownTypes() {
		// The group's kinds are those with a List (the scheme also holds
		// the group's option types: DeleteOptions, WatchEvent…).
		if gvk.GroupVersion() == fleetv1alpha1.GroupVersion && !strings.HasSuffix(gvk.Kind, "List") &&
			scheme.Recognizes(gvk.GroupVersion().WithKind(gvk.Kind+"List")) {
			kinds[gvk.Kind] = gvk
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("only %d kinds in the scheme: %v", len(kinds), kinds)
	}
	kinds[kind] = schema.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: kind}
	// noStatusWriter are the kinds whose status no controller writes (it is
	// reserved): kstatus finds them Current with no conditions.
	noStatusWriter := map[string]bool{"RolloutStrategy": true}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, name := range slices.Sorted(maps.Keys(kinds)) {
		gvk := kinds[name]
		t.Run(name, func(t *testing.T) {
			promisetest.Eventually(t, time.Minute, name+" Current", func() (bool, string) {
				playAgent()
				list := &unstructured.UnstructuredList{}
				list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
				if err := e.C.List(ctx, list); err != nil {
					return false, err.Error()
				}
				if len(list.Items) == 0 {
					return false, "no object of this kind: create one in the test"
				}
				var out []string
				settled := true
				for i := range list.Items {
					u := &list.Items[i]
					res, err := kstatus.Compute(u)
					if err != nil {
						return false, err.Error()
					}
					ready := readyCondition(u)
					ok := res.Status == kstatus.CurrentStatus &&
						(noStatusWriter[name] || ready != nil && ready.Status == metav1.ConditionTrue &&
							ready.ObservedGeneration == u.GetGeneration())
					settled = settled && ok
					out = append(out, fmt.Sprintf("%s: %s (%s); Ready %+v", client.ObjectKeyFromObject(u), res.Status, res.Message, ready))
				}
				return settled, strings.Join(out, "\n")
			})
		})
	}
}

// Every way a Rollout ends is settled for kstatus, never InProgress for
// ever: Current (Ready True for its generation) when it did what was asked
// of it, Failed (Stalled) when its change failed (docs/rollouts.md,
// "Conditions"). So too once its spec is edited after the end, and for a
// Rollout that ended before its end was settled (all three False, no
// generation on its conditions: written here as an earlier hub left it).
func TestEndedRolloutsSettle(t *testing.T) {
	promisetest.StartHub(t, hubCP.RESTConfig, hub.Options{})
	e := promisetest.NewEnv(t, hubCP.RESTConfig)
	e.Create(promisetest.ConfigMapPromise("endeddb", "ended.example.com", "EndedDB"))
	rev := e.PromiseReady("endeddb")

	rollout := func(name string, change func(*fleetv1alpha1.RolloutSpec)) *fleetv1alpha1.Rollout {
		ro := &fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name},
			Spec: fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "endeddb"},
				FromRevision: "endeddb-earlier", TargetRevision: rev},
		}
		if change != nil {
			change(&ro.Spec)
		}
		e.Create(ro)
		return ro
	}
	// Ended as an earlier hub left it: the phase, the three False.
	endedBefore := func(ro *fleetv1alpha1.Rollout, phase fleetv1alpha1.RolloutPhase, change func(*fleetv1alpha1.RolloutStatus)) {
		promisetest.Eventually(t, time.Minute, ro.Name+" ended", func() (bool, string) {
			if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
				return false, err.Error()
			}
			at := metav1.NewTime(time.Now().Truncate(time.Second))
			ro.Status = fleetv1alpha1.RolloutStatus{Phase: phase, ObservedGeneration: ro.Generation}
			for _, typ := range []string{fleetv1alpha1.ConditionReady, fleetv1alpha1.ConditionReconciling, fleetv1alpha1.ConditionStalled} {
				ro.Status.Conditions = append(ro.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionFalse,
					Reason: string(phase), Message: "ended", LastTransitionTime: at})
			}
			if change != nil {
				change(&ro.Status)
			}
			if err := e.C.Status().Update(e.Ctx, ro); err != nil {
				return false, err.Error() // the controller wrote in between: again
			}
			return true, ""
		})
	}

	want := map[string]kstatus.Status{}
	// Aborted by the hub itself: asked at the start.
	rollout("endeddb-aborted", func(s *fleetv1alpha1.RolloutSpec) { s.DesiredState = fleetv1alpha1.RolloutAborted })
	want["endeddb-aborted"] = kstatus.CurrentStatus
	endedBefore(rollout("endeddb-superseded", nil), fleetv1alpha1.RolloutPhaseSuperseded,
		func(st *fleetv1alpha1.RolloutStatus) { st.SupersededBy = "endeddb-newer" })
	want["endeddb-superseded"] = kstatus.CurrentStatus
	endedBefore(rollout("endeddb-requested", func(s *fleetv1alpha1.RolloutSpec) { s.Rollback = &fleetv1alpha1.RollbackRequest{} }),
		fleetv1alpha1.RolloutPhaseRolledBack, nil)
	want["endeddb-requested"] = kstatus.CurrentStatus
	endedBefore(rollout("endeddb-frozen", nil), fleetv1alpha1.RolloutPhaseRolledBack,
		func(st *fleetv1alpha1.RolloutStatus) {
			st.Freeze = &fleetv1alpha1.RolloutFreezeStatus{RolledBackBy: "incident"}
		})
	want["endeddb-frozen"] = kstatus.CurrentStatus
	endedBefore(rollout("endeddb-failed-back", nil), fleetv1alpha1.RolloutPhaseRolledBack, nil)
	want["endeddb-failed-back"] = kstatus.FailedStatus

	settled := func(what string) {
		t.Helper()
		promisetest.Eventually(t, time.Minute, "ended Rollouts settled "+what, func() (bool, string) {
			var out []string
			ok := true
			for _, name := range slices.Sorted(maps.Keys(want)) {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind("Rollout"))
				if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, u); err != nil {
					return false, err.Error()
				}
				res, err := kstatus.Compute(u)
				if err != nil {
					return false, err.Error()
				}
				ready := readyCondition(u)
				phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
				good := phase != "" && res.Status == want[name] && ready != nil && ready.ObservedGeneration == u.GetGeneration() &&
					(ready.Status == metav1.ConditionTrue) == (want[name] == kstatus.CurrentStatus)
				ok = ok && good
				out = append(out, fmt.Sprintf("%s %s: %s, want %s (%s); Ready %+v", name, phase, res.Status, want[name], res.Message, ready))
			}
			return ok, strings.Join(out, "\n")
		})
	}
	settled("at the end")

	// A spec edited after the end: the status observes the new generation,
	// and nothing else changes.
	for name := range want {
		ro := &fleetv1alpha1.Rollout{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, ro); err != nil {
			t.Fatal(err)
		}
		base := ro.DeepCopy()
		ro.Spec.Approvals = append(ro.Spec.Approvals, fleetv1alpha1.Approval{Wave: "late",
			ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: &metav1.Time{Time: time.Now().Truncate(time.Second)}}})
		if err := e.C.Patch(e.Ctx, ro, client.MergeFrom(base)); err != nil {
			t.Fatal(err)
		}
		if ro.Generation == base.Generation {
			t.Fatalf("%s: the edit made no new generation", name)
		}
	}
	settled("after an edit")
}

// readyCondition is the object's Ready condition, or nil.
func readyCondition(u *unstructured.Unstructured) *metav1.Condition {
	obj, err := kstatus.GetObjectWithConditions(u.Object)
	if err != nil {
		return nil
	}
	var conds []metav1.Condition
	for _, c := range obj.Status.Conditions {
		conds = append(conds, metav1.Condition{Type: c.Type, Status: metav1.ConditionStatus(c.Status), Reason: c.Reason})
	}
	c := meta.FindStatusCondition(conds, fleetv1alpha1.ConditionReady)
	if c == nil {
		return nil
	}
	// GetObjectWithConditions drops observedGeneration: read it directly.
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok && m["type"] == fleetv1alpha1.ConditionReady {
			if g, ok := m["observedGeneration"].(int64); ok {
				c.ObservedGeneration = g
			}
		}
	}
	return c
}

func ptr[T any](v T) *T { return &v }
