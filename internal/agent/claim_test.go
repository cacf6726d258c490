package agent

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The attack (a careless platform engineer): `flotilla join store-b -o yaml`
// applied with the wrong kubectl context, to the member that runs store-a's
// agent. store-b's agent replaced store-a's there, found store-a's objects
// labelled with the same Work names (Work names do not depend on the
// cluster) and no local record of its own, took them as its own and applied
// store-b's render over them (store-b's values, Secrets and Overrides), and
// reported to the hub, as store-b's, what store-a's member runs. Now the
// agent records on the member which cluster it is (ConfigMap
// flotilla-agent-cluster in its namespace) and another cluster's agent
// refuses to run there.
func TestAnotherClustersAgentDoesNotRunOnAMember(t *testing.T) {
	e := newEnv(t)
	const clusterA, clusterB, workName = "claim-a", "claim-b", "web"
	claimNS, appNS := "claim-agent", "claim-app"
	for _, ns := range []string{claimNS, appNS} {
		if _, err := e.memberKube.CoreV1().Namespaces().Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hubA, hubB := e.join(t, clusterA), e.join(t, clusterB)
	for cluster, region := range map[string]string{clusterA: "eu", clusterB: "us"} {
		if err := e.hubClient.Create(e.ctx, work(cluster, workName, configMapObj(appNS, "settings", map[string]string{"region": region}))); err != nil {
			t.Fatal(err)
		}
	}
	region := func() string {
		cm, err := e.memberKube.CoreV1().ConfigMaps(appNS).Get(e.ctx, "settings", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return cm.Data["region"]
	}

	optsA := testOptions(t, clusterA)
	optsA.ClaimNamespace = claimNS
	a := e.startAgent(t, hubA, optsA)
	e.waitWorkReady(t, clusterA, workName, time.Minute)
	if got := region(); got != "eu" {
		t.Fatalf("store-a's member runs region %q, want eu", got)
	}
	a.stop(t) // the wrong manifests replace its Deployment

	for _, reportOnly := range []bool{false, true} {
		optsB := testOptions(t, clusterB)
		optsB.ClaimNamespace, optsB.ReportOnly = claimNS, reportOnly
		done := make(chan error, 1)
		go func() { done <- Run(e.ctx, hubB, e.member.RESTConfig, optsB) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), `cluster "claim-a"`) || !strings.Contains(err.Error(), "flotilla-agent-cluster") {
				t.Errorf("store-b's agent (report-only %t) on store-a's member returned %v, want a refusal naming claim-a and the ConfigMap", reportOnly, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("store-b's agent (report-only %t) runs on store-a's member; its member's region is now %q", reportOnly, region())
		}
	}
	if got := region(); got != "eu" {
		t.Errorf("store-a's member runs region %q after store-b's agent started there, want eu", got)
	}

	// store-a's own agent runs there again, and applies store-a's changes.
	e.startAgent(t, hubA, optsA)
	e.updateWork(t, workRef(clusterA, workName), func(w *fleetv1alpha1.Work) {
		setManifests(w, configMapObj(appNS, "settings", map[string]string{"region": "eu-2"}))
	})
	waitFor(t, time.Minute, "store-a's change applied", func() (bool, string) { got := region(); return got == "eu-2", got })
}
