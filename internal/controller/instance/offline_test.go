package instance_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/hub"
)

// A cluster's agent goes away (an edge site loses its link, an agent is
// stopped) after reporting the instance healthy there. Its last report still
// says Ready, and the instance read "ready on 2 of 2 clusters" for as long
// as the cluster stayed Offline: the team, and anything that waits on the
// instance's Ready, took a workload nobody has heard of for hours as
// running. An Offline cluster's report is not current: the instance counts
// it offline, not ready, and is Ready again once the cluster is back.
func TestAnOfflineClusterIsNotCountedReady(t *testing.T) {
	e := newEnv(t)
	const grace = 3 * time.Second
	startHub(t, hub.Options{ClusterOfflineGrace: grace})
	const group, kind = "offline.example.com", "Cache"
	e.Cluster("off-1", map[string]string{"story": "offline"})
	e.Cluster("off-2", map[string]string{"story": "offline"})
	e.Fleet("off", map[string]string{"story": "offline"}, "off-team")
	e.Namespace("off-team", nil)
	e.Create(configMapPromise("off-cache", group, kind, "off"))
	e.PromiseReady("off-cache")

	// off-1's agent heartbeats once: Available until the grace runs out.
	renew := func() {
		t.Helper()
		lease := &coordinationv1.Lease{}
		key := client.ObjectKey{Namespace: fleetv1alpha1.ClusterNamespace("off-1"), Name: fleetv1alpha1.AgentLease}
		now := metav1.NewMicroTime(time.Now())
		err := e.C.Get(e.Ctx, key, lease)
		if err != nil {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("agent"), LeaseDurationSeconds: ptr.To[int32](3600), RenewTime: &now}}
			e.Create(lease)
			return
		}
		lease.Spec.RenewTime = &now
		if err := e.C.Update(e.Ctx, lease); err != nil {
			t.Fatal(err)
		}
	}
	availability := func(want fleetv1alpha1.ClusterAvailability) {
		t.Helper()
		eventually(t, 3*grace, fmt.Sprintf("off-1 %s", want), func() (bool, string) {
			c := &fleetv1alpha1.Cluster{}
			if err := e.C.Get(e.Ctx, client.ObjectKey{Name: "off-1"}, c); err != nil {
				return false, err.Error()
			}
			return c.Status.Availability == want, string(c.Status.Availability)
		})
	}
	renew()
	availability(fleetv1alpha1.ClusterAvailabilityAvailable)

	e.Create(instance(group, kind, "off-team", "sessions", map[string]any{"size": "small"}))
	for _, c := range []string{"off-1", "off-2"} {
		e.ReportReady(e.WaitWork("off-cache", "off-team", "sessions", c, func(*fleetv1alpha1.Work) (bool, string) { return true, "" }))
	}
	e.WaitInstance(group, kind, "off-team", "sessions", "ready on both", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionIs(s.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) && s.Clusters.Ready == 2
	})

	// off-1's agent stops: its Work still says Ready.
	availability(fleetv1alpha1.ClusterAvailabilityOffline)
	st := e.WaitInstance(group, kind, "off-team", "sessions", "off-1 offline, not ready", func(s fleetv1alpha1.InstanceStatus) bool {
		return s.Clusters.Ready == 1 && s.Clusters.Offline == 1 &&
			conditionReason(s.Conditions, fleetv1alpha1.ConditionReady) == fleetv1alpha1.ReasonClustersOffline
	})
	ready := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionReady)
	if ready.Status != metav1.ConditionFalse || !strings.Contains(ready.Message, "off-1") {
		t.Errorf("Ready with off-1 offline: %s %s %q, want False naming off-1", ready.Status, ready.Reason, ready.Message)
	}
	if conditionIs(st.Conditions, fleetv1alpha1.ConditionReconciling, metav1.ConditionTrue) {
		t.Errorf("Reconciling True while the hub has nothing to do: %+v", st.Conditions)
	}

	// It comes back: Ready again, with no new report needed.
	renew()
	availability(fleetv1alpha1.ClusterAvailabilityAvailable)
	e.WaitInstance(group, kind, "off-team", "sessions", "ready on both again", func(s fleetv1alpha1.InstanceStatus) bool {
		return conditionIs(s.Conditions, fleetv1alpha1.ConditionReady, metav1.ConditionTrue) && s.Clusters.Ready == 2 && s.Clusters.Offline == 0
	})
}
