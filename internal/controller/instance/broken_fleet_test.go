package instance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The story: a Fleet's selector is edited into one that does not parse (a
// value with a space, which the API server takes, as it took an operator
// "in" before it checked them). The instances that landed through it must
// be held where they are, with a clear condition naming the Fleet, and keep
// their Works: not lose them on every cluster the Fleet held (the agents
// would prune what runs there).
func TestBrokenFleetSelectorKeepsWorks(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	const group, kind = "brokenfleet.example.com", "Database"
	e.Cluster("bfl-a1", map[string]string{"story": "brokenfleet"})
	e.Fleet("bfl", map[string]string{"story": "brokenfleet"}, "bfl-team")
	e.Namespace("bfl-team", nil)
	e.Create(configMapPromise("bfl-db", group, kind, "bfl"))
	e.PromiseReady("bfl-db")
	e.Create(instance(group, kind, "bfl-team", "orders", map[string]any{"size": "small"}))
	e.WaitWork("bfl-db", "bfl-team", "orders", "bfl-a1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	f := &fleetv1alpha1.Fleet{}
	if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "bfl"}, f); err != nil {
		t.Fatal(err)
	}
	f.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "story", Operator: metav1.LabelSelectorOpIn, Values: []string{"broken fleet"}},
	}}
	if err := e.C.Update(e.Ctx, f); err != nil {
		t.Fatalf("the API server refused the Fleet (fine, then nothing is lost): %v", err)
	}

	e.WaitInstance(group, kind, "bfl-team", "orders", "held, naming the Fleet", func(s fleetv1alpha1.InstanceStatus) bool {
		if e.Work("bfl-db", "bfl-team", "orders", "bfl-a1") == nil {
			t.Fatalf("the instance's Work on bfl-a1 was deleted after its Fleet's selector broke; status: %+v", s.Conditions)
		}
		return conditionReason(s.Conditions, fleetv1alpha1.ConditionPlaced) == fleetv1alpha1.ReasonInvalidSpec
	})
	time.Sleep(2 * time.Second)
	if e.Work("bfl-db", "bfl-team", "orders", "bfl-a1") == nil {
		t.Fatal("the instance's Work on bfl-a1 was deleted after its Fleet's selector broke")
	}
}

// The same typo in a Promise's own placement (or in a Fleet it names):
// its fleet resources (the platform's operators) were placed nowhere and
// their Works deleted on every cluster, the agents pruning them. They are
// held where they are, and the hub says why on the Promise.
func TestABrokenPromisePlacementKeepsItsFleetResources(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	e.Cluster("bfp-1", map[string]string{"story": "brokenpromise"})
	e.Fleet("bfp", map[string]string{"story": "brokenpromise"}, "bfp-team")
	p := configMapPromise("bfp-op", "brokenpromise.example.com", "Op", "bfp")
	p.Spec.FleetResources = []fleetv1alpha1.Manifest{{RawExtension: promisetest.Raw(map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "bfp-operators"}})}}
	e.Create(p)
	e.PromiseReady("bfp-op")
	e.WaitWork("bfp-op", "", "", "bfp-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	e.UpdatePromise("bfp-op", func(p *fleetv1alpha1.Promise) {
		p.Spec.Placement.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "story", Operator: metav1.LabelSelectorOpIn, Values: []string{"broken promise"}},
		}}
	})
	promisetest.Eventually(t, time.Minute, "a Warning on the Promise naming the placement", func() (bool, string) {
		if e.Work("bfp-op", "", "", "bfp-1") == nil {
			t.Fatal("the fleet resources' Work on bfp-1 was deleted after the Promise's placement broke")
		}
		events := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, events); err != nil {
			return false, err.Error()
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == "bfp-op" && ev.Reason == fleetv1alpha1.ReasonInvalidSpec && strings.Contains(ev.Note, "fleet resources") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(events.Items))
	})
	time.Sleep(2 * time.Second)
	if e.Work("bfp-op", "", "", "bfp-1") == nil {
		t.Fatal("the fleet resources' Work on bfp-1 was deleted after the Promise's placement broke")
	}
}

// A Promise's placement edited, validly, to match no cluster (a label
// mistyped): its fleet resources' Works were deleted on every cluster. They
// stay, and a Warning on the Promise says why and how to remove them.
func TestAPromisePlacementMatchingNoClusterKeepsItsFleetResources(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{})
	e.Cluster("nmp-1", map[string]string{"story": "nomatchpromise"})
	e.Fleet("nmp", map[string]string{"story": "nomatchpromise"}, "nmp-team")
	p := configMapPromise("nmp-op", "nomatchpromise.example.com", "Op", "nmp")
	p.Spec.FleetResources = []fleetv1alpha1.Manifest{{RawExtension: promisetest.Raw(map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "nmp-operators"}})}}
	e.Create(p)
	e.PromiseReady("nmp-op")
	e.WaitWork("nmp-op", "", "", "nmp-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	e.UpdatePromise("nmp-op", func(p *fleetv1alpha1.Promise) {
		p.Spec.Placement.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"story": "nomatchpromsie"}}
	})
	promisetest.Eventually(t, time.Minute, "a Warning on the Promise saying its fleet resources stay", func() (bool, string) {
		if e.Work("nmp-op", "", "", "nmp-1") == nil {
			t.Fatal("the fleet resources' Work on nmp-1 was deleted after the Promise's placement matched no cluster")
		}
		events := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, events); err != nil {
			return false, err.Error()
		}
		for _, ev := range events.Items {
			if ev.Regarding.Name == "nmp-op" && ev.Reason == fleetv1alpha1.ReasonNoMatchingClusters &&
				strings.Contains(ev.Note, "1 clusters left the placement but keep their Works") && strings.Contains(ev.Note, "delete the Promise") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(events.Items))
	})
	if e.Work("nmp-op", "", "", "nmp-1") == nil {
		t.Fatal("the fleet resources' Work on nmp-1 was deleted after the Promise's placement matched no cluster")
	}
}
