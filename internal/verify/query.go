package verify

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// maxQueryLength bounds a rendered query.
const maxQueryLength = 256 << 10 // a whole-wave regex of 10,000 cluster names fits

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
	tpl, err := template.New("query").Option("missingkey=error").Funcs(template.FuncMap{
		"quote": promQuote,
		"regex": clusterRegex,
	}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("query template: %w", err)
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
func ParseQuery(text string) error {
	_, err := template.New("query").Option("missingkey=error").Funcs(template.FuncMap{
		"quote": promQuote,
		"regex": clusterRegex,
	}).Parse(text)
	if err != nil {
		return fmt.Errorf("query template: %w", err)
	}
	return nil
}
