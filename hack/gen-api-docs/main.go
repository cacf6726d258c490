// Command gen-api-docs fills the generated blocks (field tables, printer
// columns, CEL rules) of the per-kind reference pages in docs/reference (or
// the directory given as its argument) from the CRDs' schemas. The prose
// around the blocks is written by hand. `make generate` runs it from the
// repository root, after the CRDs are generated.
package main

import (
	"fmt"
	"os"

	"github.com/flotilla-dev/flotilla/internal/apidocs"
)

func main() {
	dir := "docs/reference"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := apidocs.Generate(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen-api-docs:", err)
		os.Exit(1)
	}
}
