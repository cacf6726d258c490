//go:build !agent

package cli

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// A git cluster's agent, run by hand, is told to only report.
func TestJoinSummaryReportOnly(t *testing.T) {
	joined := func(d fleetv1alpha1.Delivery) *membership.Joined {
		return &membership.Joined{Cluster: &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "c"},
			Spec: fleetv1alpha1.ClusterSpec{Delivery: d}}, Namespace: "flotilla-cluster-c"}
	}
	o := &joinOptions{writeKubeconfig: "c-hub.kubeconfig"}
	git := o.summary(joined(fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryGit,
		Git: &fleetv1alpha1.GitDelivery{URL: "file:///r", HealthSource: fleetv1alpha1.GitHealthAgent}}), "flotilla join c")
	if !strings.Contains(git, "--state-dir DIR --report-only\n") {
		t.Errorf("git cluster summary:\n%s", git)
	}
	agent := o.summary(joined(fleetv1alpha1.Delivery{Mode: fleetv1alpha1.DeliveryAgent}), "flotilla join c")
	if strings.Contains(agent, "--report-only") {
		t.Errorf("agent cluster summary:\n%s", agent)
	}
}
