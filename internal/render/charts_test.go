package render

import (
	"github.com/flotilla-dev/flotilla/internal/render/charttest"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartArchives checks that every packaged test chart holds exactly its
// source directory; -update repackages them.
func TestChartArchives(t *testing.T) {
	dirs, err := filepath.Glob("testdata/charts/*/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		var meta struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		readYAMLLoose(t, p, &meta)
		archive := filepath.Join("testdata", "charts", meta.Name+"-"+meta.Version+".tgz")
		want := chartFiles(t, dir)
		if *update {
			if err := os.WriteFile(archive, charttest.PackageFiles(t, meta.Name, want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		raw, err := os.ReadFile(archive)
		if err != nil {
			t.Fatalf("%v (go test -update packages it)", err)
		}
		got := archiveFiles(t, raw)
		if len(got) != len(want) {
			t.Fatalf("%s holds %d files, %s has %d (go test -update repackages it)", archive, len(got), dir, len(want))
		}
		for name, data := range want {
			if !bytes.Equal(got[meta.Name+"/"+name], data) {
				t.Fatalf("%s: %s differs from the source (go test -update repackages it)", archive, name)
			}
		}
	}
}

func readYAMLLoose(t testing.TB, file string, into any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// chartFiles reads a chart directory: slash-separated relative path → content.
func chartFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func archiveFiles(t testing.TB, raw []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = b
	}
}
