// Package chartfetch fetches Helm chart archives from chart repositories
// (an index.yaml over https, or an OCI registry), bounded in size and never
// sending credentials over plain http. It is the I/O half of Helm support:
// internal/render, which is pure, loads and renders the archives it returns.
package chartfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/yaml"

	"github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Size limits of what Fetch reads.
const (
	maxIndexBytes = 64 << 20
	maxChartBytes = 16 << 20
)

// helmChartLayer is the media type of a chart's content in an OCI registry.
const helmChartLayer = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

// ErrCredentialsOverHTTP: credentials are never sent over plain http.
var ErrCredentialsOverHTTP = errors.New("repository credentials are only sent over https (or oci://, which is https)")

// BasicAuth holds chart repository credentials.
type BasicAuth struct {
	Username string
	Password string
}

// Fetch downloads the packaged chart (.tgz) repo names, at exactly
// repo.Version, from an HTTP(S) chart repository (through its index.yaml) or
// an OCI registry (oci://host/path, the chart at host/path/<chart>:<version>).
// Credentials, when given, are sent to the repository's host only, and only
// over https: with an http:// repository they are refused
// (ErrCredentialsOverHTTP), and a redirect that would carry them to plain
// http fails. A digest
// the index lists is verified. httpClient nil means http.DefaultClient.
func Fetch(ctx context.Context, httpClient *http.Client, repo v1alpha1.HelmRepository, auth *BasicAuth) ([]byte, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	u, err := url.Parse(repo.URL)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s: repository url: %w", repo.Chart, err)
	}
	if auth != nil && u.Scheme == "http" {
		return nil, fmt.Errorf("fetching chart %s from %s: %w", repo.Chart, u.Redacted(), ErrCredentialsOverHTTP)
	}
	var b []byte
	switch u.Scheme {
	case "http", "https":
		b, err = fetchFromIndex(ctx, httpClient, u, repo, auth)
	case "oci":
		b, err = fetchFromOCI(ctx, httpClient, u, repo, auth)
	default:
		err = fmt.Errorf("unsupported repository url scheme %q", u.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s %s from %s: %w", repo.Chart, repo.Version, repo.URL, err)
	}
	return b, nil
}

type repoIndex struct {
	Entries map[string][]struct {
		Version string   `json:"version"`
		URLs    []string `json:"urls"`
		Digest  string   `json:"digest"`
	} `json:"entries"`
}

func fetchFromIndex(ctx context.Context, c *http.Client, base *url.URL, repo v1alpha1.HelmRepository, ba *BasicAuth) ([]byte, error) {
	if !strings.HasSuffix(base.Path, "/") {
		base = base.JoinPath("/")
	}
	indexURL := base.JoinPath("index.yaml")
	raw, err := httpGet(ctx, c, indexURL, base, ba, maxIndexBytes)
	if err != nil {
		return nil, err
	}
	var idx repoIndex
	if err := yaml.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", indexURL, err)
	}
	entries, ok := idx.Entries[repo.Chart]
	if !ok {
		return nil, errors.New("no such chart in the repository index")
	}
	var versions []string
	for _, e := range entries {
		if !sameVersion(e.Version, repo.Version) {
			versions = append(versions, e.Version)
			continue
		}
		if len(e.URLs) == 0 {
			return nil, errors.New("the index lists no url for this version")
		}
		ref, err := url.Parse(e.URLs[0])
		if err != nil {
			return nil, fmt.Errorf("chart url: %w", err)
		}
		chartURL := base.ResolveReference(ref)
		b, err := httpGet(ctx, c, chartURL, base, ba, maxChartBytes)
		if err != nil {
			return nil, err
		}
		if e.Digest != "" {
			sum := sha256.Sum256(b)
			if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, strings.TrimPrefix(e.Digest, "sha256:")) {
				return nil, fmt.Errorf("%s has digest sha256:%s, the index says %s", chartURL.Redacted(), got, e.Digest)
			}
		}
		return b, nil
	}
	if len(versions) > 10 {
		versions = append(versions[:10], "…")
	}
	return nil, fmt.Errorf("no such version in the repository index (it has %s)", strings.Join(versions, ", "))
}

// sameVersion compares versions exactly, or as semantic versions ("v1.2.3" is "1.2.3").
func sameVersion(a, b string) bool {
	if a == b {
		return true
	}
	va, err := semver.StrictNewVersion(strings.TrimPrefix(a, "v"))
	if err != nil {
		return false
	}
	vb, err := semver.StrictNewVersion(strings.TrimPrefix(b, "v"))
	if err != nil {
		return false
	}
	return va.Equal(vb) && va.Metadata() == vb.Metadata()
}

// httpGet reads u, sending credentials only when u is on the repository's host.
func httpGet(ctx context.Context, c *http.Client, u, repo *url.URL, ba *BasicAuth, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if ba != nil && u.Scheme == "https" && u.Scheme == repo.Scheme && u.Host == repo.Host {
		req.SetBasicAuth(ba.Username, ba.Password)
		// net/http keeps the header on a redirect to the same host, even to http.
		cc := *c
		next := c.CheckRedirect
		cc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
			if r.URL.Scheme != "https" && r.Header.Get("Authorization") != "" {
				return fmt.Errorf("redirected to %s: %w", r.URL.Redacted(), ErrCredentialsOverHTTP)
			}
			if next != nil {
				return next(r, via)
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}
		c = &cc
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", u.Redacted(), limit)
	}
	return b, nil
}

func fetchFromOCI(ctx context.Context, c *http.Client, u *url.URL, repo v1alpha1.HelmRepository, ba *BasicAuth) ([]byte, error) {
	ref := strings.TrimSuffix(u.Host+u.Path, "/") + "/" + repo.Chart
	r, err := remote.NewRepository(ref)
	if err != nil {
		return nil, err
	}
	client := &auth.Client{Client: c, Cache: auth.NewCache()}
	if ba != nil {
		client.Credential = auth.StaticCredential(r.Reference.Registry, auth.Credential{Username: ba.Username, Password: ba.Password})
	}
	r.Client = client
	// OCI tags cannot hold "+"; Helm pushes 1.0.0+build as 1.0.0_build.
	tag := strings.ReplaceAll(repo.Version, "+", "_")
	_, manifest, err := oras.FetchBytes(ctx, r, tag, oras.DefaultFetchBytesOptions)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest: %w", err)
	}
	for _, l := range m.Layers {
		if l.MediaType != helmChartLayer {
			continue
		}
		if l.Size > maxChartBytes {
			return nil, fmt.Errorf("chart layer is larger than %d bytes", maxChartBytes)
		}
		// FetchAll verifies size and digest.
		return content.FetchAll(ctx, r.Blobs(), l)
	}
	return nil, fmt.Errorf("%s:%s is not a helm chart (no %s layer)", ref, tag, helmChartLayer)
}
