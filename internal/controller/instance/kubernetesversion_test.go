package instance_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// The attack: a member's agent writes a new kubernetesVersion on its Lease
// at every renewal (v1.36.1, v1.36.2, …), as it may. The hub took each into
// the Cluster's status, and each change placed every instance of the hub
// again and rendered each instance on that cluster again: one Lease write
// of one agent cost a render per instance, as fast as the agent wrote,
// holding the render workers every team shares. The hub records a change of
// a cluster's version at most once per heartbeat status resolution, and the
// last version reported in the end.
func TestAnAgentsKubernetesVersionChangesDoNotRenderEveryInstanceEachTime(t *testing.T) {
	e := newEnv(t)
	registry := prometheus.NewRegistry()
	const resolution = 10 * time.Second
	startHub(t, hub.Options{MetricsRegistry: registry, HeartbeatStatusResolution: resolution})
	const group, kind = "kver.example.com", "Cache"
	const instances, writes = 10, 15
	e.Cluster("kver-1", map[string]string{"story": "kver"})
	e.Cluster("kver-2", map[string]string{"story": "kver"})
	e.Fleet("kver", map[string]string{"story": "kver"}, "kver-team")
	e.Namespace("kver-team", nil)
	e.Create(configMapPromise("kver-cache", group, kind, "kver"))
	e.PromiseReady("kver-cache")

	key := client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace("kver-1"), Name: fleetv1alpha1.AgentLease}
	renew := func(version string) {
		t.Helper()
		now := metav1.NewMicroTime(time.Now())
		lease := &coordinationv1.Lease{}
		if err := e.C.Get(e.Ctx, key, lease); err != nil {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("agent"), LeaseDurationSeconds: ptr.To[int32](3600)}}
			lease.Annotations = map[string]string{fleetv1alpha1.AnnotationKubernetesVersion: version}
			lease.Spec.RenewTime = &now
			e.Create(lease)
			return
		}
		lease.Annotations = map[string]string{fleetv1alpha1.AnnotationKubernetesVersion: version}
		lease.Spec.RenewTime = &now
		if err := e.C.Update(e.Ctx, lease); err != nil {
			t.Fatal(err)
		}
	}
	recorded := func() string {
		c := &fleetv1alpha1.Cluster{}
		if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "kver-1"}, c); err != nil {
			return err.Error()
		}
		return c.Status.KubernetesVersion
	}
	renew("v1.36.0")
	eventually(t, 30*time.Second, "kver-1's first version recorded", func() (bool, string) {
		return recorded() == "v1.36.0", recorded()
	})
	for i := range instances {
		e.Create(instance(group, kind, "kver-team", fmt.Sprintf("c%d", i), map[string]any{"size": "small"}))
	}
	for i := range instances {
		e.WaitWork("kver-cache", "kver-team", fmt.Sprintf("c%d", i), "kver-1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })
	}
	time.Sleep(2 * time.Second) // the renders of the instances' creation end
	before := renders(t, registry)

	// The agent writes a new version at every renewal, a little apart.
	for i := 1; i <= writes; i++ {
		renew(fmt.Sprintf("v1.36.%d", i))
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	got := renders(t, registry) - before
	t.Logf("%d version writes: %d renders, recorded %s", writes, got, recorded())
	// A change recorded at once, one a resolution later, and some margin.
	if got > 3*instances {
		t.Errorf("%d version writes of one agent cost %d renders of %d instances; want at most %d", writes, got, instances, 3*instances)
	}
	// The last version reported is recorded within a resolution: a member's
	// upgrade still shows, and renders.
	eventually(t, 3*resolution, "kver-1's last version recorded", func() (bool, string) {
		return recorded() == fmt.Sprintf("v1.36.%d", writes), recorded()
	})
}
