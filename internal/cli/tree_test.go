package cli

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walk calls fn for every command of the tree under c, c included, with the
// words that run it (without the binary). Cobra's own help command is left
// out: it is added when the tree is executed.
func walk(c *cobra.Command, words []string, fn func(c *cobra.Command, words []string)) {
	fn(c, words)
	for _, sub := range c.Commands() {
		if sub.Name() == "help" {
			continue
		}
		walk(sub, append(append([]string(nil), words...), sub.Name()), fn)
	}
}

// run executes the command line as the binary does and returns its exit
// code, stdout and stderr.
func runCommandLine(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code = execute(ctx, append([]string{"flotilla"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// kubectlShorthands are the one-letter flags every kubectl user knows: where
// a flotilla command has one, it means what it means to kubectl.
var kubectlShorthands = map[string]string{
	"n": "namespace", "A": "all-namespaces", "l": "selector", "o": "output", "w": "watch", "h": "help",
}

// TestCommandTree walks the whole command tree and checks, for every
// command, the conventions kubectl users expect (docs/cli.md):
//
//   - it has a Short, and a leaf command an Example or a Long;
//   - --help works and shows no --zap-* flag (they are hidden behind
//     -v/--log-level), and every flag it shows has a description;
//   - a command with subcommands refuses an unknown one: an error on
//     stderr naming it, suggesting the nearest when one is near, exit code 1
//     (cobra's default prints help and exits 0); a command that only groups
//     others prints its help, exit code 0, when given none;
//   - aliases do not collide with a sibling's name or alias;
//   - a one-letter flag means the same everywhere, and what it means to
//     kubectl when kubectl has it (-n, -A, -l, -o, -w).
func TestCommandTree(t *testing.T) {
	root := newRootCommand()
	// One meaning per shorthand across the tree, kubectl's where it has one.
	shorthands := maps.Clone(kubectlShorthands)
	walk(root, nil, func(c *cobra.Command, words []string) {
		path := strings.Join(append([]string{"flotilla"}, words...), " ")
		t.Run(path, func(t *testing.T) {
			if strings.TrimSpace(c.Short) == "" {
				t.Error("no Short description")
			}
			if !c.HasSubCommands() && strings.TrimSpace(c.Example) == "" && strings.TrimSpace(c.Long) == "" {
				t.Error("a leaf command without an Example or a Long description")
			}

			code, help, stderr := runCommandLine(t, append(append([]string(nil), words...), "--help")...)
			if code != 0 || stderr != "" {
				t.Fatalf("--help: exit code %d, stderr %q", code, stderr)
			}
			if strings.Contains(help, "--zap-") {
				t.Errorf("--help shows zap's flags:\n%s", help)
			}
			if !strings.Contains(help, "--log-level") {
				t.Errorf("--help does not show -v/--log-level:\n%s", help)
			}
			check := func(f *pflag.Flag) {
				if strings.HasPrefix(f.Name, "zap-") && !f.Hidden {
					t.Errorf("flag --%s is visible", f.Name)
				}
				if !f.Hidden && strings.TrimSpace(f.Usage) == "" {
					t.Errorf("flag --%s has no description", f.Name)
				}
			}
			c.LocalFlags().VisitAll(check)
			c.InheritedFlags().VisitAll(check)
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Shorthand == "" {
					return
				}
				if other, ok := shorthands[f.Shorthand]; ok && other != f.Name {
					t.Errorf("-%s is --%s here and --%s elsewhere", f.Shorthand, f.Name, other)
				}
				shorthands[f.Shorthand] = f.Name
			})

			if !c.HasSubCommands() {
				return
			}
			code, stdout, stderr := runCommandLine(t, append(append([]string(nil), words...), "nosuchcommand", "x")...)
			want := `error: unknown command "nosuchcommand" for "` + path + `"`
			if code != 1 || !strings.HasPrefix(stderr, want) || stdout != "" {
				t.Errorf("an unknown subcommand: exit code %d, stdout %q, stderr %q; want exit code 1 and %q", code, stdout, stderr, want)
			}
			if c.Annotations[groupOnly] == "true" {
				code, stdout, stderr := runCommandLine(t, words...)
				if code != 0 || stderr != "" || !strings.Contains(stdout, "Available Commands:") {
					t.Errorf("without a subcommand: exit code %d, stderr %q, stdout %q; want its help", code, stderr, stdout)
				}
			}

			seen := map[string]string{}
			for _, sub := range c.Commands() {
				for _, name := range append([]string{sub.Name()}, sub.Aliases...) {
					if other, ok := seen[name]; ok {
						t.Errorf("%q names both %s and %s", name, other, sub.Name())
					}
					seen[name] = sub.Name()
				}
			}
		})
	})
}
