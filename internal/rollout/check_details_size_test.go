package rollout_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// etcdObjectLimit is the most etcd stores in one object by default
// (--max-request-bytes): a Rollout whose status is larger is refused at
// every write.
const etcdObjectLimit = 3 << 19 // 1.5 MiB

// The bound on a target set (TestARolloutStatusThatCouldOutgrowEtcdIsRefusedAtTheStart
// in internal/controller/rollout) counts what grows with the clusters, not
// the checks' details: up to 10 clusters in full per check and wave, each
// with its last and decisive measurement (a value of up to 256 bytes, a
// message of up to 512). A strategy of 5 waves of 8 per-cluster checks whose
// measurements come back Inconclusive with long messages (a Thanos querier
// warning of the stores it could not reach, at every query) keeps about
// 0.5 MB of them by its last wave; beside the largest target set the hub
// takes, the status passes what etcd stores and no write of it goes
// through again.
func TestCheckDetailsBesideTheLargestTargetSetFitEtcd(t *testing.T) {
	t.Skip("open: check details are not bounded across waves; see docs/security.md, what Flotilla does not guarantee")
	at := metav1.NewTime(time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC))
	warning := fleetv1alpha1.ClipMessage("partial response: "+strings.Repeat("store 10.0.12.7:10901 unreachable: rpc error: code = Unavailable; ", 10), 512)
	measured := &fleetv1alpha1.CheckMeasurement{Time: at, Outcome: "Inconclusive", Message: warning}
	var st fleetv1alpha1.RolloutStatus
	// The largest target set the hub takes with 8 checks: 17,700 clusters
	// named to 46 characters, grown in full.
	clusters := 0
	for w := range 5 {
		n := 10000
		if w > 0 {
			n = 7700 / 4
		}
		ws := fleetv1alpha1.WaveStatus{Name: fmt.Sprintf("wave-%d", w)}
		for i := range n {
			ws.Clusters = append(ws.Clusters, fmt.Sprintf("eu-customer-production-%06d-0123456789abcdef", clusters+i)[:fleetv1alpha1.MaxClusterNameLength])
		}
		clusters += n
		ws.Admitted, ws.Relapses = strings.Repeat("T", n), strings.Repeat("0", n)
		for c := range 8 {
			check := fleetv1alpha1.WaveCheckStatus{Name: fmt.Sprintf("check-%d", c), Scope: fleetv1alpha1.CheckEachCluster,
				Verdict: fleetv1alpha1.CheckInconclusive, Message: strings.Repeat("m", 1024), Marks: strings.Repeat("I", n)}
			for d := range fleetv1alpha1.MaxCheckDetails {
				check.Clusters = append(check.Clusters, fleetv1alpha1.ClusterCheckState{Cluster: ws.Clusters[d],
					CheckState: fleetv1alpha1.CheckState{Since: at, Measurements: 12, Inconclusives: 12, InconclusiveRun: 12, Last: measured, Decisive: measured}})
			}
			ws.Checks = append(ws.Checks, check)
		}
		st.Waves = append(st.Waves, ws)
	}
	b, err := json.Marshal(fleetv1alpha1.Rollout{Status: st})
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > etcdObjectLimit {
		t.Fatalf("a status of %d clusters and 5 waves of 8 inconclusive checks takes %d bytes, more than the %d etcd stores", clusters, len(b), etcdObjectLimit)
	}
}
