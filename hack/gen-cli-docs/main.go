// Command gen-cli-docs writes the command reference, one Markdown page per
// command, into docs/reference/cli (or the directory given as its argument).
// `make generate` runs it from the repository root.
package main

import (
	"fmt"
	"os"

	"github.com/flotilla-dev/flotilla/internal/cli"
	"github.com/flotilla-dev/flotilla/internal/clidocs"
)

func main() {
	dir := "docs/reference/cli"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := clidocs.Write(dir, clidocs.Pages(cli.Root())); err != nil {
		fmt.Fprintln(os.Stderr, "gen-cli-docs:", err)
		os.Exit(1)
	}
}
