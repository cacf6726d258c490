package render

import "errors"

// Errors a render refuses with, wrapped with the details; the hub maps each
// to the instance's Ready reason (a *scope.Violation, for objects outside the
// Promise's output, is the third).
var (
	// ErrValueCreatesStructure: a value printed by a template (or a Helm
	// value) made YAML structure: a key, an object or a document.
	ErrValueCreatesStructure = errors.New("a value created YAML structure")
	// ErrBudgetExceeded: the render ran past its bound on steps or memory.
	ErrBudgetExceeded = errors.New("render budget exceeded")
	// ErrNotRepeatable: the templates called a function whose result is not
	// fixed by its arguments (the time, a random value), so two renders of
	// the same revision would differ.
	ErrNotRepeatable = errors.New("a render must be the same every time")
)
