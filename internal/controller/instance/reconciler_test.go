package instance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story: a Promise placed on two Fleets, each with its own tenant team.
// Each team's instance lands only on its Fleet's clusters; a cluster that
// joins later gets the instance; an instance narrows its placement; a
// namespace that is nobody's tenant gets a clear condition and no Work; the
// agent's reports roll up into the instance's status; deleting the instance
// deletes its Works.
func TestPlacementTenancyAndLateJoiners(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "placement.example.com", "Database"
	e.Cluster("plc-a1", map[string]string{"story": "placement", "tier": "a"})
	e.Cluster("plc-b1", map[string]string{"story": "placement", "tier": "b"})
	e.Fleet("plc-a", map[string]string{"story": "placement", "tier": "a"}, "plc-team-a")
	e.Fleet("plc-b", map[string]string{"story": "placement", "tier": "b"}, "plc-team-b")
	for _, ns := range []string{"plc-team-a", "plc-team-b", "plc-team-c"} {
		e.Namespace(ns, nil)
	}
	e.Create(configMapPromise("plc-db", group, kind, "plc-a", "plc-b"))
	rev := e.PromiseReady("plc-db")

	e.Create(instance(group, kind, "plc-team-a", "orders", map[string]any{"size": "small"}))
	e.Create(instance(group, kind, "plc-team-b", "billing", map[string]any{"size": "large"}))

	w := e.WaitWork("plc-db", "plc-team-a", "orders", "plc-a1", func(w *fleetv1alpha1.Work) (bool, string) { return true, "" })
	if w.Spec.Revision != rev || w.Labels[fleetv1alpha1.LabelRevision] != rev || w.Labels[fleetv1alpha1.LabelPromise] != "plc-db" ||
		w.Labels[fleetv1alpha1.LabelInstance] != "orders" || w.Labels[fleetv1alpha1.LabelInstanceNamespace] != "plc-team-a" ||
		w.Labels[fleetv1alpha1.LabelCluster] != "plc-a1" {
		t.Errorf("work labels/revision: revision=%s labels=%v", w.Spec.Revision, w.Labels)
	}
	if got := manifestData(t, w, "cluster"); got != "plc-a1" {
		t.Errorf("rendered for cluster %q, want plc-a1", got)
	}
	e.WaitWork("plc-db", "plc-team-b", "billing", "plc-b1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	if e.Work("plc-db", "plc-team-a", "orders", "plc-b1") != nil || e.Work("plc-db", "plc-team-b", "billing", "plc-a1") != nil {
		t.Error("an instance landed outside its namespace's Fleet")
	}
	st := e.WaitInstance(group, kind, "plc-team-a", "orders", "placed, progressing", func(s fleetv1alpha1.InstanceStatus) bool {
		return s.Clusters.Placed == 1 && conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonProgressing
	})
	if !conditionIs(st.Conditions, fleetv1alpha1.ConditionPlaced, metav1.ConditionTrue) {
		t.Errorf("Placed: %+v", st.Conditions)
	}

	// The agent reports the Work healthy: the instance is Ready.
	e.ReportReady(w)
	e.WaitInstance(group, kind, "plc-team-a", "orders", "ready", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionIs(s.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) && s.Clusters.Ready == 1 && s.Revision == rev
	})

	// A cluster that joins later and matches gets the instance.
	e.Cluster("plc-a2", map[string]string{"story": "placement", "tier": "a"})
	e.WaitWork("plc-db", "plc-team-a", "orders", "plc-a2", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	e.WaitInstance(group, kind, "plc-team-a", "orders", "placed on 2, ready on 1", func(s fleetv1alpha1.InstanceStatus) bool {
		return s.Clusters.Placed == 2 && s.Clusters.Ready == 1 && !conditionIs(s.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue)
	})

	// An instance narrows its placement with spec.placement.
	e.Create(instance(group, kind, "plc-team-a", "narrow", map[string]any{
		"size": "small", "placement": map[string]any{"names": []string{"plc-a2"}},
	}))
	e.WaitWork("plc-db", "plc-team-a", "narrow", "plc-a2", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	if e.Work("plc-db", "plc-team-a", "narrow", "plc-a1") != nil {
		t.Error("spec.placement did not narrow the placement")
	}

	// A namespace that is no Fleet's tenant: a clear condition, no Work.
	e.Create(instance(group, kind, "plc-team-c", "rogue", map[string]any{"size": "small"}))
	st = e.WaitInstance(group, kind, "plc-team-c", "rogue", "tenancy violation", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionPlaced) == fleetv1alpha1.ReasonTenancyViolation
	})
	if !conditionIs(st.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) || st.Clusters.Placed != 0 {
		t.Errorf("rogue status: %+v", st)
	}
	// Naming a Fleet the namespace is not a tenant of is a violation too.
	e.Create(instance(group, kind, "plc-team-a", "reach", map[string]any{
		"size": "small", "placement": map[string]any{"fleets": []string{"plc-b"}},
	}))
	st = e.WaitInstance(group, kind, "plc-team-a", "reach", "tenancy violation", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionPlaced) == fleetv1alpha1.ReasonTenancyViolation
	})
	if msg := placedMessage(st); !strings.Contains(msg, "not a tenant of Fleet plc-b") {
		t.Errorf("message %q does not name the Fleet", msg)
	}
	for _, c := range []string{"plc-a1", "plc-a2", "plc-b1"} {
		for _, inst := range [][2]string{{"plc-team-c", "rogue"}, {"plc-team-a", "reach"}} {
			if e.Work("plc-db", inst[0], inst[1], c) != nil {
				t.Errorf("%s/%s has a Work on %s despite its violation", inst[0], inst[1], c)
			}
		}
	}

	// Invalid parameters are refused by the API server, naming the field.
	err := e.C.Create(e.Ctx, instance(group, kind, "plc-team-a", "huge", map[string]any{"size": "huge"}))
	if err == nil || !strings.Contains(err.Error(), "spec.size") {
		t.Errorf("creating an instance with size huge: %v, want an error naming spec.size", err)
	}

	// Deleting the instance deletes its Works on every cluster.
	if err := e.C.Delete(e.Ctx, instance(group, kind, "plc-team-a", "orders", nil)); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "orders' works deleted and the instance gone", func() (bool, string) {
		left := []string{}
		for _, c := range []string{"plc-a1", "plc-a2"} {
			if e.Work("plc-db", "plc-team-a", "orders", c) != nil {
				left = append(left, c)
			}
		}
		err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: "plc-team-a", Name: "orders"}, instance(group, kind, "", "", nil))
		return len(left) == 0 && err != nil, fmt.Sprintf("works left on %v; get: %v", left, err)
	})
}

func placedMessage(st fleetv1alpha1.InstanceStatus) string {
	for _, c := range st.Conditions {
		if c.Type == fleetv1alpha1.ConditionPlaced {
			return c.Message
		}
	}
	return ""
}

// The story: a Rollout's status, and nothing else, decides what each
// cluster renders. No Rollout controller runs: the test writes the
// admissions a plan would. A new revision moves no Work until the Rollout's
// status admits a cluster; then that cluster's Work follows and names the
// Rollout and its wave, and the other stays. A restarted hub (a new
// manager, nothing in memory) renders admissions stored while it was down.
func TestStoredAdmissionsDecideEachClustersRevision(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{NoRolloutController: true})
	const group, kind = "seam.example.com", "SeamDb"
	e.Cluster("seam-1", map[string]string{"story": "seam"})
	e.Cluster("seam-2", map[string]string{"story": "seam"})
	e.Fleet("seam", map[string]string{"story": "seam"}, "seam-team")
	e.Namespace("seam-team", nil)
	p := configMapPromise("seam-db", group, kind, "seam")
	e.Create(p)
	rev1 := e.PromiseReady("seam-db")
	e.Create(instance(group, kind, "seam-team", "orders", map[string]any{"size": "small"}))
	at := func(rev string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) { return w.Spec.Revision == rev, w.Spec.Revision }
	}
	w1 := e.WaitWork("seam-db", "seam-team", "orders", "seam-1", at(rev1))
	e.WaitWork("seam-db", "seam-team", "orders", "seam-2", at(rev1))

	// A new revision: the hub starts its Rollout, which nothing plans.
	e.UpdatePromise("seam-db", func(cur *fleetv1alpha1.Promise) {
		cur.Spec.Templates.GoTemplates[0].Template = p.Spec.Templates.GoTemplates[0].Template + "  version: two\n"
	})
	var rev2 string
	eventually(t, time.Minute, "revision 2", func() (bool, string) {
		cur := &fleetv1alpha1.Promise{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "seam-db"}, cur); err != nil {
			return false, err.Error()
		}
		rev2 = cur.Status.LatestRevision
		return rev2 != rev1, rev2
	})
	ro := &fleetv1alpha1.Rollout{}
	eventually(t, time.Minute, "the rollout of revision 2", func() (bool, string) {
		list := &fleetv1alpha1.RolloutList{}
		if err := e.C.List(e.Ctx, list, client.InNamespace(fleetv1alpha1.PlatformNamespace)); err != nil {
			return false, err.Error()
		}
		for _, r := range list.Items {
			if r.Spec.Subject.Promise == "seam-db" && r.Spec.TargetRevision == rev2 {
				*ro = r
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d rollouts", len(list.Items))
	})
	// admit stores what a plan admits, as the Rollout controller would.
	admit := func(admitted string) {
		t.Helper()
		eventually(t, 30*time.Second, "admissions "+admitted+" stored", func() (bool, string) {
			cur := &fleetv1alpha1.Rollout{}
			if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
				return false, err.Error()
			}
			cur.Status.Phase = fleetv1alpha1.RolloutPhaseProgressing
			cur.Status.CurrentWave = "all"
			cur.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "all", Phase: fleetv1alpha1.WavePhaseProgressing,
				Clusters: []string{"seam-1", "seam-2"}, Admitted: admitted}}
			err := e.C.Status().Update(e.Ctx, cur)
			return err == nil, fmt.Sprint(err)
		})
	}
	time.Sleep(time.Second) // give a wrong write time to happen
	if w := e.Work("seam-db", "seam-team", "orders", "seam-1"); w.Spec.Revision != rev1 {
		t.Fatalf("seam-1 moved to %s before any admission", w.Spec.Revision)
	}

	// seam-2 is admitted, seam-1 is not.
	admit(".T")
	w2 := e.WaitWork("seam-db", "seam-team", "orders", "seam-2", at(rev2))
	if manifestData(t, w2, "version") != "two" {
		t.Error("seam-2 does not render revision 2's template")
	}
	if r := w2.Spec.Rollout; r == nil || r.Name != ro.Name || r.Namespace != ro.Namespace || r.Wave != "all" {
		t.Errorf("spec.rollout %+v, want %s wave all", r, ro.Name)
	}
	time.Sleep(time.Second) // give a wrong write time to happen
	if w := e.Work("seam-db", "seam-team", "orders", "seam-1"); w.Spec.Revision != rev1 || w.Generation != w1.Generation {
		t.Errorf("seam-1, not admitted, moved: revision %s generation %d (was %d)", w.Spec.Revision, w.Generation, w1.Generation)
	}

	// The hub stops; seam-1 is admitted meanwhile; a new hub renders it.
	stop()
	admit("TT")
	time.Sleep(time.Second)
	if w := e.Work("seam-db", "seam-team", "orders", "seam-1"); w.Spec.Revision != rev1 {
		t.Fatalf("seam-1 moved to %s with no hub running", w.Spec.Revision)
	}
	startHub(t, hub.Options{NoRolloutController: true})
	e.WaitWork("seam-db", "seam-team", "orders", "seam-1", at(rev2))
	if w := e.Work("seam-db", "seam-team", "orders", "seam-2"); w.Spec.Revision != rev2 {
		t.Errorf("seam-2 left %s after the restart: %s", rev2, w.Spec.Revision)
	}
}

// The story: an instance change that its Promise's templates cannot render
// gives the instance a Stalled condition naming the template, and its Works
// stay exactly as they were, so nothing changes on the members.
func TestRenderErrorsLeaveWorksAlone(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "renderr.example.com", "Fragile"
	e.Cluster("renderr-1", map[string]string{"story": "renderr"})
	e.Fleet("renderr", map[string]string{"story": "renderr"}, "renderr-team")
	e.Namespace("renderr-team", nil)
	p := configMapPromise("renderr-db", group, kind, "renderr")
	p.Spec.API.Schema = promisetest.Raw(map[string]any{"type": "object", "properties": map[string]any{
		"size":  map[string]any{"type": "string"},
		"extra": map[string]any{"type": "object", "properties": map[string]any{"note": map[string]any{"type": "string"}}},
	}})
	p.Spec.Templates.GoTemplates[0].Template += "  note: {{ .spec.extra.note | quote }}\n"
	p.Spec.Examples = []fleetv1alpha1.PromiseExample{{Name: "noted", Spec: promisetest.Raw(map[string]any{"size": "small", "extra": map[string]any{"note": "hi"}})}}
	e.Create(p)
	e.PromiseReady("renderr-db")
	e.Create(instance(group, kind, "renderr-team", "orders", map[string]any{"size": "small", "extra": map[string]any{"note": "hello"}}))
	before := e.WaitWork("renderr-db", "renderr-team", "orders", "renderr-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return manifestData(t, w, "note") == "hello", ""
	})

	e.UpdateInstance(instance(group, kind, "renderr-team", "orders", nil), func(u *unstructured.Unstructured) {
		u.Object["spec"] = map[string]any{"size": "large"}
	})
	st := e.WaitInstance(group, kind, "renderr-team", "orders", "stalled", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionIs(s.Conditions, fleetv1alpha1.ConditionStalled, metav1.ConditionTrue) && s.ObservedGeneration == 2
	})
	msg := ""
	for _, c := range st.Conditions {
		if c.Type == fleetv1alpha1.ConditionStalled {
			msg = c.Message
		}
	}
	if !strings.Contains(msg, "configmap.yaml") || conditionReason(st.Conditions, fleetv1alpha1.ConditionReady) != fleetv1alpha1.ReasonRenderFailed {
		t.Errorf("Stalled message %q does not name the template; conditions %+v", msg, st.Conditions)
	}
	after := e.Work("renderr-db", "renderr-team", "orders", "renderr-1")
	if after.Generation != before.Generation || manifestData(t, after, "size") != "small" {
		t.Errorf("the Work changed: generation %d -> %d", before.Generation, after.Generation)
	}
}

// The story: fleet resources land once per cluster of the placement; a
// platform Override reshapes one cluster's rendering and is listed in the
// Works it shaped and counted in its status; a team's Override only touches
// its own instances (through their Rollouts) and may not move resources;
// removing an Override undoes it.
func TestFleetResourcesAndOverrides(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "ovr.example.com", "OvrDb"
	// Online without an agent, so that the Rollout of a team Override's
	// change admits them.
	e.OnlineCluster("ovr-1", map[string]string{"story": "ovr", "tier": "edge"})
	e.OnlineCluster("ovr-2", map[string]string{"story": "ovr"})
	e.Fleet("ovr", map[string]string{"story": "ovr"}, "ovr-team", "ovr-other")
	e.Namespace("ovr-team", nil)
	e.Namespace("ovr-other", nil)
	p := configMapPromise("ovr-db", group, kind, "ovr")
	p.Spec.FleetResources = []fleetv1alpha1.Manifest{
		{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ovr-system"}})},
		{RawExtension: promisetest.Raw(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "ovr-operator", "namespace": "ovr-system"}, "data": map[string]any{"size": "shared"}})},
	}
	e.Create(p)
	e.PromiseReady("ovr-db")
	for _, c := range []string{"ovr-1", "ovr-2"} {
		w := e.WaitWork("ovr-db", "", "", c, func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
		if len(w.Spec.Manifests) != 2 || w.Spec.Subject.Instance != nil || w.Labels[fleetv1alpha1.LabelInstance] != "" {
			t.Errorf("fleet Work on %s: %d manifests, subject %+v", c, len(w.Spec.Manifests), w.Spec.Subject)
		}
	}
	e.Create(instance(group, kind, "ovr-team", "orders", map[string]any{"size": "small"}))
	e.Create(instance(group, kind, "ovr-other", "billing", map[string]any{"size": "small"}))
	for _, c := range []string{"ovr-1", "ovr-2"} {
		e.WaitWork("ovr-db", "ovr-team", "orders", c, func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	}

	// The platform team makes edge clusters tiny.
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "edge-tiny", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: fleetv1alpha1.OverrideSpec{
			ClusterSelector: fleetv1alpha1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "edge"}}},
			Promise:         "ovr-db",
			Resources:       []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}},
			Type:            fleetv1alpha1.PatchJSONMerge,
			Patch:           promisetest.Raw(map[string]any{"data": map[string]any{"size": "tiny"}}),
		},
	})
	shaped := func(name string) func(*fleetv1alpha1.Work) (bool, string) {
		return func(w *fleetv1alpha1.Work) (bool, string) {
			return manifestData(t, w, "size") == "tiny" && slices.Equal(w.Spec.Overrides, []string{name}), fmt.Sprint(w.Spec.Overrides)
		}
	}
	e.WaitWork("ovr-db", "ovr-team", "orders", "ovr-1", shaped("flotilla-system/edge-tiny"))
	e.WaitWork("ovr-db", "", "", "ovr-1", shaped("flotilla-system/edge-tiny"))
	if w := e.Work("ovr-db", "ovr-team", "orders", "ovr-2"); manifestData(t, w, "size") != "small" || len(w.Spec.Overrides) != 0 {
		t.Errorf("ovr-2 was shaped: %v", w.Spec.Overrides)
	}
	waitOverride(t, e, fleetv1alpha1.PlatformNamespace, "edge-tiny", func(o *fleetv1alpha1.Override) bool {
		return o.Status.AffectedClusters == 1 && o.Status.AffectedWorks == 3
	})

	// A team's Override touches only its own instances.
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "bigger", Namespace: "ovr-team"},
		Spec: fleetv1alpha1.OverrideSpec{
			ClusterSelector: fleetv1alpha1.ClusterSelector{Names: []string{"ovr-2"}},
			Type:            fleetv1alpha1.PatchValues,
			Patch:           promisetest.Raw(map[string]any{"size": "large"}),
		},
	})
	e.WaitWork("ovr-db", "ovr-team", "orders", "ovr-2", func(w *fleetv1alpha1.Work) (bool, string) {
		return manifestData(t, w, "size") == "large" && slices.Equal(w.Spec.Overrides, []string{"ovr-team/bigger"}), fmt.Sprint(w.Spec.Overrides)
	})
	if w := e.Work("ovr-db", "ovr-other", "billing", "ovr-2"); manifestData(t, w, "size") != "small" {
		t.Error("a team's Override shaped another team's instance")
	}
	if w := e.Work("ovr-db", "", "", "ovr-2"); len(w.Spec.Overrides) != 0 {
		t.Error("a team's Override shaped fleet resources")
	}
	// ... and may not move resources.
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "escape", Namespace: "ovr-team"},
		Spec: fleetv1alpha1.OverrideSpec{
			Type:  fleetv1alpha1.PatchJSONMerge,
			Patch: promisetest.Raw(map[string]any{"metadata": map[string]any{"namespace": "kube-system"}}),
		},
	})
	waitOverride(t, e, "ovr-team", "escape", func(o *fleetv1alpha1.Override) bool {
		return conditionReason(o.Status.Conditions, fleetv1alpha1.ConditionStalled) == fleetv1alpha1.ReasonOutOfScope && o.Status.AffectedWorks == 0
	})

	// Removing the platform Override undoes it.
	if err := e.C.Delete(e.Ctx, &fleetv1alpha1.Override{ObjectMeta: metav1.ObjectMeta{Name: "edge-tiny", Namespace: fleetv1alpha1.PlatformNamespace}}); err != nil {
		t.Fatal(err)
	}
	e.WaitWork("ovr-db", "ovr-team", "orders", "ovr-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return manifestData(t, w, "size") == "small" && len(w.Spec.Overrides) == 0, fmt.Sprint(w.Spec.Overrides)
	})
}

func waitOverride(t *testing.T, e *promisetest.Env, ns, name string, check func(*fleetv1alpha1.Override) bool) {
	t.Helper()
	eventually(t, time.Minute, "override "+ns+"/"+name, func() (bool, string) {
		o := &fleetv1alpha1.Override{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Namespace: ns, Name: name}, o); err != nil {
			return false, err.Error()
		}
		return check(o), fmt.Sprintf("%+v", o.Status)
	})
}

// The story: someone applies Works by hand into a cluster namespace — one
// naming a Promise that does not exist, one naming a real Promise's instance.
// The hub reconciles that Promise and instance around them and leaves both
// alone: it replaces and deletes only the Works it wrote.
func TestAdHocWorksAreLeftAlone(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "adhoc.example.com", "Cache"
	e.Cluster("adhoc-1", map[string]string{"story": "adhoc"})
	e.Fleet("adhoc", map[string]string{"story": "adhoc"}, "adhoc-team")
	e.Namespace("adhoc-team", nil)
	adHoc := func(name, promise string, inst *fleetv1alpha1.InstanceReference) *fleetv1alpha1.Work {
		w := &fleetv1alpha1.Work{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace("adhoc-1"), Name: name},
			Spec: fleetv1alpha1.WorkSpec{
				Cluster:  "adhoc-1",
				Subject:  fleetv1alpha1.WorkSubject{Promise: promise, Instance: inst},
				Revision: "by-hand",
			},
		}
		if inst != nil {
			w.Spec.Scope = &fleetv1alpha1.WorkScope{Namespaces: []string{inst.Namespace}, Kinds: []fleetv1alpha1.OutputKind{{Kind: "ConfigMap"}}}
		}
		return w
	}
	ghost := adHoc("ghost", "no-such-promise", nil)
	twin := adHoc("twin", "adhoc-cache", &fleetv1alpha1.InstanceReference{Namespace: "adhoc-team", Name: "orders"})
	e.Create(ghost)
	e.Create(twin)

	e.Create(configMapPromise("adhoc-cache", group, kind, "adhoc"))
	e.PromiseReady("adhoc-cache")
	e.Create(instance(group, kind, "adhoc-team", "orders", map[string]any{"size": "small"}))
	e.WaitWork("adhoc-cache", "adhoc-team", "orders", "adhoc-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return w.Name != twin.Name, "the hub's own Work"
	})
	time.Sleep(time.Second) // let any reconcile of the ad hoc Works' subjects finish
	for _, w := range []*fleetv1alpha1.Work{ghost, twin} {
		var got fleetv1alpha1.Work
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(w), &got); err != nil {
			t.Errorf("ad hoc Work %s: %v", w.Name, err)
			continue
		}
		if got.Spec.Revision != "by-hand" || got.Labels[fleetv1alpha1.LabelManagedBy] != "" {
			t.Errorf("ad hoc Work %s was rewritten by the hub: revision %q, labels %v", w.Name, got.Spec.Revision, got.Labels)
		}
	}
}
