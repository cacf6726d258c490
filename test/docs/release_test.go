//go:build !agent

// The --context/--as check reads the full build's commands, which the agent
// build leaves out.

package docs

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/internal/cli"
)

// absent is every item of docs/concepts.md's "Not in this release", by its
// bold title, with a check that fails once the feature exists: then the
// docs must say so, and the item leaves both the page and this table.
var absent = map[string]func() error{
	"RolloutStrategy status": func() error {
		// A controller that writes it needs the hub's ClusterRole to allow it.
		for _, path := range []string{"../../config/hub/rbac.yaml", "../../charts/flotilla/templates/rbac.yaml"} {
			rules, err := clusterRoleRules(path)
			if err != nil {
				return err
			}
			for _, r := range rules {
				if slices.Contains(r.Resources, "rolloutstrategies/status") &&
					slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "patch" || v == "update" || v == "*" }) {
					return fmt.Errorf("%s lets the hub write rolloutstrategies/status", path)
				}
			}
		}
		return nil
	},
	"CEL health rules": func() error {
		for _, dir := range []string{"../../internal/health", "../../internal/agent"} {
			if err := noImport(dir, "github.com/google/cel-go"); err != nil {
				return err
			}
		}
		return nil
	},
	"`--context` and `--as`": func() error {
		var errs []error
		walk(cli.Root(), func(c *cobra.Command) {
			for _, flags := range []*pflag.FlagSet{c.LocalFlags(), c.InheritedFlags()} {
				for _, name := range []string{"context", "as"} {
					if name == "context" && c.Name() == "dashboard" {
						continue // the one command that has it, as the page says
					}
					if flags.Lookup(name) != nil {
						errs = append(errs, fmt.Errorf("%s has --%s", c.CommandPath(), name))
					}
				}
			}
		})
		return errors.Join(errs...)
	},
}

// TestNotInThisRelease keeps docs/concepts.md's list of what is not in this
// release true: every item is in the table above and still absent, and
// every entry of the table is on the page.
func TestNotInThisRelease(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(docsDir, "concepts.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Not in this release\n")
	if !ok {
		t.Fatal(`docs/concepts.md has no "## Not in this release" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	items := regexp.MustCompile(`(?m)^- \*\*(.+?)\.?\*\*`).FindAllStringSubmatch(section, -1)
	if len(items) == 0 {
		t.Fatal(`no "- **item**" in docs/concepts.md's "Not in this release"`)
	}
	listed := map[string]bool{}
	for _, m := range items {
		title := m[1]
		listed[title] = true
		check, ok := absent[title]
		if !ok {
			t.Errorf("%q is listed as not in this release, but test/docs/release_test.go does not check its absence: add a check", title)
			continue
		}
		if err := check(); err != nil {
			t.Errorf("%q is listed as not in this release, but it is there now (%v): update docs/concepts.md and the pages it links, and drop it from the list and the test", title, err)
		}
	}
	for title := range absent {
		if !listed[title] {
			t.Errorf("test/docs/release_test.go checks that %q is absent, but docs/concepts.md no longer lists it: drop the check", title)
		}
	}
}

// clusterRoleRules reads the rules of the ClusterRoles in a YAML file (the
// lines of a Helm template that hold {{ … }} are dropped first).
func clusterRoleRules(path string) ([]rbacv1.PolicyRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := regexp.MustCompile(`(?m)^.*\{\{.*$`).ReplaceAllString(string(b), "")
	var rules []rbacv1.PolicyRule
	for _, doc := range strings.Split(text, "\n---") {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if role.Kind == "ClusterRole" {
			rules = append(rules, role.Rules...)
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no ClusterRole rules in %s: the check reads the wrong file", path)
	}
	return rules, nil
}

// noImport fails when a Go file under dir imports pkg (or a package under it).
func noImport(dir, pkg string) error {
	found := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		found++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == pkg || strings.HasPrefix(p, pkg+"/") {
				return fmt.Errorf("%s imports %s", path, p)
			}
		}
		return nil
	})
	if err == nil && found == 0 {
		return fmt.Errorf("no Go files in %s: the check reads the wrong directory", dir)
	}
	return err
}

// walk calls fn for c and every command under it.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}
