package fleet

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	member := func(name, env string, availability fleetv1alpha1.ClusterAvailability) fleetv1alpha1.Cluster {
		c := fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"env": env}}}
		c.Status.Availability = availability
		return c
	}
	leaving := member("prod-3", "prod", fleetv1alpha1.ClusterAvailabilityAvailable)
	leaving.DeletionTimestamp = &metav1.Time{Time: now}
	clusters := []fleetv1alpha1.Cluster{
		member("prod-1", "prod", fleetv1alpha1.ClusterAvailabilityAvailable),
		member("prod-2", "prod", fleetv1alpha1.ClusterAvailabilityOffline),
		leaving,
		member("dev-1", "dev", fleetv1alpha1.ClusterAvailabilityAvailable),
	}
	prod := &fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "prod", Generation: 3}}
	prod.Spec.Selector = metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}

	st := Status(prod, clusters, now)
	if st.Clusters != 2 || st.AvailableClusters != 1 || st.ObservedGeneration != 3 {
		t.Errorf("prod fleet: %d clusters, %d available, generation %d; want 2, 1, 3", st.Clusters, st.AvailableClusters, st.ObservedGeneration)
	}
	if !meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) {
		t.Errorf("prod fleet not Ready: %+v", st.Conditions)
	}

	everything := &fleetv1alpha1.Fleet{ObjectMeta: metav1.ObjectMeta{Name: "all"}}
	if st := Status(everything, clusters, now); st.Clusters != 3 || st.AvailableClusters != 2 {
		t.Errorf("empty selector: %d clusters, %d available; want 3 and 2", st.Clusters, st.AvailableClusters)
	}

	bad := prod.DeepCopy()
	bad.Spec.Selector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: "Near"}}}
	st = Status(bad, clusters, now)
	c := meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled)
	if st.Clusters != 0 || c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonInvalidSpec {
		t.Errorf("bad selector: clusters %d, stalled %+v", st.Clusters, c)
	}

	// A tenants.namespaceSelector that does not parse holds instances: the
	// Fleet says so, rather than read Ready.
	badTenants := prod.DeepCopy()
	badTenants.Spec.Tenants = &fleetv1alpha1.Tenants{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold plated"}}}
	st = Status(badTenants, clusters, now)
	c = meta.FindStatusCondition(st.Conditions, fleetv1alpha1.ConditionStalled)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != fleetv1alpha1.ReasonInvalidSpec || meta.IsStatusConditionTrue(st.Conditions, fleetv1alpha1.ConditionReady) {
		t.Errorf("bad tenants selector: %+v", st.Conditions)
	}
}
