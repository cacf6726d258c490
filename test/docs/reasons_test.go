package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestConditionsDocumented fails when a condition type or reason declared in
// api/v1alpha1/conditions.go is named nowhere in docs/reference, so a new
// reason cannot ship without saying on which kind it appears and when.
func TestConditionsDocumented(t *testing.T) {
	values := constants(t, "../../api/v1alpha1/conditions.go")
	if len(values) < 40 {
		t.Fatalf("found %d constants in conditions.go; the parser missed them", len(values))
	}
	pages, err := filepath.Glob(filepath.Join(docsDir, "reference", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	text := all.String()
	for name, value := range values {
		if !strings.Contains(text, "`"+value+"`") {
			t.Errorf("%s (%q) is not documented in docs/reference/*.md: say on which kind it is set and when", name, value)
		}
	}
}

// constants returns the string constants of a Go file, by name.
func constants(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = v
			}
		}
	}
	return out
}
