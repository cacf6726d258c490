package render

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/sprig/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// helmRenderTimeout is the backstop for what the bounds cannot catch in a
// chart (costly functions such as genPrivateKey called in a loop): after it
// the render fails and frees the hub's worker. Helm's engine cannot be
// interrupted: its goroutine runs on until its next step or bounded function
// (budget.stopped), one costly call at most (see docs/templates.md). A
// variable for tests.
var helmRenderTimeout = 10 * time.Second

// sprigFuncs are Sprig's functions, which Helm's engine starts from; helmFuncs
// wraps some of them. Read only.
var sprigFuncs = sync.OnceValue(func() template.FuncMap { return sprig.TxtFuncMap() })

// helmFuncs replaces the functions of Helm's engine that can build huge lists
// or strings from small arguments with versions that refuse, before building
// it, a result over the bounds of Go templates (maxSteps items, maxOutput
// bytes, maxFuncBytes in all); each call also counts as a step. The results
// are otherwise Sprig's.
func helmFuncs(b *budget) template.FuncMap {
	sp := sprigFuncs()
	fm := template.FuncMap{tickFunc: b.tick}
	b.builtins(fm)
	listBound := func(fn string, n int) error {
		if _, err := b.tick(); err != nil {
			return err
		}
		if n > maxSteps || n < 0 {
			return fmt.Errorf("%s: a list of more than %d items: %w", fn, maxSteps, ErrBudgetExceeded)
		}
		return nil
	}
	strBound := func(fn string, n int) error {
		if _, err := b.tick(); err != nil {
			return err
		}
		if n < 0 {
			n = maxOutput + 1
		}
		return b.check(fn, n)
	}
	until := sp["until"].(func(int) []int)
	fm["until"] = func(count int) ([]int, error) {
		if err := listBound("until", absInt(count)); err != nil {
			return nil, err
		}
		return until(count), nil
	}
	untilStep := sp["untilStep"].(func(int, int, int) []int)
	fm["untilStep"] = func(start, stop, step int) ([]int, error) {
		n := 0
		if step != 0 {
			n = absInt(stop-start) / absInt(step)
		}
		if err := listBound("untilStep", n); err != nil {
			return nil, err
		}
		return untilStep(start, stop, step), nil
	}
	seq := sp["seq"].(func(...int) string)
	fm["seq"] = func(params ...int) (string, error) {
		n := 0
		if len(params) == 3 && params[1] != 0 {
			n = absInt(params[2]-params[0]) / absInt(params[1])
		} else {
			for _, p := range params {
				n += absInt(p)
			}
		}
		if err := listBound("seq", n); err != nil {
			return "", err
		}
		return b.out("seq", seq(params...))
	}
	repeat := sp["repeat"].(func(int, string) string)
	fm["repeat"] = func(count int, str string) (string, error) {
		if err := strBound("repeat", mulBound(count, len(str))); err != nil {
			return "", err
		}
		return b.out("repeat", repeat(count, str))
	}
	for _, name := range []string{"indent", "nindent"} {
		f := sp[name].(func(int, string) string)
		fm[name] = func(spaces int, v string) (string, error) {
			if err := strBound(name, len(v)+1+mulBound(strings.Count(v, "\n")+1, max(spaces, 0))); err != nil {
				return "", err
			}
			return b.out(name, f(spaces, v))
		}
	}
	replace := sp["replace"].(func(string, string, string) string)
	fm["replace"] = func(old, new, src string) (string, error) {
		n := strings.Count(src, old)
		if old == "" {
			n = utf8.RuneCountInString(src) + 1
		}
		if err := strBound("replace", len(src)+mulBound(n, len(new))); err != nil {
			return "", err
		}
		return b.out("replace", replace(old, new, src))
	}
	join := sp["join"].(func(string, any) string)
	fm["join"] = func(sep string, v any) (string, error) {
		n := 0
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			n = rv.Len()
		}
		if err := strBound("join", mulBound(n, len(sep))); err != nil {
			return "", err
		}
		return b.out("join", join(sep, v))
	}
	// Functions whose result can be a multiple of their arguments: checked
	// after they are built (at most a few times maxOutput), so that doubling
	// a string in a loop stops at maxOutput and maxFuncBytes.
	for _, name := range []string{"cat", "quote", "squote"} {
		f := sp[name].(func(...any) string)
		fm[name] = func(args ...any) (string, error) {
			if err := strBound(name, argsSize(args)); err != nil {
				return "", err
			}
			return b.out(name, f(args...))
		}
	}
	for _, name := range []string{"b64enc", "b32enc"} {
		f := sp[name].(func(string) string)
		fm[name] = func(v string) (string, error) {
			if err := strBound(name, len(v)); err != nil {
				return "", err
			}
			return b.out(name, f(v))
		}
	}
	for _, name := range []string{"toPrettyJson", "toRawJson"} {
		f := sp[name].(func(any) string)
		fm[name] = func(v any) (string, error) {
			if _, err := b.tick(); err != nil {
				return "", err
			}
			return b.out(name, f(v))
		}
	}
	wrapWith := sp["wrapWith"].(func(int, string, string) string)
	fm["wrapWith"] = func(l int, sep, str string) (string, error) {
		if err := strBound("wrapWith", len(str)+mulBound(len(str)/max(l, 1)+1, len(sep))); err != nil {
			return "", err
		}
		return b.out("wrapWith", wrapWith(l, sep, str))
	}
	for _, name := range []string{"regexReplaceAll", "regexReplaceAllLiteral"} {
		f := sp[name].(func(string, string, string) string)
		expand := name == "regexReplaceAll"
		fm[name] = func(regex, s, repl string) (string, error) {
			if err := strBound(name, replaceAllBound(s, repl, expand)); err != nil {
				return "", err
			}
			return b.out(name, f(regex, s, repl))
		}
	}
	for _, name := range []string{"mustRegexReplaceAll", "mustRegexReplaceAllLiteral"} {
		f := sp[name].(func(string, string, string) (string, error))
		expand := name == "mustRegexReplaceAll"
		fm[name] = func(regex, s, repl string) (string, error) {
			if err := strBound(name, replaceAllBound(s, repl, expand)); err != nil {
				return "", err
			}
			r, err := f(regex, s, repl)
			if err != nil {
				return "", err
			}
			return b.out(name, r)
		}
	}
	repeatable(fm, sp)
	// What the templates write (see tickTemplate), in all.
	fm[textFunc] = func(n int) (string, error) { return "", b.write(n) }
	fm[outFunc] = func(v any) (any, error) {
		n := 0
		switch v := v.(type) {
		case nil:
		case string:
			n = len(v)
		default:
			n = len(fmt.Sprint(v))
		}
		return v, b.write(n)
	}
	// The text a chart gives tpl (an instance's value, in Bitnami's charts) is
	// a template too: ticked like the chart's own, its loops count steps.
	fm[tplTextFunc] = func(text string) (string, error) {
		if err := checkTplText(text); err != nil {
			return "", err
		}
		return b.out("tpl", tickTemplate(text))
	}
	return fm
}

func absInt(n int) int {
	if n < 0 {
		if -n < 0 { // the smallest int
			return int(^uint(0) >> 1)
		}
		return -n
	}
	return n
}

// replaceAllBound is at least the size of s with every match of a regular
// expression replaced by repl: at most len(s)+1 matches, each replaced by
// repl with its $ references expanded (when expand), each reference at most
// the match's length, and the matches do not overlap.
func replaceAllBound(s, repl string, expand bool) int {
	refs := 0
	if expand {
		refs = strings.Count(repl, "$")
	}
	return len(s) + mulBound(len(s)+1, len(repl)) + mulBound(refs, len(s))
}

// mulBound is a*b for sizes, saturating instead of overflowing.
func mulBound(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	if a != 0 && b > (maxOutput+1)/a {
		return maxOutput + 1
	}
	return a * b
}

// tickChart makes every template of a chart (and of its subcharts) call
// tickFunc at its start and at the start of every range, define and block
// body, as rewriteTicks does for Go templates: Helm's engine parses the
// templates itself, so the call is inserted into their source. The inserted
// actions hold no line break, so line numbers in errors stay right (columns
// after an insertion on the same line move).
func tickChart(c *chart.Chart) {
	files := make([]*common.File, len(c.Templates))
	for i, f := range c.Templates {
		files[i] = &common.File{Name: f.Name, Data: []byte(tickTemplate(string(f.Data))), ModTime: f.ModTime}
	}
	c.Templates = files
	for _, d := range c.Dependencies() {
		tickChart(d)
	}
}

// tplTextFunc is the function the text of every tpl call of a chart goes
// through (see boundTplCalls). Charts cannot call it by this name: Helm's
// engine has no function of it until helmFuncs adds it, and a chart that did
// would only tick its own text.
const tplTextFunc = "__flotillaTplText"

// tplAllowed are the functions a text run through tpl may call: those that
// read, compare, convert and format values. The text is, in Bitnami's charts,
// an instance's value, so what it may do is listed rather than what it may
// not: a list of refusals missed now (a team's value that reads the date can
// change what a revision renders without a Rollout), and would miss whatever
// the next Sprig or Helm adds. Left out: the functions that build lists or
// maps or change them in place (a few steps make a cycle whose printing
// overflows the hub's stack, a fatal error of the Go runtime, or a structure
// doubled at each step), costly ones (keys, certificates, bcrypt, scrypt),
// those whose result is not fixed by their arguments (notRepeatable), and
// those that reach outside the render (lookup, getHostByName, env). A
// chart's own templates may call any of Helm's (the platform's code is
// trusted) but notRepeatable.
var tplAllowed = setOf(
	// text/template's own
	"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
	"print", "printf", "println", "html", "js", "urlquery",
	// Helm's
	"include", "tpl", "required", "fail", "toYaml", "mustToYaml", "toYamlPretty", "toJson", "mustToJson", "toToml",
	// strings
	"abbrev", "abbrevboth", "b32dec", "b32enc", "b64dec", "b64enc", "cat", "camelcase", "contains",
	"hasPrefix", "hasSuffix", "indent", "nindent", "initials", "kebabcase", "lower", "nospace", "plural",
	"quote", "squote", "repeat", "replace", "snakecase", "substr", "swapcase", "title", "toString", "trim",
	"trimAll", "trimall", "trimPrefix", "trimSuffix", "trunc", "untitle", "upper", "wrap", "wrapWith", "join",
	"regexMatch", "mustRegexMatch", "regexFind", "mustRegexFind", "regexQuoteMeta", "regexReplaceAll",
	"regexReplaceAllLiteral", "mustRegexReplaceAll", "mustRegexReplaceAllLiteral",
	"sha1sum", "sha256sum", "sha512sum", "adler32sum", "toPrettyJson", "toRawJson", "mustToPrettyJson", "mustToRawJson",
	// defaults and logic
	"default", "empty", "coalesce", "ternary", "all", "any", "deepEqual",
	// numbers
	"atoi", "int", "int64", "float64", "toDecimal", "add", "add1", "sub", "mul", "div", "mod", "max", "min",
	"biggest", "floor", "ceil", "round", "addf", "add1f", "subf", "mulf", "divf", "maxf", "minf",
	"until", "untilStep", "seq",
	// reading data
	"dig", "get", "hasKey", "has", "mustHas", "first", "mustFirst", "last", "mustLast",
	"typeOf", "typeIs", "typeIsLike", "kindOf", "kindIs",
	// dates given, paths, versions
	"date", "dateInZone", "date_in_zone", "dateModify", "date_modify", "mustDateModify", "must_date_modify",
	"duration", "durationRound", "htmlDate", "htmlDateInZone", "toDate", "mustToDate", "unixEpoch",
	"base", "dir", "ext", "clean", "isAbs", "semver", "semverCompare",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// checkTplText refuses a text for tpl that calls a function tplAllowed does
// not list. A text that does not parse is left for Helm to report.
func checkTplText(text string) error {
	t := parse.New("tpl")
	t.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return nil
	}
	for _, tree := range trees {
		switch fn := callNotAllowed(tree.Root); {
		case fn == "":
		case slices.Contains(notRepeatable, fn):
			return fmt.Errorf("a text run through tpl (in most charts, a value of the instance) may not call %s, which gives another result at every render: %w",
				fn, ErrNotRepeatable)
		default:
			return fmt.Errorf("a text run through tpl (in most charts, a value of the instance) may call only functions that read, compare and format values, not %s: %w",
				fn, ErrBudgetExceeded)
		}
	}
	return nil
}

// callNotAllowed returns the first function n calls that tplAllowed does
// not list.
func callNotAllowed(n parse.Node) string {
	var found string
	visit := func(nodes ...parse.Node) {
		for _, c := range nodes {
			if found == "" {
				found = callNotAllowed(c)
			}
		}
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			visit(n.Nodes...)
		}
	case *parse.ActionNode:
		visit(n.Pipe)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				visit(c)
			}
		}
	case *parse.CommandNode:
		visit(n.Args...)
	case *parse.ChainNode:
		visit(n.Node)
	case *parse.IdentifierNode:
		if !tplAllowed[n.Ident] {
			return n.Ident
		}
	case *parse.IfNode:
		visit(n.Pipe, n.List, n.ElseList)
	case *parse.RangeNode:
		visit(n.Pipe, n.List, n.ElseList)
	case *parse.WithNode:
		visit(n.Pipe, n.List, n.ElseList)
	case *parse.TemplateNode:
		visit(n.Pipe)
	}
	return found
}

// boundTplCalls rewrites each `tpl X` in one action as `tpl (tplTextFunc X)`,
// so that the text tpl runs is ticked as the chart's templates are: without
// it a value given to tpl loops for ever on the hub (the render's time limit
// frees the worker, not the goroutine). Line breaks are kept.
func boundTplCalls(action string) string {
	type insertion struct {
		at   int
		text string
	}
	var ins []insertion
	for p := 0; p < len(action); {
		switch c := action[p]; {
		case c == '"' || c == '\'' || c == '`':
			p = skipLiteral(action, p)
		case strings.HasPrefix(action[p:], "/*"):
			k := strings.Index(action[p+2:], "*/")
			if k < 0 {
				return action
			}
			p += 2 + k + 2
		case isTplCall(action, p):
			arg := p + len("tpl")
			for arg < len(action) && isTemplateSpace(action[arg]) {
				arg++
			}
			if end := operandEnd(action, arg); end > arg {
				ins = append(ins, insertion{arg, "(" + tplTextFunc + " "}, insertion{end, ")"})
			}
			p = arg // a tpl inside the operand is rewritten too
		default:
			p++
		}
	}
	if len(ins) == 0 {
		return action
	}
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].at < ins[j].at })
	var b strings.Builder
	last := 0
	for _, in := range ins {
		b.WriteString(action[last:in.at])
		b.WriteString(in.text)
		last = in.at
	}
	b.WriteString(action[last:])
	return b.String()
}

// isTplCall tells whether the word at s[p:] is the function tpl followed by
// an argument (not a field such as .Values.tpl, nor a variable $tpl).
func isTplCall(s string, p int) bool {
	if !strings.HasPrefix(s[p:], "tpl") || p == 0 || p+3 >= len(s) || !isTemplateSpace(s[p+3]) {
		return false
	}
	return isTemplateSpace(s[p-1]) || strings.ContainsRune("({|", rune(s[p-1]))
}

// operandEnd is the end of the operand starting at s[p:]: a parenthesised
// pipeline (with any field chain after it), a literal, or a word; p when
// there is none.
func operandEnd(s string, p int) int {
	if p >= len(s) || strings.ContainsRune(")|}", rune(s[p])) || strings.HasPrefix(s[p:], "-}}") {
		return p
	}
	depth := 0
	for p < len(s) {
		switch c := s[p]; {
		case c == '"' || c == '\'' || c == '`':
			p = skipLiteral(s, p)
			continue
		case c == '(':
			depth++
		case c == ')':
			if depth == 0 {
				return p
			}
			depth--
		case depth == 0 && (isTemplateSpace(c) || c == '|' || strings.HasPrefix(s[p:], "}}")):
			return p
		}
		p++
	}
	return p
}

// skipLiteral is the offset after the string, raw string or character
// literal starting at s[p].
func skipLiteral(s string, p int) int {
	q := s[p]
	p++
	for p < len(s) && s[p] != q {
		if s[p] == '\\' && q != '`' {
			p++
		}
		p++
	}
	return min(p+1, len(s))
}

// tickTemplate inserts the tick actions into one template's source. Source it
// cannot scan is left as is from there on, for Helm to report.
//
// It also counts what the template writes, which Helm's engine does not
// bound: each piece of text is preceded by {{__flotillaText N}} (its size)
// and each action that prints gets "| __flotillaOut" (which counts the value
// it prints); otherwise a loop printing an 8 MiB string 100,000 times built
// 800 GB in the hub's memory.
func tickTemplate(src string) string {
	var b strings.Builder
	b.Grow(len(src) + 64)
	b.WriteString("{{" + tickFunc + "}}")
	i := 0
	// trimmed: the last action trims the text after it; emptyBody: that
	// text is the body of an empty definition, which must stay empty.
	trimmed, emptyBody := false, false
	for {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			j = len(src) - i
		}
		if emptyBody {
			b.WriteString(src[i : i+j])
		} else {
			writeCountedText(&b, src[i:i+j], trimmed)
		}
		i += j
		if i == len(src) {
			return b.String()
		}
		end, keyword, trimRight, ok := scanAction(src, i)
		if !ok {
			b.WriteString(src[i:])
			return b.String()
		}
		action := boundTplCalls(src[i:end])
		if printsValue(action, keyword) {
			action = countPrinted(action, trimRight)
		}
		b.WriteString(action)
		i = end
		trimmed, emptyBody = trimRight, false
		switch keyword {
		case "define", "block":
			// An empty definition must stay empty: text/template keeps an
			// earlier non-empty one of the same name over it. Its text is
			// not counted: it is at most maxEmptyBody bytes.
			if k := strings.Index(src[end:], "{{"); k >= 0 && k <= maxEmptyBody && strings.TrimSpace(src[end:end+k]) == "" {
				if _, next, _, ok := scanAction(src, end+k); ok && next == "end" {
					emptyBody = true
					continue
				}
			}
		case "range":
		default:
			continue
		}
		if trimRight {
			b.WriteString("{{" + tickFunc + " -}}")
		} else {
			b.WriteString("{{" + tickFunc + "}}")
		}
	}
}

// Functions the rewritten templates call to count what they write (see
// tickTemplate), and the bound of an empty definition's body left uncounted.
const (
	textFunc     = "__flotillaText"
	outFunc      = "__flotillaOut"
	maxEmptyBody = 64
)

// writeCountedText writes text preceded by the action that counts it; trimmed
// keeps the trim of the action before it.
func writeCountedText(b *strings.Builder, text string, trimmed bool) {
	if text == "" {
		return
	}
	b.WriteString("{{" + textFunc + " " + strconv.Itoa(len(text)))
	if trimmed {
		b.WriteString(" -")
	}
	b.WriteString("}}")
	b.WriteString(text)
}

// templateKeywords are the actions that print nothing themselves (template
// prints a definition, whose body counts itself).
var templateKeywords = map[string]bool{
	"if": true, "else": true, "end": true, "range": true, "with": true, "define": true,
	"block": true, "template": true, "break": true, "continue": true,
}

// printsValue tells whether an action prints its pipeline's value: not a
// comment, a keyword, nor a variable declaration or assignment.
func printsValue(action, keyword string) bool {
	if templateKeywords[keyword] {
		return false
	}
	p := 2
	if strings.HasPrefix(action[p:], "- ") || strings.HasPrefix(action[p:], "-\t") || strings.HasPrefix(action[p:], "-\n") || strings.HasPrefix(action[p:], "-\r") {
		p += 2
	}
	for p < len(action) && isTemplateSpace(action[p]) {
		p++
	}
	rest := action[p:]
	if strings.HasPrefix(rest, "/*") {
		return false
	}
	if strings.HasPrefix(rest, "$") {
		k := 1
		for k < len(rest) && (rest[k] == '_' || isAlnum(rest[k])) {
			k++
		}
		for k < len(rest) && isTemplateSpace(rest[k]) {
			k++
		}
		if strings.HasPrefix(rest[k:], ":=") || strings.HasPrefix(rest[k:], "=") && !strings.HasPrefix(rest[k:], "==") {
			return false
		}
	}
	return true
}

// countPrinted pipes an action's value through outFunc, before its closing
// delimiter and trim marker.
func countPrinted(action string, trimRight bool) string {
	at := len(action) - len("}}")
	if trimRight {
		at -= len(" -")
	}
	return action[:at] + " | " + outFunc + action[at:]
}

// scanAction scans the action starting at src[start:] ("{{"): the offset
// after its "}}", its first word, and whether it ends with a trim marker.
func scanAction(src string, start int) (end int, keyword string, trimRight, ok bool) {
	p := start + 2
	if p+1 < len(src) && src[p] == '-' && isTemplateSpace(src[p+1]) {
		p += 2
	}
	for p < len(src) && isTemplateSpace(src[p]) {
		p++
	}
	if strings.HasPrefix(src[p:], "/*") {
		k := strings.Index(src[p+2:], "*/")
		if k < 0 {
			return 0, "", false, false
		}
		p += 2 + k + 2
	} else {
		k := p
		for k < len(src) && (src[k] == '_' || 'a' <= src[k] && src[k] <= 'z' || 'A' <= src[k] && src[k] <= 'Z') {
			k++
		}
		keyword = src[p:k]
	}
	for p < len(src) {
		switch c := src[p]; c {
		case '"', '\'':
			p++
			for p < len(src) && src[p] != c {
				if src[p] == '\\' {
					p++
				}
				p++
			}
			p++
		case '`':
			k := strings.IndexByte(src[p+1:], '`')
			if k < 0 {
				return 0, "", false, false
			}
			p += 1 + k + 1
		case '}':
			if strings.HasPrefix(src[p:], "}}") {
				trimRight = p-start >= 4 && src[p-1] == '-' && isTemplateSpace(src[p-2])
				return p + 2, keyword, trimRight, true
			}
			p++
		default:
			p++
		}
	}
	return 0, "", false, false
}

func isTemplateSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
