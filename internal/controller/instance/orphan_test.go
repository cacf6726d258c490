package instance_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// Team orph1-team may update its instances, finalizers included. While the
// hub is down (an upgrade, a leader change), it deletes its instance and
// removes the hub's finalizer, so the instance is gone before the hub
// could delete its Works: its objects would then run on every member for
// good, after the instance, or the team's tenancy, is gone, which a team's
// prune: disabled may not do either. The hub, back, deletes the Works of
// instances that no longer exist.
func TestAnInstanceDeletedWhileTheHubIsDownLeavesNoWork(t *testing.T) {
	e := newEnv(t)
	stop := startHub(t, hub.Options{AdmitLatest: true})
	const group, kind = "orph1.example.com", "Orph1App"
	e.Cluster("orph1-1", map[string]string{"story": "orph1"})
	e.Fleet("orph1", map[string]string{"story": "orph1"}, "orph1-team")
	e.Namespace("orph1-team", nil)
	e.Create(configMapPromise("orph1-app", group, kind, "orph1"))
	e.PromiseReady("orph1-app")
	miner := instance(group, kind, "orph1-team", "miner", map[string]any{"size": "small"})
	e.Create(miner)
	e.WaitWork("orph1-app", "orph1-team", "miner", "orph1-1", func(w *fleetv1alpha1.Work) (bool, string) { return true, "" })
	eventually(t, 30*time.Second, "the hub's finalizer on the instance", func() (bool, string) {
		if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(miner), miner); err != nil {
			return false, err.Error()
		}
		return len(miner.GetFinalizers()) > 0, ""
	})

	stop()
	if err := e.C.Delete(e.Ctx, miner); err != nil {
		t.Fatal(err)
	}
	if err := e.C.Patch(e.Ctx, miner, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}
	if err := e.C.Get(e.Ctx, client.ObjectKeyFromObject(miner), miner); err == nil {
		t.Fatal("the instance is still there")
	}

	startHub(t, hub.Options{AdmitLatest: true})
	eventually(t, 30*time.Second, "the Work of the deleted instance deleted", func() (bool, string) {
		return e.Work("orph1-app", "orph1-team", "miner", "orph1-1") == nil, "the Work is still there"
	})
}
