package measure

import (
	"context"
	"time"

	"github.com/flotilla-dev/flotilla/internal/verify"
)

// Metric takes one measurement of a metric check: it runs query on prom at
// now and judges the result with cond, clusters being the clusters judged
// (the condition's `clusters`). An error reaching or asking the endpoint is
// an Inconclusive measurement that says why.
func Metric(ctx context.Context, prom *Prometheus, cond *verify.Condition, query string, clusters []string, now time.Time) verify.Measurement {
	result, err := prom.Query(ctx, query, now)
	if err != nil {
		return verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
	}
	result.Clusters = clusters
	return judge(cond, result, now)
}

// MetricWave takes one measurement of a whole-wave check over clusters, as
// Metric, judged by cond.JudgeWave: a vector whose samples name clusters by
// label must name each of them to pass.
func MetricWave(ctx context.Context, prom *Prometheus, cond *verify.Condition, query, label string, clusters []string, now time.Time) verify.Measurement {
	result, err := prom.Query(ctx, query, now)
	if err != nil {
		return verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
	}
	result.Clusters = clusters
	outcome, value, err := cond.JudgeWave(result, label)
	m := verify.Measurement{At: now, Outcome: outcome, Value: value}
	if err != nil {
		m.Message = err.Error()
	}
	return m
}

// HTTP takes one measurement of an HTTP check.
func HTTP(ctx context.Context, check *HTTPCheck, cond *verify.Condition, now time.Time) verify.Measurement {
	result, err := check.Do(ctx)
	if err != nil {
		return verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
	}
	return judge(cond, result, now)
}

func judge(cond *verify.Condition, result any, now time.Time) verify.Measurement {
	outcome, value, err := cond.Judge(result)
	m := verify.Measurement{At: now, Outcome: outcome, Value: value}
	if err != nil {
		m.Message = err.Error()
	}
	return m
}

// MetricEach measures one query per cluster (queries[i] for clusters[i])
// with at most parallel queries in flight, all judged at now: a wave's
// per-cluster checks in one pass.
func MetricEach(ctx context.Context, prom *Prometheus, cond *verify.Condition, queries, clusters []string, now time.Time, parallel int) []verify.Measurement {
	out := make([]verify.Measurement, len(queries))
	next := make(chan int)
	done := make(chan struct{})
	parallel = max(1, min(parallel, len(queries)))
	for range parallel {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range next {
				out[i] = Metric(ctx, prom, cond, queries[i], clusters[i:i+1], now)
			}
		}()
	}
	for i := range queries {
		next <- i
	}
	close(next)
	for range parallel {
		<-done
	}
	return out
}

// Job takes one measurement of a test Job check: it runs the Job and judges
// its result with cond.
func Job(ctx context.Context, check *JobCheck, cond *verify.Condition, now time.Time) verify.Measurement {
	result, err := check.Run(ctx)
	if err != nil {
		return verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
	}
	return judge(cond, result, now)
}

// MetricByCluster takes one grouped query for a wave's clusters (a query
// that returns a sample per cluster, labelled label) and judges each
// cluster's samples as its own result: per-cluster verdicts from one
// query. A cluster without a sample is Inconclusive (no data for it), and
// an error reaching the endpoint makes every cluster Inconclusive.
func MetricByCluster(ctx context.Context, prom *Prometheus, cond *verify.Condition, query, label string, clusters []string, now time.Time) []verify.Measurement {
	out := make([]verify.Measurement, len(clusters))
	result, err := prom.Query(ctx, query, now)
	if err != nil {
		for i := range out {
			out[i] = verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: err.Error()}
		}
		return out
	}
	groups := verify.SplitBy(result, label)
	for i, c := range clusters {
		g, ok := groups[c]
		if !ok {
			out[i] = verify.Measurement{At: now, Outcome: verify.Inconclusive, Message: "the query returned no sample with " + label + "=" + c}
			continue
		}
		g.Clusters = []string{c}
		out[i] = judge(cond, g, now)
	}
	return out
}
