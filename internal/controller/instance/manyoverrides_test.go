package instance_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a Work lists at most 64 Overrides (spec.overrides). Team
// mo-team wrote 64 small Overrides of its own on its instance, well under
// the 128 KiB a revision snapshots; then the platform added an Override (a
// registry mirror, an urgent fix) that, as the platform's, applies at once.
// The team's Work, with 65, could not be written: the platform's fix did not
// reach the team's clusters, nothing on the instance said why, and the hub
// rendered and retried the write for ever. A team may now have 32 Overrides
// on one instance, leaving the platform room: past that the instance is
// held, saying why, as for the other bounds of what a team writes.
func TestATeamsOverridesCannotCrowdOutThePlatforms(t *testing.T) {
	e := newEnv(t)
	startHub(t, hub.Options{AdmitLatest: true})
	const group, kind, team = "manyovr.example.com", "ManyOvr", "mo-team"
	e.Cluster("mo-1", map[string]string{"story": "mo"})
	e.Fleet("mo", map[string]string{"story": "mo"}, team)
	e.Namespace(team, nil)
	e.Create(configMapPromise("mo-db", group, kind, "mo"))
	e.PromiseReady("mo-db")
	e.Create(instance(group, kind, team, "orders", map[string]any{"size": "small"}))
	e.WaitWork("mo-db", team, "orders", "mo-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	pad := func(i int) *fleetv1alpha1.Override {
		return &fleetv1alpha1.Override{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pad-%02d", i), Namespace: team},
			Spec: fleetv1alpha1.OverrideSpec{Promise: "mo-db", Type: fleetv1alpha1.PatchJSONMerge,
				Patch: promisetest.Raw(map[string]any{"data": map[string]any{fmt.Sprintf("pad%02d", i): "x"}})},
		}
	}
	for i := range 64 {
		e.Create(pad(i))
	}
	e.WaitInstance(group, kind, team, "orders", "held, saying why", func(s fleetv1alpha1.InstanceStatus) bool {
		c := meta.FindStatusCondition(s.Conditions, fleetv1alpha1.ConditionReady)
		return c != nil && c.Reason == fleetv1alpha1.ReasonInvalidSpec && strings.Contains(c.Message, "64 Overrides of namespace mo-team")
	})
	if w := e.Work("mo-db", team, "orders", "mo-1"); w == nil || len(w.Spec.Overrides) > 32 {
		t.Fatalf("the held instance's Work: %+v", w)
	}

	// Within the bound, the platform's Override lands beside the team's 32.
	for i := 32; i < 64; i++ {
		if err := e.C.Delete(e.Ctx, pad(i)); err != nil {
			t.Fatal(err)
		}
	}
	e.WaitWork("mo-db", team, "orders", "mo-1", func(w *fleetv1alpha1.Work) (bool, string) {
		return len(w.Spec.Overrides) == 32, fmt.Sprintf("%d overrides", len(w.Spec.Overrides))
	})
	e.Create(&fleetv1alpha1.Override{
		ObjectMeta: metav1.ObjectMeta{Name: "mirror", Namespace: fleetv1alpha1.PlatformNamespace},
		Spec: fleetv1alpha1.OverrideSpec{Promise: "mo-db", Type: fleetv1alpha1.PatchJSONMerge,
			Patch: promisetest.Raw(map[string]any{"data": map[string]any{"mirror": "registry.internal"}})},
	})
	promisetest.Eventually(t, 30*time.Second, "the platform's Override on the team's Work", func() (bool, string) {
		w := e.Work("mo-db", team, "orders", "mo-1")
		got := manifestData(t, w, "mirror")
		return got == "registry.internal" && slices.Contains(w.Spec.Overrides, fleetv1alpha1.PlatformNamespace+"/mirror"),
			fmt.Sprintf("mirror %q, %d overrides listed; instance %+v", got, len(w.Spec.Overrides), e.InstanceStatus(group, kind, team, "orders").Conditions)
	})
}
