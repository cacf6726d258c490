// Package clidocs renders a cobra command tree as Markdown reference pages,
// one per command, plus an index. The output depends only on the commands
// (no dates, no environment), so the committed pages can be checked for
// staleness by regenerating them.
package clidocs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// IndexName is the file name of the index page.
const IndexName = "README.md"

// Page is one generated file.
type Page struct {
	// Name is the file name, e.g. flotilla_rollout_approve.md.
	Name string
	// Content is the Markdown.
	Content []byte
}

// Pages renders root and every available command under it, sorted by file
// name, with the index page first. The help command is left out; the
// completion command is included as the binary has it.
func Pages(root *cobra.Command) []Page {
	root.InitDefaultCompletionCmd()
	cmds := commands(root)
	pages := []Page{{Name: IndexName, Content: index(root, cmds)}}
	for _, c := range cmds {
		pages = append(pages, Page{Name: FileName(c), Content: page(root, c)})
	}
	return pages
}

// FileName is the page of a command: its path with underscores, e.g.
// flotilla_rollout_approve.md.
func FileName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

// commands lists c and its available descendants, depth first, by name.
func commands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, child := range children(c) {
		out = append(out, commands(child)...)
	}
	return out
}

// children are the documented subcommands of c, by name.
func children(c *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, child := range c.Commands() {
		if !child.IsAvailableCommand() || child.IsAdditionalHelpTopicCommand() {
			continue
		}
		out = append(out, child)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func index(root *cobra.Command, cmds []*cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# `%s` command reference\n\n", root.Name())
	b.WriteString(generatedNote)
	b.WriteString("| command | what it does |\n|---|---|\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "| [`%s`](%s) | %s |\n", c.CommandPath(), FileName(c), cell(c.Short))
	}
	fmt.Fprintf(&b, "\nFlags every command accepts (logging) are listed on the [`%s`](%s#global-flags) page.\n",
		root.Name(), FileName(root))
	return b.Bytes()
}

const generatedNote = "<!-- Generated from the commands by `make generate` (hack/gen-cli-docs). Do not edit. -->\n\n"

func page(root, c *cobra.Command) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", c.CommandPath())
	b.WriteString(generatedNote)
	if c.Short != "" {
		b.WriteString(c.Short + "\n\n")
	}
	if aliases := c.Aliases; len(aliases) > 0 {
		fmt.Fprintf(&b, "Aliases: %s\n\n", "`"+strings.Join(aliases, "`, `")+"`")
	}
	b.WriteString("## Usage\n\n```\n" + c.UseLine() + "\n```\n\n")
	if long := strings.TrimSpace(c.Long); long != "" {
		b.WriteString("## Description\n\n" + prose(long) + "\n\n")
	}
	if ex := dedent(c.Example); ex != "" {
		b.WriteString("## Examples\n\n```sh\n" + ex + "\n```\n\n")
	}
	if flags := c.NonInheritedFlags(); flags.HasAvailableFlags() {
		title := "Flags"
		if c == root {
			title = "Global flags"
		}
		b.WriteString("## " + title + "\n\n")
		flagTable(&b, flags)
	}
	if c != root && c.InheritedFlags().HasAvailableFlags() {
		fmt.Fprintf(&b, "Global flags (logging): see [`%s`](%s#global-flags).\n\n", root.Name(), FileName(root))
	}
	if subs := children(c); len(subs) > 0 {
		b.WriteString("## Commands\n\n| command | what it does |\n|---|---|\n")
		for _, s := range subs {
			fmt.Fprintf(&b, "| [`%s`](%s) | %s |\n", s.CommandPath(), FileName(s), cell(s.Short))
		}
		b.WriteString("\n")
	}
	if p := c.Parent(); p != nil {
		fmt.Fprintf(&b, "Up: [`%s`](%s) · [all commands](%s)\n", p.CommandPath(), FileName(p), IndexName)
	} else {
		fmt.Fprintf(&b, "[All commands](%s)\n", IndexName)
	}
	return b.Bytes()
}

// flagTable writes one row per visible flag, sorted by name.
func flagTable(b *bytes.Buffer, flags *pflag.FlagSet) {
	b.WriteString("| flag | type | default | description |\n|---|---|---|---|\n")
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		name := "`--" + f.Name + "`"
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		usage := f.Usage
		if f.Deprecated != "" {
			usage += " (deprecated: " + f.Deprecated + ")"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, f.Value.Type(), defaultValue(f), cell(usage))
	})
	b.WriteString("\n")
}

// defaultValue is a flag's default, or empty when there is nothing to say:
// an empty string or list, or a bool that is off.
func defaultValue(f *pflag.Flag) string {
	if f.DefValue == "" || f.DefValue == "[]" || (f.Value.Type() == "bool" && f.DefValue == "false") {
		return ""
	}
	return "`" + strings.ReplaceAll(f.DefValue, "|", `\|`) + "`"
}

// prose escapes angle brackets in a help text's lines of prose, so that
// flotilla-cluster-<name> is not taken for an HTML tag; indented lines are
// code blocks in Markdown and are left as they are.
func prose(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, "    ") {
			lines[i] = strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(l)
		}
	}
	return strings.Join(lines, "\n")
}

// dedent removes the indentation every non-blank line of s shares, and
// surrounding blank lines.
func dedent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " \t")); indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// cell makes text safe for a table cell: one line, pipes and angle brackets escaped.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// Write writes pages into dir (created if needed) and removes every other
// Markdown file there, so a removed command loses its page.
func Write(dir string, pages []Page) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	keep := map[string]bool{}
	for _, p := range pages {
		keep[p.Name] = true
		if err := os.WriteFile(filepath.Join(dir, p.Name), p.Content, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", p.Name, err)
		}
	}
	existing, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, f := range existing {
		if !keep[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("removing stale page %s: %w", f, err)
			}
		}
	}
	return nil
}

// Diff compares pages with the Markdown files in dir and returns one line per
// difference: a page missing or different, or a file no command has.
func Diff(dir string, pages []Page) ([]string, error) {
	var diffs []string
	want := map[string]bool{}
	for _, p := range pages {
		want[p.Name] = true
		got, err := os.ReadFile(filepath.Join(dir, p.Name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			diffs = append(diffs, p.Name+" is missing")
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", p.Name, err)
		case !bytes.Equal(got, p.Content):
			diffs = append(diffs, p.Name+" differs from the commands"+firstDifference(got, p.Content))
		}
	}
	existing, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, f := range existing {
		if name := filepath.Base(f); !want[name] {
			diffs = append(diffs, name+" documents no command")
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

// firstDifference names the first line that differs, to make a stale page easy to find.
func firstDifference(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf(" (line %d: have %q, want %q)", i+1, gl, wl)
		}
	}
	return ""
}
