package simulate

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/rollout"
)

// Objects is the end of a run as the hub's objects, for the golden tests of
// the views that read them (`flotilla rollout status`, `flotilla status`,
// the dashboard): the Rollout, its Promise, a Cluster per target and their
// Works.
type Objects struct {
	Rollout  fleetv1alpha1.Rollout
	Promise  fleetv1alpha1.Promise
	Clusters []fleetv1alpha1.Cluster
	Works    []fleetv1alpha1.Work
	// Now is when the run ended.
	Now time.Time
}

// ObjectsOf describes how a run ended: the Rollout (in the platform
// namespace, named name, created at the start) with its last status; per
// cluster, a Work of instance team-a/shop as its last observation says
// (revision, applied revision, health); and, where a failure was not the
// rollout's, a failing Work of instance team-c/ledger on the revision that
// failed.
func ObjectsOf(s Scenario, res Result, name string) Objects {
	promise := or(s.Rollout.Subject.Promise, "app")
	spec := *s.Rollout.DeepCopy()
	spec.Subject.Promise = promise
	o := Objects{
		Rollout: fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name, CreationTimestamp: metav1.NewTime(start)},
			Spec:       spec,
			Status:     *res.Status.DeepCopy(),
		},
		Promise: fleetv1alpha1.Promise{ObjectMeta: metav1.ObjectMeta{Name: promise},
			Status: fleetv1alpha1.PromiseStatus{LatestRevision: s.Rollout.TargetRevision, Instances: 2}},
		Now: start.Add(res.Elapsed),
	}
	for _, c := range res.Clusters {
		cl := fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: c.Labels}}
		cl.Status.Availability = fleetv1alpha1.ClusterAvailabilityAvailable
		if !c.Online {
			cl.Status.Availability = fleetv1alpha1.ClusterAvailabilityOffline
		}
		o.Clusters = append(o.Clusters, cl)
		o.Works = append(o.Works, work(promise, c.Name, "team-a", "shop", c.Revision, c.AppliedRevision, c.Health, c.Reason, c.Message))
		if u := c.Unattributed; u != nil {
			o.Works = append(o.Works, work(promise, c.Name, "team-c", "ledger", u.Revision, "", rollout.HealthFailed, u.Reason, u.Message))
		}
	}
	return o
}

// work is a Work of promise for one instance on cluster, as the agent
// reports it.
func work(promise, cluster, ns, instance, rev, applied string, h rollout.Health, reason, message string) fleetv1alpha1.Work {
	w := fleetv1alpha1.Work{ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace(cluster), Name: promise + "-" + instance, Generation: 2}}
	w.Spec.Cluster, w.Spec.Revision = cluster, rev
	w.Spec.Subject = fleetv1alpha1.WorkSubject{Promise: promise, Instance: &fleetv1alpha1.InstanceReference{Namespace: ns, Name: instance}}
	w.Status.ObservedGeneration, w.Status.AppliedRevision = 2, applied
	cond := func(typ string, ok bool, reason, message string) metav1.Condition {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.NewTime(start)}
	}
	switch {
	case h == rollout.HealthFailed && applied == "":
		w.Status.Conditions = []metav1.Condition{cond(fleetv1alpha1.ConditionApplied, false, or(reason, fleetv1alpha1.ReasonApplyFailed), message)}
	case h == rollout.HealthFailed:
		w.Status.Conditions = []metav1.Condition{cond(fleetv1alpha1.ConditionApplied, true, fleetv1alpha1.ReasonApplied, ""),
			cond(fleetv1alpha1.ConditionStalled, true, or(reason, fleetv1alpha1.ReasonUnhealthy), message)}
	case h == rollout.HealthHealthy:
		w.Status.Conditions = []metav1.Condition{cond(fleetv1alpha1.ConditionApplied, true, fleetv1alpha1.ReasonApplied, ""),
			cond(fleetv1alpha1.ConditionReady, true, fleetv1alpha1.ReasonSucceeded, "")}
	default:
		w.Status.ObservedGeneration = 1
	}
	return w
}

// PlayToObjects parses a scenario, runs it without a trace and returns the
// hub's objects at its end, the Rollout named name.
func PlayToObjects(scenario []byte, name string) (Objects, error) {
	s, err := Parse(scenario)
	if err != nil {
		return Objects{}, err
	}
	res, err := Run(s, Options{NoTrace: true})
	if err != nil {
		return Objects{}, err
	}
	return ObjectsOf(s, res, name), nil
}
