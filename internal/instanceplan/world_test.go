package instanceplan_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceplan"
	"github.com/flotilla-dev/flotilla/internal/placement"
	"github.com/flotilla-dev/flotilla/internal/render"
)

var epoch = time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)

// world is the hub as a scenario or a fuzz case sets it up: what Route
// and Finish read, and a stand-in for rendering and the agent.
type world struct {
	subject   instanceplan.Subject
	latest    string
	instRev   string
	placement placement.Result
	clusters  []placement.Cluster
	works     []fleetv1alpha1.Work
	promiseRO []fleetv1alpha1.Rollout
	instRO    []fleetv1alpha1.Rollout
	excs      []fleetv1alpha1.DriftException
	// outcome of the next renders by cluster (Rendered when absent).
	outcome map[string]instanceplan.Outcome
	now     time.Time
	status  fleetv1alpha1.InstanceStatus
	// strategy is the resolved strategy of the governing Rollout and of the
	// instance's own; promiseChecks and skip the Promise's checks and
	// skipChecks.
	strategy      fleetv1alpha1.RolloutStrategySpec
	promiseChecks []fleetv1alpha1.Check
	skip          []string
}

func newWorld(s instanceplan.Subject) *world {
	return &world{subject: s, outcome: map[string]instanceplan.Outcome{}, now: epoch}
}

func (w *world) facts() instanceplan.Facts {
	return instanceplan.Facts{
		Subject:          w.subject,
		LatestRevision:   w.latest,
		Placement:        w.placement,
		Works:            w.works,
		Rollouts:         instanceplan.NewRollouts(w.promiseRO, w.instRO, false),
		InstanceRevision: w.instRev,
		Checks: &instanceplan.CheckFacts{Strategy: &w.strategy, InstanceStrategy: &w.strategy, Promise: w.promiseChecks, Skip: w.skip,
			Labels: func(cluster string) map[string]string {
				for _, c := range w.clusters {
					if c.Name == cluster {
						return c.Labels
					}
				}
				return nil
			}},
	}
}

func (w *world) inputs() instanceplan.WorkInputs {
	return instanceplan.WorkInputs{
		DriftPolicy: fleetv1alpha1.DriftPolicyCorrect,
		Exceptions:  instanceplan.InForce(w.subject, w.excs, w.now),
		View:        placement.NewView(w.clusters, nil),
		Now:         w.now,
	}
}

// render stands in for the controller's render: one ConfigMap in the
// instance's namespace naming the revisions, so a Work changes with them.
func (w *world) render(t instanceplan.Target) instanceplan.Result {
	switch w.outcome[t.Cluster] {
	case instanceplan.Failed:
		return t.Failed(errors.New("template: boom"))
	case instanceplan.Empty:
		return t.Empty()
	}
	ns := fleetv1alpha1.PlatformNamespace
	if i := w.subject.Instance; i != nil {
		ns = i.Namespace
	}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": w.subject.Promise, "namespace": ns},
		"data":     map[string]any{"revision": t.Revision, "instanceRevision": t.InstanceRevision},
	}}
	var sc *fleetv1alpha1.WorkScope
	if i := w.subject.Instance; i != nil {
		sc = &fleetv1alpha1.WorkScope{Namespaces: []string{i.Namespace}, Kinds: []fleetv1alpha1.OutputKind{}}
	}
	out, err := instanceplan.Encode(render.Output{Manifests: []*unstructured.Unstructured{cm}})
	if err != nil {
		return t.Failed(err)
	}
	return t.RenderedAs(out, instanceplan.Confinement{Scope: sc, Adoption: fleetv1alpha1.AdoptionNever})
}

// step routes, renders, finishes and carries the plan out on the world's
// Works, as the controller does. It returns the routing and the plan.
func (w *world) step() (instanceplan.Routing, instanceplan.Plan, error) {
	rt := instanceplan.Route(w.facts())
	var results []instanceplan.Result
	for _, t := range rt.Targets {
		results = append(results, w.render(t))
	}
	p, err := instanceplan.Finish(rt, results, w.inputs())
	if err != nil {
		return rt, p, err
	}
	works := map[string]*fleetv1alpha1.Work{}
	for c, cur := range rt.Existing {
		works[c] = cur
	}
	for _, wr := range p.Writes {
		if wr.Op != instanceplan.Unchanged {
			d := wr.Desired.DeepCopy()
			if wr.Current != nil {
				d.Status = wr.Current.Status
				// As the controller writes: the Work's annotations, then the desired ones.
				merged := maps.Clone(wr.Current.Annotations)
				if merged == nil {
					merged = map[string]string{}
				}
				maps.Copy(merged, d.Annotations)
				d.Annotations = merged
			}
			works[wr.Cluster] = d
		}
	}
	if w.subject.Instance != nil {
		report := instanceplan.NewReport(rt, p.Failed, works)
		report.Held, report.HeldFor = p.Held, p.HeldFor
		w.status = instanceplan.Status(w.status, 1, report, w.now)
	}
	for _, d := range p.Delete {
		delete(works, d.Spec.Cluster)
	}
	// The world keeps the Works Route ignored (others', deleting ones).
	var next []fleetv1alpha1.Work
	for i := range w.works {
		if !w.subject.Owns(&w.works[i]) {
			next = append(next, w.works[i])
		}
	}
	clusters := make([]string, 0, len(works))
	for c := range works {
		clusters = append(clusters, c)
	}
	sort.Strings(clusters)
	for _, c := range clusters {
		next = append(next, *works[c])
	}
	w.works = next
	return rt, p, nil
}

// apply plays the agent: every Work of the subject applied and healthy at
// the revisions it names.
func (w *world) apply(clusters ...string) {
	for i := range w.works {
		wk := &w.works[i]
		if !w.subject.Owns(wk) || (len(clusters) > 0 && !slices.Contains(clusters, wk.Spec.Cluster)) {
			continue
		}
		wk.Generation = 1
		wk.Status = fleetv1alpha1.WorkStatus{ObservedGeneration: 1, AppliedRevision: wk.Spec.Revision,
			AppliedInstanceRevision: wk.Spec.InstanceRevision, Conditions: []metav1.Condition{
				{Type: fleetv1alpha1.ConditionApplied, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonApplied},
				{Type: fleetv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonHealthy},
			}}
	}
}

// hubWork is a Work the hub wrote for s on cluster.
func hubWork(s instanceplan.Subject, cluster, rev, instRev string) fleetv1alpha1.Work {
	ns, name := "", ""
	if s.Instance != nil {
		ns, name = s.Instance.Namespace, s.Instance.Name
	}
	return fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{
			Name: fleetv1alpha1.WorkName(s.Promise, ns, name), Namespace: fleetv1alpha1.ClusterNamespace(cluster),
			Labels: map[string]string{fleetv1alpha1.LabelManagedBy: fleetv1alpha1.ManagedByValue},
		},
		Spec: fleetv1alpha1.WorkSpec{Cluster: cluster, Subject: s.WorkSubject(), Revision: rev, InstanceRevision: instRev},
	}
}

// newRollout is a Rollout of subject's changes (instance: its own) from
// from to target, created at the nth second, with waves "name:c1,c2:T."
// (not started) or "name:c1,c2:T.:Baking" (started, in that phase).
func newRollout(s instanceplan.Subject, own bool, name, from, target string, phase fleetv1alpha1.RolloutPhase, nth int, waves ...string) (fleetv1alpha1.Rollout, error) {
	ro := fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.PlatformNamespace, Name: name,
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(nth) * time.Second))},
		Spec:   fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: s.Promise}, FromRevision: from, TargetRevision: target},
		Status: fleetv1alpha1.RolloutStatus{Phase: phase},
	}
	if own {
		ro.Namespace = s.Instance.Namespace
		ro.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: s.Instance.Name}
	}
	for _, wv := range waves {
		parts := strings.Split(wv, ":")
		if len(parts) != 3 && len(parts) != 4 {
			return ro, fmt.Errorf("wave %q: want name:c1,c2:marks[:phase]", wv)
		}
		if len(parts) == 3 {
			parts = append(parts, "")
		}
		clusters := strings.Split(parts[1], ",")
		if !slices.IsSorted(clusters) || (parts[2] != "" && len(parts[2]) != len(clusters)) {
			return ro, fmt.Errorf("wave %q: clusters must be sorted, one mark each", wv)
		}
		ws := fleetv1alpha1.WaveStatus{Name: parts[0], Clusters: clusters, Admitted: parts[2], Phase: fleetv1alpha1.WavePhasePending}
		if parts[3] != "" {
			// A wave with a phase has started.
			ws.Phase, ws.StartedAt = fleetv1alpha1.WavePhase(parts[3]), &metav1.Time{Time: epoch}
		}
		ro.Status.Waves = append(ro.Status.Waves, ws)
	}
	return ro, nil
}

// newCheck is a check for scenarios and fuzz cases: kind http (the agent's),
// job (the agent's), agent-metric (a query of the cluster's tier label,
// which a cluster without one cannot render) or hub-metric (the hub's).
func newCheck(name, kind string) (fleetv1alpha1.Check, error) {
	c := fleetv1alpha1.Check{Name: name, Condition: "true"}
	switch kind {
	case "http":
		c.HTTP = &fleetv1alpha1.HTTPCheck{URL: "http://127.0.0.1/healthz"}
	case "job":
		c.Job = &fleetv1alpha1.JobCheck{}
	case "agent-metric", "hub-metric":
		c.Metric = &fleetv1alpha1.MetricCheck{Address: "http://prometheus:9090", Query: `up{cluster="{{ .Cluster }}",tier="{{ .Labels.tier }}"}`}
		if kind == "agent-metric" {
			c.Metric.Placement = fleetv1alpha1.CheckOnAgent
		}
	default:
		return c, fmt.Errorf("check kind %q: want http, job, agent-metric or hub-metric", kind)
	}
	return c, nil
}
