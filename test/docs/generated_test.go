//go:build !agent

// The command reference is generated from the full build's commands, which
// the agent build leaves out.

package docs

import (
	"strings"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/apidocs"
	"github.com/flotilla-dev/flotilla/internal/cli"
	"github.com/flotilla-dev/flotilla/internal/clidocs"
)

// TestCLIReferenceUpToDate fails when docs/reference/cli does not match the
// command tree, e.g. after a verb or a flag was added.
func TestCLIReferenceUpToDate(t *testing.T) {
	diffs, err := clidocs.Diff(docsDir+"/reference/cli", clidocs.Pages(cli.Root()))
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) > 0 {
		t.Errorf("docs/reference/cli is stale; run `make generate`:\n  %s", strings.Join(diffs, "\n  "))
	}
}

// TestKindReferenceUpToDate fails when the generated blocks of a per-kind
// page no longer match the CRD schemas, e.g. after an API change.
func TestKindReferenceUpToDate(t *testing.T) {
	stale, err := apidocs.Stale(docsDir + "/reference")
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("generated blocks of docs/reference/{%s} are stale; run `make generate`", strings.Join(stale, ","))
	}
}
