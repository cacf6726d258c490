package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A runbook is what TestRunDocs executes of a page. Three markers, each of
// which still renders as an ordinary block on GitHub (which reads only the
// first word of a fence's info string, and hides HTML comments):
//
//   - a fenced block whose info string is `sh run` is a script: it runs with
//     bash (set -eo pipefail) in the page's working directory, after every
//     block above it, and must exit 0;
//   - a fenced block whose info string is `text expect`, right after a run
//     block, is that block's expected output, checked loosely (see
//     expectMatcher);
//   - a line `<!-- file: NAME -->` right before a fenced block writes the
//     block's content to NAME in the working directory, as a reader saves a
//     manifest the page shows before applying it.
//
// Blocks without a marker are prose: shown, never run.

type stepKind int

const (
	stepRun stepKind = iota
	stepExpect
	stepFile
)

// step is one marked block of a page.
type step struct {
	kind stepKind
	line int    // 1-based line of the opening fence, for messages
	name string // stepFile: the file to write
	body string
}

var fileMarker = regexp.MustCompile(`^<!--\s*file:\s*(\S+)\s*-->$`)

// parseRunbook returns the marked blocks of doc in page order.
func parseRunbook(doc string) ([]step, error) {
	lines := strings.Split(doc, "\n")
	var steps []step
	pendingFile, pendingFileLine := "", 0
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if m := fileMarker.FindStringSubmatch(trimmed); m != nil {
			pendingFile, pendingFileLine = m[1], i+1
			continue
		}
		if !strings.HasPrefix(trimmed, "```") {
			if trimmed != "" && pendingFile != "" {
				return nil, fmt.Errorf("line %d: <!-- file: %s --> must come right before a fenced block", pendingFileLine, pendingFile)
			}
			continue
		}
		info := strings.Fields(strings.TrimPrefix(trimmed, "```"))
		start := i + 1
		var body []string
		closed := false
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == "```" {
				closed = true
				break
			}
			body = append(body, lines[i])
		}
		if !closed {
			return nil, fmt.Errorf("line %d: unclosed fenced block", start)
		}
		text := strings.Join(body, "\n") + "\n"
		runMarked := len(info) >= 2 && info[1] == "run"
		expectMarked := len(info) >= 2 && info[1] == "expect"
		switch {
		case pendingFile != "":
			if runMarked || expectMarked {
				return nil, fmt.Errorf("line %d: a file block cannot also be %s", start, info[1])
			}
			steps = append(steps, step{kind: stepFile, line: start, name: pendingFile, body: text})
			pendingFile = ""
		case runMarked:
			if info[0] != "sh" && info[0] != "bash" {
				return nil, fmt.Errorf("line %d: a run block is ```sh run, not ```%s", start, strings.Join(info, " "))
			}
			steps = append(steps, step{kind: stepRun, line: start, body: text})
		case expectMarked:
			if len(steps) == 0 || steps[len(steps)-1].kind != stepRun {
				return nil, fmt.Errorf("line %d: an expect block must follow a run block", start)
			}
			steps = append(steps, step{kind: stepExpect, line: start, body: text})
		case len(info) >= 2:
			return nil, fmt.Errorf("line %d: unknown block marker %q (want run or expect)", start, info[1])
		}
	}
	if pendingFile != "" {
		return nil, fmt.Errorf("line %d: <!-- file: %s --> is followed by no block", pendingFileLine, pendingFile)
	}
	return steps, nil
}

// Volatile fields of command output, which an expected line matches
// whatever their value: ages and durations (5s, 3m12s, 250ms), revision
// hashes (10 hex digits) and RFC 3339 times.
var volatile = []struct {
	re      *regexp.Regexp
	pattern string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`), `\S+`},
	{regexp.MustCompile(`\b[0-9a-f]{10}\b`), `[0-9a-f]{10}`},
	{regexp.MustCompile(`\b\d+(?:\.\d+)?(?:ms|s|m|h|d)(?:\d+(?:\.\d+)?(?:ms|s|m|h))*\b`), `(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+|<unknown>|<invalid>`},
}

var spaces = regexp.MustCompile(`\s+`)

// expectMatcher compiles an expected-output block. Each non-empty line of
// the block must match a line of the real output, in the block's order
// (other output lines may come between and around them). Lines compare
// with runs of blanks collapsed, so table columns may widen; `…` matches
// anything (a line `…` alone is not needed: unmatched output lines are
// ignored); volatile fields (ages, hashes, times) match any value of their
// kind.
func expectMatcher(block string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(spaces.ReplaceAllString(line, " "))
		if line == "" || line == "…" {
			continue
		}
		var b strings.Builder
		b.WriteString("^")
		// A … between blanks stands for nothing or for whole fields: the
		// blanks around it are not required twice.
		if rest, ok := strings.CutPrefix(line, "… "); ok {
			b.WriteString("(?:.* )?")
			line = rest
		}
		suffix := ""
		if rest, ok := strings.CutSuffix(line, " …"); ok {
			suffix, line = "(?: .*)?", rest
		}
		for i, fields := range strings.Split(line, " … ") {
			if i > 0 {
				b.WriteString("(?: .* | )")
			}
			for j, part := range strings.Split(fields, "…") {
				if j > 0 {
					b.WriteString(".*")
				}
				b.WriteString(literalPattern(part))
			}
		}
		b.WriteString(suffix + "$")
		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("expected line %q: %w", line, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// literalPattern quotes s, but lets its volatile fields match any value.
func literalPattern(s string) string {
	type span struct {
		from, to int
		pattern  string
	}
	var spans []span
	taken := make([]bool, len(s))
	for _, v := range volatile {
		for _, m := range v.re.FindAllStringIndex(s, -1) {
			free := true
			for j := m[0]; j < m[1]; j++ {
				free = free && !taken[j]
			}
			if !free {
				continue
			}
			for j := m[0]; j < m[1]; j++ {
				taken[j] = true
			}
			spans = append(spans, span{m[0], m[1], "(?:" + v.pattern + ")"})
		}
	}
	var b strings.Builder
	pos := 0
	for pos < len(s) {
		next := -1
		for k, sp := range spans {
			if sp.from == pos {
				next = k
			}
		}
		if next >= 0 {
			b.WriteString(spans[next].pattern)
			pos = spans[next].to
			continue
		}
		end := len(s)
		for _, sp := range spans {
			if sp.from > pos && sp.from < end {
				end = sp.from
			}
		}
		b.WriteString(regexp.QuoteMeta(s[pos:end]))
		pos = end
	}
	return b.String()
}

// matchExpected checks output against an expected block and returns what
// is missing: the first expected line with no matching output line after
// the previous match.
func matchExpected(block, output string) error {
	want, err := expectMatcher(block)
	if err != nil {
		return err
	}
	var got []string
	for _, l := range strings.Split(output, "\n") {
		got = append(got, strings.TrimSpace(spaces.ReplaceAllString(l, " ")))
	}
	pos := 0
	for _, re := range want {
		found := false
		for ; pos < len(got); pos++ {
			if re.MatchString(got[pos]) {
				found, pos = true, pos+1
				break
			}
		}
		if !found {
			return fmt.Errorf("no output line (after the previous match) matches %s", re)
		}
	}
	return nil
}

func TestParseRunbook(t *testing.T) {
	doc := "# A page\n\n```sh\nnot run\n```\n\n```sh run\necho hi\n```\n\n```text expect\nhi\n```\n\n" +
		"Save as `a.yaml`:\n\n<!-- file: a.yaml -->\n```yaml\nkind: X\n```\n\n```yaml\nnot a file\n```\n"
	steps, err := parseRunbook(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		{kind: stepRun, line: 7, body: "echo hi\n"},
		{kind: stepExpect, line: 11, body: "hi\n"},
		{kind: stepFile, line: 18, name: "a.yaml", body: "kind: X\n"},
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("parsed %+v\nwant   %+v", steps, want)
	}
	for _, bad := range []string{
		"```text expect\nx\n```\n",                    // no run block before
		"```sh run\nx\n",                              // unclosed
		"```sh runn\nx\n```\n",                        // unknown marker
		"```yaml run\nx\n```\n",                       // not a shell
		"<!-- file: a.yaml -->\ntext\n```yaml\n```\n", // marker not right before
		"<!-- file: a.yaml -->\n",                     // no block
	} {
		if _, err := parseRunbook(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

func TestMatchExpected(t *testing.T) {
	output := `NAME        PHASE       WAVE      PROGRESS   AGE
web-2       Succeeded   general   100        3m12s
web-3       RolledBack  canary    40         45s
revision web-5e6f7a8b9c applied at 2026-12-05T12:00:01Z
fleet frozen by admin (FleetFreeze fleet-freeze, action Halt): no Rollout admits any cluster
`
	for _, tc := range []struct {
		expected string
		ok       bool
	}{
		{"NAME PHASE WAVE PROGRESS AGE\nweb-2 Succeeded general 100 1m\nweb-3 RolledBack canary 40 10s\n", true},
		{"web-3   RolledBack   canary   40   2h\n", true},                   // columns and ages are loose
		{"revision web-0a1b2c3d4e applied at 2031-01-01T00:00:00Z\n", true}, // hashes and times too
		{"fleet frozen by … (FleetFreeze fleet-freeze, action Halt): …\n", true},
		{"web-3 RolledBack canary 40 10s\nweb-2 Succeeded general 100 1m\n", false}, // order matters
		{"web-2 Failed general 100 1m\n", false},
		{"web-2 Succeeded\n", false}, // a whole line, unless … says otherwise
		{"web-2 Succeeded …\n", true},
		{"web-3 RolledBack canary 40 45s …\n", true}, // … may stand for nothing
		{"… web-3 RolledBack …\n", true},
		{"web-3 … 45s\n", true},
		{"web-3 … canary … 45s\n", true},
		{"… RolledBack\n", false},
		{"fleet frozen by alice (FleetFreeze fleet-freeze, action Halt): …\n", false},
	} {
		err := matchExpected(tc.expected, output)
		if (err == nil) != tc.ok {
			t.Errorf("expected block %q: err=%v, want ok=%v", tc.expected, err, tc.ok)
		}
	}
}

// TestRunBlockCarriesShellState checks what a reader's shell does between
// blocks: exports and the working directory carry over; a failing command
// fails its block.
func TestRunBlockCarriesShellState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	environ := os.Environ()
	if out, err := runBlock(dir, environ, state, "export GREETING='hello there'\nmkdir sub && cd sub\n"); err != nil {
		t.Fatalf("first block: %v\n%s", err, out)
	}
	out, err := runBlock(dir, environ, state, "echo \"$GREETING from $(basename \"$PWD\")\"\n")
	if err != nil || out != "hello there from sub\n" {
		t.Errorf("second block: %q, %v", out, err)
	}
	if out, err := runBlock(dir, environ, state, "false\necho not reached\n"); err == nil || strings.Contains(out, "not reached") {
		t.Errorf("a failing command did not fail its block: %q, %v", out, err)
	}
	if _, err := runBlock(dir, environ, state, "false | true\n"); err == nil {
		t.Error("a pipeline with a failing command passed: pipefail is off")
	}
}
