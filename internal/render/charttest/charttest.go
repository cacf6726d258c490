// Package charttest builds small packaged Helm charts and serves them from a
// loopback chart repository, for tests of Promises that use the Helm engine.
package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Package returns a packaged chart (.tgz) named name at version, holding
// Chart.yaml, values.yaml and templates (file name → content).
func Package(tb testing.TB, name, version, values string, templates map[string]string) []byte {
	tb.Helper()
	files := map[string]string{
		"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\ntype: application\n", name, version),
		"values.yaml": values,
	}
	for f, body := range templates {
		files["templates/"+f] = body
	}
	raw := make(map[string][]byte, len(files))
	for f, body := range files {
		raw[f] = []byte(body)
	}
	return PackageFiles(tb, name, raw)
}

// PackageFiles builds a .tgz like `helm package` from files (path inside the
// chart → content), byte for byte reproducible: sorted entries, fixed times.
func PackageFiles(tb testing.TB, name string, files map[string][]byte) []byte {
	tb.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		hdr := &tar.Header{
			Name:     name + "/" + n,
			Mode:     0o644,
			Size:     int64(len(files[n])),
			ModTime:  time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			Typeflag: tar.TypeReg,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Repository is a chart repository on a loopback port (index.yaml plus the
// archives), closed when the test ends.
type Repository struct {
	URL string

	mu     sync.Mutex
	charts map[string][]byte // "<name>-<version>.tgz" → archive
	gets   map[string]int
}

// Serve starts an empty repository.
func Serve(tb testing.TB) *Repository {
	tb.Helper()
	r := &Repository{charts: map[string][]byte{}, gets: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Add publishes a packaged chart.
func (r *Repository) Add(name, version string, archive []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.charts[name+"-"+version+".tgz"] = archive
}

// Gets returns how many times the archive of name at version was downloaded.
func (r *Repository) Gets(name, version string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[name+"-"+version+".tgz"]
}

func (r *Repository) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := strings.TrimPrefix(req.URL.Path, "/")
	if path == "index.yaml" {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nentries:\n")
		byChart := map[string][]string{}
		for file := range r.charts {
			i := strings.LastIndex(strings.TrimSuffix(file, ".tgz"), "-")
			byChart[file[:i]] = append(byChart[file[:i]], file)
		}
		for chart, files := range byChart {
			fmt.Fprintf(&b, "  %s:\n", chart)
			for _, file := range files {
				sum := sha256.Sum256(r.charts[file])
				version := strings.TrimSuffix(file[len(chart)+1:], ".tgz")
				fmt.Fprintf(&b, "  - name: %s\n    version: %s\n    urls: [%s]\n    digest: %s\n", chart, version, file, hex.EncodeToString(sum[:]))
			}
		}
		_, _ = w.Write([]byte(b.String()))
		return
	}
	archive, ok := r.charts[path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	r.gets[path]++
	_, _ = w.Write(archive)
}
