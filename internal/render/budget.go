package render

import (
	"fmt"
	"strings"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// Bounds of one Go template execution (docs/templates.md, "Render bounds").
// A render executes its templates twice (see structure.go), each execution
// with its own budget.
const (
	// maxSteps bounds the steps of one execution: each iteration of a range
	// loop and each execution of a template (a file, {{ template }},
	// {{ include }}) is one. The postgres test Promise takes 10; a loop over
	// a 10,000-item list calling a helper takes 20,000. A step costs
	// 1–2 µs, so the bound stops a runaway loop within ≈ 0.2 s.
	maxSteps = 100_000
	// maxFuncBytes bounds the sum of the sizes of the strings functions
	// return in one execution; each single result is bounded by maxOutput.
	maxFuncBytes = 64 << 20
	// maxFormatWidth bounds a width or precision in a printf format.
	maxFormatWidth = 1 << 16
)

// tickFunc is the function rewriteTicks calls at the start of every range
// body and every template body. Templates cannot call it: it is added after
// parsing.
const tickFunc = "__flotillaTick"

// budget counts what one execution spends; exceeding it is an error wrapping
// ErrBudgetExceeded. It is not safe for concurrent use (an execution is
// sequential).
type budget struct {
	steps int
	bytes int
	// written is what a Helm render's templates wrote (textFunc, outFunc).
	written int
	// stopped is set from another goroutine when the render's time limit
	// passes (Helm's engine cannot be interrupted): the execution then
	// fails at its next step or function result instead of running on.
	stopped atomic.Bool
}

// errStopped is the error of an execution stopped after its time limit.
var errStopped = fmt.Errorf("stopped after the render's time limit: %w", ErrBudgetExceeded)

func (b *budget) tick() (string, error) {
	if b.stopped.Load() {
		return "", errStopped
	}
	b.steps++
	if b.steps > maxSteps {
		return "", fmt.Errorf("more than %d steps (loop iterations and template calls); do not loop over sizes an instance controls: %w",
			maxSteps, ErrBudgetExceeded)
	}
	return "", nil
}

// check refuses, before it is built, a string of (at least) n bytes.
func (b *budget) check(fn string, n int) error {
	if b.stopped.Load() {
		return errStopped
	}
	if n > maxOutput {
		return fmt.Errorf("%s: result of %d bytes or more exceeds %d bytes: %w", fn, n, maxOutput, ErrBudgetExceeded)
	}
	if b.bytes+n > maxFuncBytes {
		return fmt.Errorf("%s: functions produced more than %d bytes in all: %w", fn, maxFuncBytes, ErrBudgetExceeded)
	}
	return nil
}

// write counts n bytes a Helm render's templates write: the whole chart's
// output is bounded by maxFuncBytes.
func (b *budget) write(n int) error {
	if b.stopped.Load() {
		return errStopped
	}
	b.written += n
	if b.written > maxFuncBytes {
		return fmt.Errorf("the chart's templates wrote more than %d bytes: %w", maxFuncBytes, ErrBudgetExceeded)
	}
	return nil
}

// out counts a string a function returns.
func (b *budget) out(fn string, s string) (string, error) {
	if err := b.check(fn, len(s)); err != nil {
		return "", err
	}
	b.bytes += len(s)
	return s, nil
}

// bounded wraps the string functions of a funcMap so that their results count
// against b, and replaces text/template's built-in printf, print, println,
// html, js and urlquery with versions that refuse a result too large before
// building it.
func (b *budget) bounded(fm template.FuncMap) template.FuncMap {
	str1 := func(name string, f func(any) string) func(any) (string, error) {
		return func(v any) (string, error) { return b.out(name, f(v)) }
	}
	str1e := func(name string, f func(any) (string, error)) func(any) (string, error) {
		return func(v any) (string, error) {
			s, err := f(v)
			if err != nil {
				return "", err
			}
			return b.out(name, s)
		}
	}
	for _, name := range []string{"lower", "upper", "trim", "b64enc", "sha256sum"} {
		fm[name] = str1(name, fm[name].(func(any) string))
	}
	for _, name := range []string{"toYaml", "toJson"} {
		switch f := fm[name].(type) {
		case func(any) (string, error):
			fm[name] = str1e(name, f)
		}
	}
	for _, name := range []string{"indent", "nindent"} {
		f := fm[name].(func(int, any) string)
		fm[name] = func(n int, v any) (string, error) {
			s := toString(v)
			if err := b.check(name, len(s)+(strings.Count(s, "\n")+1)*min(max(n, 0), maxIndent)); err != nil {
				return "", err
			}
			return b.out(name, f(n, s))
		}
	}
	if f, ok := fm["include"].(func(string, any) (string, error)); ok {
		fm["include"] = func(name string, data any) (string, error) {
			s, err := f(name, data)
			if err != nil {
				return "", err
			}
			return b.out("include", s)
		}
	}
	quoteFn := fm["quote"].(func(...any) string)
	fm["quote"] = func(vs ...any) (string, error) {
		if err := b.check("quote", argsSize(vs)); err != nil {
			return "", err
		}
		return b.out("quote", quoteFn(vs...))
	}
	fm["join"] = func(sep string, list any) (string, error) {
		n := 0
		switch l := list.(type) {
		case []any:
			n = len(l)
		case []string:
			n = len(l)
		}
		if err := b.check("join", n*len(sep)); err != nil {
			return "", err
		}
		s, err := join(sep, list)
		if err != nil {
			return "", err
		}
		return b.out("join", s)
	}
	b.builtins(fm)
	fm[tickFunc] = b.tick
	return fm
}

// builtins replaces text/template's printf, print, println, html, js and
// urlquery with versions that refuse a result too large before building it
// and count it.
func (b *budget) builtins(fm template.FuncMap) {
	fm["printf"] = func(format string, args ...any) (string, error) {
		width, err := checkFormat(format)
		if err != nil {
			return "", err
		}
		// Each verb prints at most one argument, padded to at most width.
		verbs := strings.Count(format, "%")
		if err := b.check("printf", len(format)+verbs*(maxArgSize(args)+width)); err != nil {
			return "", err
		}
		return b.out("printf", fmt.Sprintf(format, args...))
	}
	fm["print"] = func(args ...any) (string, error) {
		if err := b.check("print", argsSize(args)); err != nil {
			return "", err
		}
		return b.out("print", fmt.Sprint(args...))
	}
	fm["println"] = func(args ...any) (string, error) {
		if err := b.check("println", argsSize(args)); err != nil {
			return "", err
		}
		return b.out("println", fmt.Sprintln(args...))
	}
	// Escaping grows a string at most 6 times (js: \uXXXX).
	for name, f := range map[string]func(...any) string{
		"html": template.HTMLEscaper, "js": template.JSEscaper, "urlquery": template.URLQueryEscaper,
	} {
		fm[name] = func(args ...any) (string, error) {
			if err := b.check(name, 6*argsSize(args)); err != nil {
				return "", err
			}
			return b.out(name, f(args...))
		}
	}
}

// maxIndent bounds the N of indent and nindent.
const maxIndent = 256

// argsSize is the size of the arguments' text: strings exactly, other
// values as they print.
func argsSize(args []any) int {
	n := 0
	for _, a := range args {
		n += argSize(a)
	}
	return n
}

func maxArgSize(args []any) int {
	n := 0
	for _, a := range args {
		n = max(n, argSize(a))
	}
	return n
}

func argSize(a any) int {
	switch a := a.(type) {
	case string:
		return len(a)
	case []byte:
		return len(a)
	case nil, bool, int, int64, float64:
		return 24
	default:
		// Maps and lists come from the instance (bounded by its size).
		return len(fmt.Sprint(a))
	}
}

// checkFormat refuses printf formats whose widths or precisions could build
// a huge string: a number over maxFormatWidth, or * (taken from an
// argument). It returns the largest width or precision.
func checkFormat(format string) (int, error) {
	largest := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
	verb:
		for i++; i < len(format); i++ {
			c := format[i]
			switch {
			case c == '*':
				return 0, fmt.Errorf("printf: a * width or precision is not supported: %w", ErrBudgetExceeded)
			case c >= '0' && c <= '9':
				n := 0
				for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
					n = n*10 + int(format[i]-'0')
					if n > maxFormatWidth {
						return 0, fmt.Errorf("printf: width or precision over %d: %w", maxFormatWidth, ErrBudgetExceeded)
					}
				}
				largest = max(largest, n)
				i--
			case c == '.' || c == '+' || c == '-' || c == '#' || c == ' ' || c == '[' || c == ']':
			default:
				_, size := utf8.DecodeRuneInString(format[i:])
				i += size - 1
				break verb
			}
		}
	}
	return largest, nil
}

// rewriteTicks makes every template body and every range body of the tree
// start with a call of tickFunc, so that loops and recursion count steps.
func rewriteTicks(tree *parse.Tree) {
	if tree == nil || tree.Root == nil {
		return
	}
	walkTicks(tree.Root)
	tree.Root.Nodes = append([]parse.Node{tickNode(tree.Root.Pos, 0)}, tree.Root.Nodes...)
}

func walkTicks(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkTicks(c)
		}
	case *parse.IfNode:
		walkTicks(n.List)
		walkTicks(n.ElseList)
	case *parse.WithNode:
		walkTicks(n.List)
		walkTicks(n.ElseList)
	case *parse.RangeNode:
		walkTicks(n.List)
		walkTicks(n.ElseList)
		if n.List != nil {
			n.List.Nodes = append([]parse.Node{tickNode(n.Pos, n.Line)}, n.List.Nodes...)
		}
	}
}

// tickNode is {{ __flotillaTick }}.
func tickNode(pos parse.Pos, line int) *parse.ActionNode {
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Line: line, Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe, Pos: pos, Line: line,
		Cmds: []*parse.CommandNode{funcCommand(tickFunc, pos)},
	}}
}

// funcCommand is a command calling the function name.
func funcCommand(name string, pos parse.Pos) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(name).SetPos(pos)}}
}
