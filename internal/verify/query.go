package verify

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
)

// maxQueryLength bounds a rendered query.
const maxQueryLength = 256 << 10 // a whole-wave regex of 10,000 cluster names fits

// maxQuerySteps bounds the steps of one query render: each iteration of a
// range and each template executed is one. A range over 10,000 clusters
// takes 10,001 (a helper template called for each, 20,001); a range over a
// number ({{ range 1000000000000 }}) or a template that calls itself twice
// would otherwise run for hours in the hub's reconcile, writing nothing for
// the length bound to stop.
const maxQuerySteps = 100_000

// errQuerySteps is the error of a query render past maxQuerySteps.
var errQuerySteps = fmt.Errorf("the query template takes more than %d steps (loop iterations and template calls)", maxQuerySteps)

// stepFunc is the function every range and template body calls first. A
// query cannot call it: it is added after parsing.
const stepFunc = "__flotillaQueryStep"

// QueryVars are what a metric query's template may use.
type QueryVars struct {
	// Cluster is the cluster measured; "" for a whole-wave query.
	Cluster string
	// Labels are that cluster's labels.
	Labels map[string]string
	// Clusters are the wave's admitted clusters, for a whole-wave query.
	Clusters []string
	// Wave is the wave's name.
	Wave string
	// Revision is the Rollout's target revision, FromRevision the one it
	// moves from.
	Revision, FromRevision string
	// Namespace and Instance name the instance whose own change a Rollout
	// moves, so that its query reads that instance's metrics, not every
	// team's on the cluster; both empty for a Promise's Rollout.
	Namespace, Instance string
}

// RenderQuery renders a metric query's template with vars. Values reach
// PromQL only through the template's functions: {{ .Cluster }} as is (names
// are DNS labels), {{ quote .Labels.region }} as a PromQL string literal, and
// {{ regex .Clusters }} as an anchored alternation for =~. A key the vars do
// not have is an error, not an empty string that would match everything.
func RenderQuery(text string, vars QueryVars) (string, error) {
	tpl, err := parseQuery(text)
	if err != nil {
		return "", err
	}
	steps := 0
	tpl.Funcs(template.FuncMap{stepFunc: func() (string, error) {
		if steps++; steps > maxQuerySteps {
			return "", errQuerySteps
		}
		return "", nil
	}})
	for _, t := range tpl.Templates() {
		countSteps(t.Tree)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&limitedWriter{w: &buf, n: maxQueryLength}, vars); err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	return buf.String(), nil
}

// promQuote is s as a PromQL double-quoted string literal.
func promQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clusterRegex is a quoted RE2 alternation matching exactly names.
func clusterRegex(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return promQuote("^(?:" + strings.Join(quoted, "|") + ")$")
}

// limitedWriter fails once more than n bytes are written.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.w.Len()+len(p) > l.n {
		return 0, fmt.Errorf("the rendered query is longer than %d bytes", l.n)
	}
	return l.w.Write(p)
}

// ParseQuery checks that text is a query template RenderQuery can run: it
// parses with the same functions. What the variables hold (a label a
// cluster lacks) can only fail at render time, for that cluster.
// A template that loops past the step bound with no cluster and no label
// (over a number, or calling itself) is refused here already.
func ParseQuery(text string) error {
	if _, err := parseQuery(text); err != nil {
		return err
	}
	if _, err := RenderQuery(text, QueryVars{Labels: map[string]string{}}); errors.Is(err, errQuerySteps) {
		return err
	}
	return nil
}

func parseQuery(text string) (*template.Template, error) {
	tpl, err := template.New("query").Option("missingkey=error").Funcs(template.FuncMap{
		"quote": promQuote,
		"regex": clusterRegex,
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("query template: %w", err)
	}
	return tpl, nil
}

// countSteps makes tree call stepFunc at the start of its body and of
// every range body in it.
func countSteps(tree *parse.Tree) {
	if tree == nil || tree.Root == nil {
		return
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
			if n.List != nil {
				n.List.Nodes = append([]parse.Node{stepNode(n.Pos)}, n.List.Nodes...)
			}
		}
	}
	walk(tree.Root)
	tree.Root.Nodes = append([]parse.Node{stepNode(tree.Root.Pos)}, tree.Root.Nodes...)
}

// stepNode is {{ __flotillaQueryStep }}.
func stepNode(pos parse.Pos) *parse.ActionNode {
	call := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(stepFunc).SetPos(pos)}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{call}}}
}
