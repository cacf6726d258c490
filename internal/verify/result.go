package verify

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Kind is what a check measures.
type Kind string

const (
	// KindMetric is a PromQL instant query; its result is the vector's values.
	KindMetric Kind = "Metric"
	// KindHTTP is a request to an endpoint; its result is the response.
	KindHTTP Kind = "HTTP"
	// KindJob is a test Job; its result is whether it succeeded.
	KindJob Kind = "Job"
)

// Sample is one element of a metric query's result.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// MetricResult is an instant query's result: a scalar is one sample without
// labels. Samples are in the order Prometheus returned them.
type MetricResult struct {
	Samples []Sample
	// Clusters are the clusters the measurement judges, the condition's
	// `clusters`: the one measured, or a whole-wave check's clusters in its
	// window.
	Clusters []string
}

// HTTPResult is an HTTP check's response.
type HTTPResult struct {
	Code    int
	Body    string
	Latency time.Duration
}

// JobResult is a test Job's outcome; LogTail is the end of its Pod's log.
type JobResult struct {
	Succeeded bool
	LogTail   string
}

// maxShown bounds how much of a result a measurement's Value keeps: it is
// shown in the Rollout's status and Events.
const maxShown = 200

// Describe is a short, printable form of a result, for a measurement's Value.
func Describe(result any) string {
	var s string
	switch r := result.(type) {
	case MetricResult:
		values := make([]string, len(r.Samples))
		for i, smp := range r.Samples {
			values[i] = strconv.FormatFloat(smp.Value, 'g', 6, 64)
		}
		s = "[" + strings.Join(values, ", ") + "]"
	case HTTPResult:
		s = fmt.Sprintf("HTTP %d in %s", r.Code, r.Latency.Round(time.Millisecond))
	case JobResult:
		s = "the Job failed"
		if r.Succeeded {
			s = "the Job succeeded"
		}
		if tail := strings.TrimSpace(r.LogTail); tail != "" {
			s += ": " + tail
		}
	default:
		s = fmt.Sprintf("%v", result)
	}
	return fleetv1alpha1.ClipMessage(s, maxShown)
}

// SplitBy groups a metric result's samples by the value of label (a
// grouped query's cluster label): one result per cluster, from one query.
// Samples without the label are left out.
func SplitBy(r MetricResult, label string) map[string]MetricResult {
	out := map[string]MetricResult{}
	for _, s := range r.Samples {
		v, ok := s.Labels[label]
		if !ok {
			continue
		}
		g := out[v]
		g.Samples = append(g.Samples, s)
		out[v] = g
	}
	return out
}

// DefaultClusterLabel is the label a whole-wave check's samples are taken
// to name their cluster by when the check names none.
const DefaultClusterLabel = "cluster"

// Uncovered is the clusters of r.Clusters that no sample of r names by
// label: those a per-cluster vector leaves out, as when a cluster's series
// stopped reaching the endpoint. With label "" the label is presumed
// (DefaultClusterLabel): a vector none of whose samples carries it is
// aggregated over the clusters (sum, max without cluster) and names none, so
// nothing is missing from it. A label the check names is required.
func Uncovered(r MetricResult, label string) []string {
	presumed := label == ""
	if presumed {
		label = DefaultClusterLabel
	}
	named := map[string]bool{}
	for _, s := range r.Samples {
		if v, ok := s.Labels[label]; ok {
			named[v] = true
		}
	}
	if presumed && len(named) == 0 {
		return nil
	}
	var missing []string
	for _, c := range r.Clusters {
		if !named[c] {
			missing = append(missing, c)
		}
	}
	return missing
}
