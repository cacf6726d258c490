package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// pendingPages are linked from the index but written on other branches; the
// test says when one has arrived, so the entry is removed at merge time.
var pendingPages = map[string]bool{}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*)$`)
	mdText  = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// TestLinks checks every relative link in docs/: the file exists, and an
// anchor into a Markdown page names one of its headings.
func TestLinks(t *testing.T) {
	var pages []string
	err := filepath.WalkDir(docsDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range pendingPages {
		if _, err := os.Stat(filepath.Join(docsDir, name)); err == nil {
			t.Errorf("docs/%s exists now: remove it from pendingPages in test/docs/links_test.go", name)
		}
	}
	anchors := map[string]map[string]bool{}
	for _, page := range pages {
		for _, target := range links(t, page) {
			if err := checkLink(page, target, anchors); err != nil {
				t.Errorf("%s: link %s: %v", page, target, err)
			}
		}
	}
}

// links returns the link targets of a page outside code blocks and spans.
func links(t *testing.T, page string) []string {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range proseLines(string(b)) {
		for _, m := range mdLink.FindAllStringSubmatch(stripCodeSpans(line), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func checkLink(page, target string, anchors map[string]map[string]bool) error {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return nil
	}
	path, anchor, _ := strings.Cut(target, "#")
	file := page
	if path != "" {
		file = filepath.Join(filepath.Dir(page), path)
		rel, err := filepath.Rel(docsDir, file)
		if err == nil && pendingPages[rel] {
			return nil
		}
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("no such file %s", file)
		}
	}
	if anchor == "" || !strings.HasSuffix(file, ".md") {
		return nil
	}
	if anchors[file] == nil {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		anchors[file] = headingAnchors(string(b))
	}
	if !anchors[file][anchor] {
		return fmt.Errorf("%s has no heading with anchor #%s", file, anchor)
	}
	return nil
}

// headingAnchors are the anchors GitHub gives a page's headings.
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(doc) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := slugify(m[1])
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// slugify is GitHub's heading anchor: lower case, link text only, letters,
// digits, spaces, hyphens and underscores kept, spaces as hyphens.
func slugify(text string) string {
	text = mdText.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// proseLines are the lines of a Markdown document outside fenced code blocks.
func proseLines(doc string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, line)
		}
	}
	return out
}

// stripCodeSpans removes `code spans`, whose brackets are not links.
func stripCodeSpans(line string) string {
	parts := strings.Split(line, "`")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 0 {
			b.WriteString(p)
		}
	}
	return b.String()
}
