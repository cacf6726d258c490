package verify

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
)

// celGoCompile is what Compile did with cel-go's cel package, which the
// agent build no longer links (cel.go): the reference the conditions are
// compared against.
func celGoCompile(kind Kind, source string) (cel.Program, error) {
	var vars []cel.EnvOption
	switch kind {
	case KindMetric:
		vars = []cel.EnvOption{
			cel.Variable("result", cel.ListType(cel.DoubleType)),
			cel.Variable("samples", cel.ListType(cel.MapType(cel.StringType, cel.DynType))),
		}
	default:
		vars = []cel.EnvOption{cel.Variable("result", cel.MapType(cel.StringType, cel.DynType))}
	}
	env, err := cel.NewEnv(vars...)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(source)
	if iss.Err() != nil {
		return nil, fmt.Errorf("condition %q: %w", source, iss.Err())
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("condition %q is %s, not bool", source, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(conditionCostLimit))
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", source, err)
	}
	return prg, nil
}

// Compile accepts, refuses and evaluates every condition as cel-go's cel
// package does: the same errors, the same results, the same evaluation
// errors (including the cost limit).
func TestCompileMatchesCelGo(t *testing.T) {
	metric := func(values ...float64) MetricResult {
		r := MetricResult{}
		for i, v := range values {
			r.Samples = append(r.Samples, Sample{Labels: map[string]string{"cluster": fmt.Sprintf("c%d", i)}, Value: v})
		}
		return r
	}
	big := MetricResult{}
	for range 1000 {
		big.Samples = append(big.Samples, Sample{Value: 1})
	}
	results := map[Kind][]any{
		KindMetric: {metric(0.01), metric(0.31, 0.02), metric(nan()), metric(1, 2, 3), big},
		KindHTTP: {
			HTTPResult{Code: 200, Body: `{"status":"green","n":3,"list":[1,2]}`, Latency: 20 * time.Millisecond},
			HTTPResult{Code: 503, Body: "unavailable", Latency: 2 * time.Second},
			HTTPResult{Code: 200, Body: `<html>`},
		},
		KindJob: {JobResult{Succeeded: true, LogTail: "ok"}, JobResult{LogTail: "WARN: slow\nFAIL"}},
	}
	conditions := map[Kind][]string{
		KindMetric: {
			"result[0] < 0.05", "result.size() > 0 && result[0] < 0.05", "result.all(v, v < 0.05)",
			"result.exists(v, v > 1.0)", "result.exists_one(v, v == 2.0)", "result.map(v, v * 2.0).all(v, v < 1.0)",
			"result.filter(v, v > 0.1).size() == 0", `samples.exists(s, s.labels.cluster == "c0" && s.value < 1.0)`,
			`has(samples[0].labels.cluster)`, "result[1] < 0.05", "result[0] < 1", "int(result[0]) == 0",
			"result[0] != result[0]", "math.greatest(1, 2) == 2", "result[0] / 0.0 > 1.0", "1 / 0 == 0",
			"result.all(a, result.all(b, result.all(c, a + b + c >= 0.0)))", `"abc".matches("^a") && size(result) >= 1`,
			`duration("1s") < duration("2s")`, `timestamp("2026-01-01T00:00:00Z") < timestamp("2027-01-01T00:00:00Z")`,
			"dyn(result[0]) < 0.05", "type(result[0]) == double", "[1, 2].existsOne(x, x == 1)",
			"result[0]", "result +", "nosuch < 1.0", "result[0] < 0.05 ? true : false", "samples[0].value",
			"samples[0].labels.cluster", `samples[0].labels["nosuch"] == "x"`, "result.size() == 1u",
		},
		KindHTTP: {
			"result.code == 200 && result.latencySeconds < 0.5", `result.body.contains("ok")`,
			`result.json.status == "green"`, `result.json.n == 3.0`, `result.json.list.size() == 2`,
			`has(result.json.status)`, `result.code in [200, 204]`, `result.body.startsWith("{")`,
			"result.code", `result.nosuch == 1`, `result.code == "200"`, `result.body.size() < 100`,
		},
		KindJob: {
			"result.succeeded", `result.succeeded && !result.logTail.contains("WARN")`,
			`result.logTail.endsWith("FAIL")`, "result.logTail", "result.succeeded == 1",
		},
	}
	for kind, sources := range conditions {
		for _, source := range sources {
			want, wantErr := celGoCompile(kind, source)
			got, gotErr := Compile(kind, source)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s %q: Compile error\n  %v\nwant\n  %v", kind, source, gotErr, wantErr)
				continue
			}
			if wantErr != nil {
				continue
			}
			for _, result := range results[kind] {
				vars, err := got.variables(result)
				if err != nil {
					t.Fatal(err)
				}
				wantOut, _, wantErr := want.Eval(vars)
				gotOut, gotErr := got.program.Eval(vars)
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Errorf("%s %q over %s: error %v, want %v", kind, source, Describe(result), gotErr, wantErr)
				}
				if wantErr == nil && (fmt.Sprint(gotOut) != fmt.Sprint(wantOut) || gotOut.Type() != wantOut.Type()) {
					t.Errorf("%s %q over %s: %v, want %v", kind, source, Describe(result), gotOut, wantOut)
				}
			}
		}
	}
}

// A compiled condition is judged by concurrent measurements (the agent
// keeps one per check and measures a Work's checks in parallel).
func TestConditionJudgedConcurrently(t *testing.T) {
	c, err := Compile(KindMetric, "result.all(v, v < 0.05)")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				v := 0.01 * float64(i)
				want := Passed
				if v >= 0.05 {
					want = Failed
				}
				if got, _, err := c.Judge(MetricResult{Samples: []Sample{{Value: v}}}); got != want || err != nil {
					t.Errorf("%v: %s, %v; want %s", v, got, err, want)
				}
			}
		})
	}
	wg.Wait()
}
