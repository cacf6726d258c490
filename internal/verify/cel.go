package verify

import (
	"errors"
	"fmt"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/containers"
	"github.com/google/cel-go/common/decls"
	"github.com/google/cel-go/common/stdlib"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"
	"github.com/google/cel-go/parser"
)

// A condition is compiled and evaluated as cel-go's cel package does with
// cel.NewEnv (the standard library of functions and macros, no extensions),
// env.Compile and env.Program with a cost limit, but from cel-go's parser,
// checker and interpreter packages alone: the cel package also links
// protobuf's descriptor machinery (protodesc, descriptorpb), whose package
// initialisation costs the agent about 2 MiB of resident memory at rest
// whether or not any Work has a check (docs/benchmarks.md, issue 17).
// TestCompileMatchesCelGo compares the two on every kind of condition.
//
// Nothing is built before a check is compiled: each Compile builds its own
// environment, as cel.NewEnv did.

// standardMacros are cel.StandardMacros.
var standardMacros = []parser.Macro{
	parser.HasMacro, parser.AllMacro, parser.ExistsMacro, parser.ExistsOneMacro,
	parser.MapMacro, parser.MapFilterMacro, parser.FilterMacro,
}

// celProgram is a planned condition: cel.Program's Eval, cost-limited.
type celProgram struct {
	interpretable interpreter.Interpretable
}

// compileCEL parses and type-checks source with the standard library and
// vars, and plans it with a cost limit of costLimit. It returns the program
// and the type of the expression.
func compileCEL(source string, vars []*decls.VariableDecl, costLimit uint64) (*celProgram, *types.Type, error) {
	registry, err := types.NewRegistry()
	if err != nil {
		return nil, nil, err
	}
	functions := stdlib.Functions()

	prsr, err := parser.NewParser(parser.Macros(standardMacros...))
	if err != nil {
		return nil, nil, err
	}
	src := common.NewTextSource(source)
	parsed, errs := prsr.Parse(src)
	if len(errs.GetErrors()) > 0 {
		return nil, nil, errors.New(errs.ToDisplayString())
	}

	chk, err := checker.NewEnv(containers.DefaultContainer, registry, checker.CrossTypeNumericComparisons(false))
	if err != nil {
		return nil, nil, err
	}
	if err := chk.AddIdents(append(stdlib.Types(), vars...)...); err != nil {
		return nil, nil, err
	}
	for _, fn := range functions {
		if fn.IsDeclarationDisabled() {
			continue
		}
		if err := chk.AddFunctions(fn); err != nil {
			return nil, nil, err
		}
	}
	checked, errs := checker.Check(parsed, src, chk)
	if len(errs.GetErrors()) > 0 {
		return nil, nil, errors.New(errs.ToDisplayString())
	}
	outType := checked.GetType(checked.Expr().ID())

	prg, err := planCEL(checked, registry, functions, costLimit)
	if err != nil {
		return nil, outType, err
	}
	return prg, outType, nil
}

// planCEL is env.Program(ast, cel.CostLimit(costLimit)) for the standard
// library.
func planCEL(checked *celast.AST, registry *types.Registry, functions []*decls.FunctionDecl, costLimit uint64) (*celProgram, error) {
	disp := interpreter.NewDispatcher()
	for _, fn := range functions {
		bindings, err := fn.Bindings()
		if err != nil {
			return nil, err
		}
		if err := disp.Add(bindings...); err != nil {
			return nil, err
		}
	}
	attrs := interpreter.NewAttributeFactory(containers.DefaultContainer, registry, registry,
		interpreter.EnableErrorOnBadPresenceTest(false))
	interp := interpreter.NewInterpreter(disp, containers.DefaultContainer, registry, registry, attrs)
	tracker := func() (*interpreter.CostTracker, error) {
		return interpreter.NewCostTracker(nil, interpreter.CostTrackerLimit(costLimit))
	}
	interpretable, err := interp.NewInterpretable(checked,
		interpreter.CostObserver(interpreter.CostTrackerFactory(tracker)))
	if err != nil {
		return nil, err
	}
	return &celProgram{interpretable: interpretable}, nil
}

// Eval evaluates the program over vars, as cel.Program's Eval does: an
// evaluation error, a cancelled evaluation (the cost limit) or a panic is
// an error.
func (p *celProgram) Eval(vars map[string]any) (out ref.Val, err error) {
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case interpreter.EvalCancelledError:
				err = e
			default:
				err = fmt.Errorf("internal error: %v", r)
			}
		}
	}()
	activation, err := interpreter.NewActivation(vars)
	if err != nil {
		return nil, err
	}
	if o, ok := p.interpretable.(*interpreter.ObservableInterpretable); ok {
		out = o.ObserveEval(activation, func(any) {})
	} else {
		out = p.interpretable.Eval(activation)
	}
	if types.IsError(out) {
		err = out.(*types.Err)
	}
	return out, err
}
