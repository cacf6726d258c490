package chartfetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render"
)

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// chartRepo is a loopback HTTPS chart repository: an index.yaml and the
// charts it lists, optionally behind basic auth. It records which requests
// carried credentials.
type chartRepo struct {
	*httptest.Server
	user, password string
	files          map[string][]byte

	mu        sync.Mutex
	authed    map[string]bool
	elsewhere *httptest.Server
}

func newChartRepo(t *testing.T, user, password string) *chartRepo {
	t.Helper()
	webapp, err := os.ReadFile(filepath.Join("..", "render", "testdata", "charts", "webapp-0.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	r := &chartRepo{user: user, password: password, authed: map[string]bool{}}
	// Another host serving a chart the index points to by absolute URL.
	r.elsewhere = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _, ok := req.BasicAuth()
		r.mu.Lock()
		r.authed["elsewhere"+req.URL.Path] = ok
		r.mu.Unlock()
		_, _ = w.Write([]byte("chart from elsewhere"))
	}))
	t.Cleanup(r.elsewhere.Close)
	r.files = map[string][]byte{
		"/charts/webapp-0.1.0.tgz": webapp,
		"/charts/webapp-0.2.0.tgz": []byte("webapp 0.2.0"),
		"/charts/webapp-0.3.0.tgz": []byte("tampered"),
	}
	r.files["/index.yaml"] = fmt.Appendf(nil, `apiVersion: v1
entries:
  webapp:
  - version: 0.3.0
    urls: [charts/webapp-0.3.0.tgz]
    digest: %s
  - version: 0.2.0
    urls: [/charts/webapp-0.2.0.tgz]
  - version: 0.1.0
    urls: [charts/webapp-0.1.0.tgz]
    digest: %s
  - version: 0.0.9
    urls: [%s/webapp-0.0.9.tgz]
  - version: 0.0.1
    urls: [charts/missing.tgz]
  - version: 0.0.8
    urls: [to-http/webapp-0.0.8.tgz]
`, sha256hex([]byte("the original")), sha256hex(webapp), r.elsewhere.URL)
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		r.mu.Lock()
		r.authed[req.URL.Path] = ok
		r.mu.Unlock()
		if r.user != "" && (!ok || u != r.user || p != r.password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		path := strings.TrimPrefix(req.URL.Path, "/repo")
		if rest, ok := strings.CutPrefix(path, "/to-http/"); ok {
			// Same host name, another port, plain http: net/http would keep the credentials.
			http.Redirect(w, req, r.elsewhere.URL+"/"+rest, http.StatusFound)
			return
		}
		b, found := r.files[path]
		if !found {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.Close)
	return r
}

func TestFetchChartFromIndex(t *testing.T) {
	repo := newChartRepo(t, "", "")
	webapp := repo.files["/charts/webapp-0.1.0.tgz"]
	ctx := context.Background()
	get := func(url, version string) ([]byte, error) {
		return Fetch(ctx, repo.Client(), v1alpha1.HelmRepository{URL: url, Chart: "webapp", Version: version}, nil)
	}

	for _, tc := range []struct{ name, url, version string }{
		{"exact version", repo.URL, "0.1.0"},
		{"trailing slash", repo.URL + "/", "0.1.0"},
		{"v prefix", repo.URL, "v0.1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := get(tc.url, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, webapp) {
				t.Fatal("wrong bytes")
			}
			if _, err := render.LoadChart(b); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("chart urls resolve against a repository under a path", func(t *testing.T) {
		for _, v := range []string{"0.1.0", "0.2.0"} {
			if _, err := get(repo.URL+"/repo", v); err != nil {
				t.Fatal(err)
			}
		}
		repo.mu.Lock()
		defer repo.mu.Unlock()
		for _, p := range []string{"/repo/index.yaml", "/repo/charts/webapp-0.1.0.tgz", "/charts/webapp-0.2.0.tgz"} {
			if _, requested := repo.authed[p]; !requested {
				t.Errorf("%s was not requested (requests: %v)", p, repo.authed)
			}
		}
	})

	errorCases := []struct{ name, url, chart, version, want string }{
		{"index 404", repo.URL + "/nothing-here", "webapp", "0.1.0", "GET " + repo.URL + "/nothing-here/index.yaml: 404 Not Found"},
		{"chart 404", repo.URL, "webapp", "0.0.1", "GET " + repo.URL + "/charts/missing.tgz: 404 Not Found"},
		{"unknown chart", repo.URL, "nope", "0.1.0", "fetching chart nope 0.1.0 from " + repo.URL + ": no such chart in the repository index"},
		{"unknown version", repo.URL, "webapp", "9.9.9", "no such version in the repository index (it has 0.3.0, 0.2.0, 0.1.0, 0.0.9, 0.0.1, 0.0.8)"},
		{"digest mismatch", repo.URL, "webapp", "0.3.0", "has digest sha256:" + sha256hex([]byte("tampered")) + ", the index says"},
		{"bad scheme", "ftp://example.com", "webapp", "0.1.0", `unsupported repository url scheme "ftp"`},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fetch(ctx, repo.Client(), v1alpha1.HelmRepository{URL: tc.url, Chart: tc.chart, Version: tc.version}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFetchChartBasicAuth(t *testing.T) {
	repo := newChartRepo(t, "alice", "s3cret")
	ctx := context.Background()
	r := v1alpha1.HelmRepository{URL: repo.URL, Chart: "webapp", Version: "0.1.0"}

	if _, err := Fetch(ctx, repo.Client(), r, nil); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("without credentials: %v", err)
	}
	if _, err := Fetch(ctx, repo.Client(), r, &BasicAuth{Username: "alice", Password: "wrong"}); err == nil {
		t.Fatal("wrong password accepted")
	}
	b, err := Fetch(ctx, repo.Client(), r, &BasicAuth{Username: "alice", Password: "s3cret"})
	if err != nil || !bytes.Equal(b, repo.files["/charts/webapp-0.1.0.tgz"]) {
		t.Fatalf("with credentials: %v", err)
	}

	r.Version = "0.0.9" // on another host
	b, err = Fetch(ctx, repo.Client(), r, &BasicAuth{Username: "alice", Password: "s3cret"})
	if err != nil || string(b) != "chart from elsewhere" {
		t.Fatalf("chart on another host: %q, %v", b, err)
	}
	repo.mu.Lock()
	if repo.authed["elsewhere/webapp-0.0.9.tgz"] {
		t.Error("credentials were sent to another host")
	}
	repo.mu.Unlock()

	// A redirect to plain http on the same host name fails rather than send them.
	r.Version = "0.0.8"
	if _, err := Fetch(ctx, repo.Client(), r, &BasicAuth{Username: "alice", Password: "s3cret"}); !errors.Is(err, ErrCredentialsOverHTTP) {
		t.Errorf("a redirect to http with credentials: %v, want ErrCredentialsOverHTTP", err)
	}
	repo.mu.Lock()
	if sent, requested := repo.authed["elsewhere/webapp-0.0.8.tgz"]; requested || sent {
		t.Errorf("the redirect to http was followed (credentials sent: %v)", sent)
	}
	repo.mu.Unlock()
	// Without credentials the same redirect is followed.
	r.Version, repo.user = "0.0.8", ""
	if b, err := Fetch(ctx, repo.Client(), r, nil); err != nil || string(b) != "chart from elsewhere" {
		t.Errorf("a redirect to http without credentials: %q, %v", b, err)
	}

	// A plain http repository never gets them.
	plain := v1alpha1.HelmRepository{URL: repo.elsewhere.URL, Chart: "webapp", Version: "0.1.0"}
	if _, err := Fetch(ctx, repo.Client(), plain, &BasicAuth{Username: "alice", Password: "s3cret"}); !errors.Is(err, ErrCredentialsOverHTTP) {
		t.Errorf("credentials for an http:// repository: %v, want ErrCredentialsOverHTTP", err)
	}
	repo.mu.Lock()
	defer repo.mu.Unlock()
	if _, requested := repo.authed["elsewhere/index.yaml"]; requested {
		t.Error("the http repository was asked at all")
	}
}

// fakeRegistry is a loopback OCI registry (TLS, basic auth) holding one chart.
func fakeRegistry(t *testing.T, chart []byte) *httptest.Server {
	t.Helper()
	config := []byte(`{"name":"webapp","version":"0.1.0"}`)
	digest := func(b []byte) string { return "sha256:" + sha256hex(b) }
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": digest(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": helmChartLayer, "digest": digest(chart), "size": len(chart)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{digest(config): config, digest(chart): chart}
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bob" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/v2/charts/webapp/manifests/0.1.0":
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", digest(manifest))
			w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
			if r.Method != http.MethodHead {
				_, _ = w.Write(manifest)
			}
		case strings.HasPrefix(r.URL.Path, "/v2/charts/webapp/blobs/"):
			b, ok := blobs[strings.TrimPrefix(r.URL.Path, "/v2/charts/webapp/blobs/")]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			_, _ = w.Write(b)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestFetchChartFromOCI(t *testing.T) {
	chart, err := os.ReadFile(filepath.Join("..", "render", "testdata", "charts", "webapp-0.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	reg := fakeRegistry(t, chart)
	u, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	repo := v1alpha1.HelmRepository{URL: "oci://" + u.Host + "/charts", Chart: "webapp", Version: "0.1.0"}
	ctx := context.Background()
	creds := &BasicAuth{Username: "bob", Password: "pw"}

	b, err := Fetch(ctx, reg.Client(), repo, creds)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, chart) {
		t.Fatal("wrong bytes")
	}
	if _, err := Fetch(ctx, reg.Client(), repo, nil); err == nil {
		t.Error("fetched without credentials")
	}
	repo.Version = "9.9.9"
	if _, err := Fetch(ctx, reg.Client(), repo, creds); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Errorf("missing tag: %v", err)
	}
}
