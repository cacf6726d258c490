package verify

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/common/types"
)

// maxConditionLength bounds a condition's source; the API enforces the same.
const maxConditionLength = 1024

// conditionCostLimit bounds one evaluation (CEL's cost units); a condition
// over a 10,000-sample vector stays well inside it.
const conditionCostLimit = 1_000_000

// maxJSONBody is the largest HTTP body the condition sees parsed as `json`.
const maxJSONBody = 64 << 10

// Condition is a check's compiled success condition: a CEL expression over
// `result` that is true when the measurement passes.
//
//   - Metric: result is the list of the vector's values (list(double)),
//     samples the list of {"labels": map(string, string), "value": double},
//     and clusters the names of the clusters judged (list(string): the one
//     measured, or a whole-wave check's clusters in its window healthy on
//     the target). Examples:
//     result.size() > 0 && result[0] < 0.05; clusters.all(c,
//     samples.exists(s, s.labels.cluster == c)).
//   - HTTP: result is {"code": int, "body": string, "latencySeconds":
//     double, "json": the body parsed as JSON, or null}. Example:
//     result.code == 200 && result.latencySeconds < 0.5.
//   - Job: result is {"succeeded": bool, "logTail": string}. Unset, a Job
//     check passes when the Job succeeded.
//
// A Condition may be judged concurrently. It is compiled with cel-go's
// parser, checker and interpreter, not its cel package (cel.go).
type Condition struct {
	kind    Kind
	source  string
	program *celProgram
}

// DefaultJobCondition is a Job check's condition when it declares none.
const DefaultJobCondition = "result.succeeded"

// Compile type-checks source as the condition of a check of kind.
func Compile(kind Kind, source string) (*Condition, error) {
	source = strings.TrimSpace(source)
	if source == "" && kind == KindJob {
		source = DefaultJobCondition
	}
	if source == "" {
		return nil, errors.New("a check needs a condition")
	}
	if len(source) > maxConditionLength {
		return nil, fmt.Errorf("the condition is %d bytes, more than %d", len(source), maxConditionLength)
	}
	var vars []*decls.VariableDecl
	switch kind {
	case KindMetric:
		vars = []*decls.VariableDecl{
			decls.NewVariable("result", types.NewListType(types.DoubleType)),
			decls.NewVariable("samples", types.NewListType(types.NewMapType(types.StringType, types.DynType))),
			decls.NewVariable("clusters", types.NewListType(types.StringType)),
		}
	case KindHTTP, KindJob:
		vars = []*decls.VariableDecl{decls.NewVariable("result", types.NewMapType(types.StringType, types.DynType))}
	default:
		return nil, fmt.Errorf("unknown check kind %q", kind)
	}
	prg, outType, err := compileCEL(source, vars, conditionCostLimit)
	switch {
	case outType == nil && err != nil:
		return nil, fmt.Errorf("condition %q: %w", source, err)
	case outType != types.BoolType && outType != types.DynType:
		return nil, fmt.Errorf("condition %q is %s, not bool", source, outType)
	case err != nil:
		return nil, fmt.Errorf("condition %q: %w", source, err)
	}
	return &Condition{kind: kind, source: source, program: prg}, nil
}

// String is the condition's source.
func (c *Condition) String() string { return c.source }

// Judge evaluates the condition over result (a MetricResult, HTTPResult or
// JobResult, matching the check's kind) and returns the measurement's outcome
// and printable value. No data, an evaluation error or a non-bool answer is
// Inconclusive: a check never passes on a result it could not judge.
func (c *Condition) Judge(result any) (Outcome, string, error) {
	vars, err := c.variables(result)
	if err != nil {
		return Inconclusive, "", err
	}
	shown := Describe(result)
	if m, ok := result.(MetricResult); ok && len(m.Samples) == 0 {
		return Inconclusive, shown, errors.New("the query returned no data")
	}
	out, err := c.program.Eval(vars)
	if err != nil {
		return Inconclusive, shown, fmt.Errorf("evaluating %q: %w", c.source, err)
	}
	pass, ok := out.(types.Bool)
	if !ok {
		return Inconclusive, shown, fmt.Errorf("condition %q returned %v, not a bool", c.source, out.Type())
	}
	if pass {
		return Passed, shown, nil
	}
	return Failed, shown, nil
}

// JudgeWave is Judge for a whole-wave check's result r, whose samples name
// their cluster by label ("": DefaultClusterLabel, if any sample carries
// it): a measurement that would pass while a cluster of r.Clusters has no
// sample is Inconclusive, naming it. A cluster missing from the vector was
// not measured (its series stopped, its scrape broke with the change), and
// a condition over the others says nothing of it; a failure stands, as it
// is true of the clusters measured.
func (c *Condition) JudgeWave(r MetricResult, label string) (Outcome, string, error) {
	outcome, shown, err := c.Judge(r)
	if outcome != Passed {
		return outcome, shown, err
	}
	missing := Uncovered(r, label)
	if len(missing) == 0 {
		return outcome, shown, err
	}
	label = cmp.Or(label, DefaultClusterLabel)
	names := strings.Join(missing[:min(len(missing), maxMissingShown)], ", ")
	if more := len(missing) - maxMissingShown; more > 0 {
		names += fmt.Sprintf(" and %d more", more)
	}
	return Inconclusive, shown, fmt.Errorf("the query returned no sample for %s (label %s): a cluster missing from the vector is not measured", names, label)
}

// maxMissingShown bounds the clusters JudgeWave names.
const maxMissingShown = 5

// variables are the CEL activation for result.
func (c *Condition) variables(result any) (map[string]any, error) {
	switch r := result.(type) {
	case MetricResult:
		if c.kind != KindMetric {
			break
		}
		values := make([]float64, len(r.Samples))
		samples := make([]map[string]any, len(r.Samples))
		for i, s := range r.Samples {
			values[i] = s.Value
			labels := s.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			samples[i] = map[string]any{"labels": labels, "value": s.Value}
		}
		clusters := r.Clusters
		if clusters == nil {
			clusters = []string{}
		}
		return map[string]any{"result": values, "samples": samples, "clusters": clusters}, nil
	case HTTPResult:
		if c.kind != KindHTTP {
			break
		}
		var parsed any
		if len(r.Body) <= maxJSONBody {
			if err := json.Unmarshal([]byte(r.Body), &parsed); err != nil {
				parsed = nil
			}
		}
		return map[string]any{"result": map[string]any{
			"code": int64(r.Code), "body": r.Body, "latencySeconds": r.Latency.Seconds(), "json": parsed,
		}}, nil
	case JobResult:
		if c.kind != KindJob {
			break
		}
		return map[string]any{"result": map[string]any{"succeeded": r.Succeeded, "logTail": r.LogTail}}, nil
	}
	return nil, fmt.Errorf("a %s check cannot judge a %T", c.kind, result)
}
