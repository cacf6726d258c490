package instance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
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
