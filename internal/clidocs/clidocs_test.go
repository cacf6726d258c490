package clidocs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func testTree() *cobra.Command {
	root := &cobra.Command{Use: "tool", Short: "A tool"}
	root.PersistentFlags().Bool("verbose", false, "say more")
	do := &cobra.Command{
		Use:     "do NAME",
		Short:   "Do a | thing",
		Long:    "Do it in namespace team-<name>.\n\n    literal <kept>",
		Example: "  tool do x\n  tool do y --count 2",
		Aliases: []string{"d"},
		RunE:    func(*cobra.Command, []string) error { return nil },
	}
	do.Flags().StringP("namespace", "n", "default", "the namespace")
	do.Flags().Bool("force", false, "force it")
	do.Flags().Int("count", 0, "how many")
	do.Flags().Duration("wait", 30*time.Second, "how long")
	do.Flags().StringArray("label", nil, "labels")
	do.Flags().String("secret", "", "hidden flag")
	_ = do.Flags().MarkHidden("secret")
	more := &cobra.Command{Use: "more", Short: "Do more", RunE: func(*cobra.Command, []string) error { return nil }}
	hidden := &cobra.Command{Use: "internal", Hidden: true, RunE: func(*cobra.Command, []string) error { return nil }}
	do.AddCommand(more)
	root.AddCommand(do, hidden)
	return root
}

func pageByName(t *testing.T, pages []Page, name string) string {
	t.Helper()
	for _, p := range pages {
		if p.Name == name {
			return string(p.Content)
		}
	}
	t.Fatalf("no page %s", name)
	return ""
}

func TestPages(t *testing.T) {
	pages := Pages(testTree())
	var names []string
	for _, p := range pages {
		names = append(names, p.Name)
	}
	want := "README.md tool.md tool_completion.md tool_completion_bash.md tool_completion_fish.md " +
		"tool_completion_powershell.md tool_completion_zsh.md tool_do.md tool_do_more.md"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("pages:\n got %s\nwant %s", got, want)
	}

	do := pageByName(t, pages, "tool_do.md")
	for _, want := range []string{
		"# tool do\n",
		"Do a | thing\n",                             // the page's own text is not a table cell
		"Aliases: `d`",                               //
		"```\ntool do NAME [flags]\n```",             // usage
		"namespace team-&lt;name&gt;.",               // prose escaped
		"    literal <kept>",                         // indented code kept
		"```sh\ntool do x\ntool do y --count 2\n```", // examples dedented
		"| `-n`, `--namespace` | string | `default` | the namespace |",
		"| `--force` | bool |  | force it |",
		"| `--count` | int | `0` | how many |",
		"| `--wait` | duration | `30s` | how long |",
		"| `--label` | stringArray |  | labels |",
		"Global flags (logging): see [`tool`](tool.md#global-flags).",
		"| [`tool do more`](tool_do_more.md) | Do more |",
		"Up: [`tool`](tool.md)",
	} {
		if !strings.Contains(do, want) {
			t.Errorf("tool_do.md lacks %q:\n%s", want, do)
		}
	}
	if strings.Contains(do, "secret") {
		t.Error("a hidden flag is documented")
	}
	root := pageByName(t, pages, "tool.md")
	if !strings.Contains(root, "## Global flags\n") || !strings.Contains(root, "`--verbose`") {
		t.Errorf("the root page lacks its global flags:\n%s", root)
	}
	index := pageByName(t, pages, IndexName)
	if !strings.Contains(index, "| [`tool do`](tool_do.md) | Do a \\| thing |") || strings.Contains(index, "internal") {
		t.Errorf("index:\n%s", index)
	}

	again := Pages(testTree())
	for i := range pages {
		if !bytes.Equal(pages[i].Content, again[i].Content) {
			t.Errorf("%s differs between two renderings", pages[i].Name)
		}
	}
}

func TestWriteAndDiff(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "tool_gone.md")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	pages := Pages(testTree())
	if diffs, err := Diff(dir, pages); err != nil || len(diffs) != len(pages)+1 {
		t.Fatalf("before writing: %d diffs %v, err %v", len(diffs), diffs, err)
	}
	if err := Write(dir, pages); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("Write kept the page of a removed command: %v", err)
	}
	if diffs, err := Diff(dir, pages); err != nil || len(diffs) != 0 {
		t.Fatalf("after writing: %v, err %v", diffs, err)
	}

	if err := os.WriteFile(filepath.Join(dir, "tool_do.md"), []byte("# tool do\nedited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "tool.md")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	diffs, err := Diff(dir, pages)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"tool.md is missing",
		`tool_do.md differs from the commands (line 2: have "edited", want "")`,
		"tool_gone.md documents no command",
	}
	if strings.Join(diffs, "\n") != strings.Join(want, "\n") {
		t.Errorf("diffs:\n%s\nwant:\n%s", strings.Join(diffs, "\n"), strings.Join(want, "\n"))
	}
}
