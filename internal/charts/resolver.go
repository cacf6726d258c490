// Package charts resolves the Helm chart a Promise or PromiseRevision names
// (inline, in a ConfigMap, or in a chart repository, with credentials only
// from Secrets marked for it) and caches it. The Promise and instance
// controllers share one Resolver; internal/chartfetch does the repository
// I/O and internal/render loads the archives.
package charts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/chartfetch"
	"github.com/flotilla-dev/flotilla/internal/render"
)

// Error is a chart that cannot be resolved. Permanent errors (a missing
// ConfigMap or key, an archive that does not load) need a person; the others
// (a repository that does not answer) are retried.
type Error struct {
	Permanent bool
	// Reason is the condition reason to report; ReasonChartNotFound when empty.
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// maxCached bounds the loaded charts the hub keeps in memory.
const maxCached = 64

// Resolver resolves the Helm chart of a Promise or PromiseRevision and caches
// it: archives from repositories by url, chart and version (an exact version
// names one archive), archives from ConfigMaps by resourceVersion, loaded
// charts by the archive's SHA-256. It is safe for concurrent use; the Promise
// and instance controllers share one.
type Resolver struct {
	// Reader reads ConfigMaps and Secrets; the hub passes its API reader, so
	// their data is not cached by the manager.
	Reader client.Reader
	// Meta, when set, reads ConfigMap metadata from a cache, so a ConfigMap
	// whose resourceVersion did not change is not read again.
	Meta client.Reader
	// HTTP fetches from chart repositories; nil means a client with a 60s timeout.
	HTTP *http.Client

	mu       sync.Mutex
	archives map[string][]byte
	loaded   map[[32]byte]*render.LoadedChart
	order    [][32]byte
}

// NewResolver returns the Resolver the hub's controllers share: Secrets and
// ConfigMaps read from the API server, ConfigMap metadata from the manager's
// cache.
func NewResolver(mgr ctrl.Manager, httpClient *http.Client) *Resolver {
	return &Resolver{Reader: mgr.GetAPIReader(), Meta: mgr.GetCache(), HTTP: httpClient}
}

// SnapshotPrefix starts the name of the immutable ConfigMaps (in the
// platform namespace) that hold charts snapshotted for PromiseRevisions.
const SnapshotPrefix = "flotilla-chart-"

// SnapshotKey is the key of the chart in a snapshot ConfigMap.
const SnapshotKey = "chart.tgz"

// SnapshotName names the snapshot ConfigMap of archive: content-addressed.
func SnapshotName(archive []byte) string {
	sum := sha256.Sum256(archive)
	return SnapshotPrefix + hex.EncodeToString(sum[:])[:20]
}

// snapshotNameOfDigest is SnapshotName of the archive whose digest
// ("sha256:<hex>") is given.
func snapshotNameOfDigest(digest string) string {
	sum := strings.TrimPrefix(digest, digestPrefix)
	return SnapshotPrefix + sum[:min(20, len(sum))]
}

const digestPrefix = "sha256:"

// Digest is the digest a revision records of a repository chart's archive.
func Digest(archive []byte) string {
	sum := sha256.Sum256(archive)
	return digestPrefix + hex.EncodeToString(sum[:])
}

// maxSnapshotBytes is the largest archive kept in a snapshot ConfigMap (the
// API server stores at most 1 MiB in one); a larger repository chart is only
// checked against its revision's digest at each download.
const maxSnapshotBytes = 1<<20 - 16<<10

// Snapshot returns the content a PromiseRevision records, and the chart
// archive to store in the snapshot the content names, if any. A chart from a
// ConfigMap is replaced by a reference to an immutable, content-addressed
// snapshot ConfigMap (SnapshotName), so the revision does not change when the
// ConfigMap does (a changed ConfigMap makes a new revision instead). A chart
// from a repository keeps its reference and gets the digest of the archive
// downloaded, kept in the snapshot named by that digest: a version
// republished with other content is a new revision, and each revision renders
// with its own archive whatever the repository serves later (the hub
// downloads a version once per process, so it would otherwise render the
// revisions the fleet runs with the new archive after a restart, on every
// cluster at once). Inline charts are content already.
func (c *Resolver) Snapshot(ctx context.Context, content *fleetv1alpha1.PromiseContent) (*fleetv1alpha1.PromiseContent, []byte, error) {
	out := content.DeepCopy()
	h := helmOf(out)
	switch {
	case h == nil:
		return out, nil, nil
	case h.ConfigMapRef != nil:
		archive, err := c.configMapChart(ctx, h.ConfigMapRef)
		if err != nil {
			return nil, nil, err
		}
		h.ConfigMapRef = &fleetv1alpha1.ConfigMapKeyReference{
			Name: SnapshotName(archive), Namespace: fleetv1alpha1.PlatformNamespace, Key: SnapshotKey,
		}
		return out, archive, nil
	case h.Repository != nil:
		archive, err := c.repositoryChart(ctx, h.Repository)
		if err != nil {
			return nil, nil, err
		}
		h.Repository.Digest = Digest(archive)
		if len(archive) > maxSnapshotBytes {
			return out, nil, nil
		}
		return out, archive, nil
	}
	return out, nil, nil
}

// SnapshotRef names the snapshot ConfigMap that holds the chart of a
// revision's content, nil when it has none.
func SnapshotRef(content *fleetv1alpha1.PromiseContent) *fleetv1alpha1.ConfigMapKeyReference {
	h := helmOf(content)
	switch {
	case h == nil:
		return nil
	case h.ConfigMapRef != nil:
		return h.ConfigMapRef
	case h.Repository != nil && h.Repository.Digest != "":
		return &fleetv1alpha1.ConfigMapKeyReference{
			Name: snapshotNameOfDigest(h.Repository.Digest), Namespace: fleetv1alpha1.PlatformNamespace, Key: SnapshotKey,
		}
	}
	return nil
}

// Load returns the loaded chart content renders with; nil when it does not
// use the Helm engine.
func (c *Resolver) Load(ctx context.Context, content *fleetv1alpha1.PromiseContent) (*render.LoadedChart, error) {
	h := helmOf(content)
	if h == nil {
		return nil, nil
	}
	var archive []byte
	var err error
	switch {
	case h.Inline != "":
		if archive, err = base64.StdEncoding.DecodeString(h.Inline); err != nil {
			err = &Error{Permanent: true, Err: fmt.Errorf("helm: decoding the inline chart: %w", err)}
		}
	case h.ConfigMapRef != nil:
		archive, err = c.configMapChart(ctx, h.ConfigMapRef)
	case h.Repository != nil && h.Repository.Digest != "":
		archive, err = c.revisionChart(ctx, h.Repository)
	case h.Repository != nil:
		archive, err = c.repositoryChart(ctx, h.Repository)
	default:
		err = &Error{Permanent: true, Err: errors.New("helm: no chart source")}
	}
	if err != nil {
		return nil, err
	}
	return c.load(archive)
}

func helmOf(content *fleetv1alpha1.PromiseContent) *fleetv1alpha1.HelmTemplate {
	if content == nil || content.Templates == nil || content.Templates.Engine != fleetv1alpha1.TemplateEngineHelm {
		return nil
	}
	return content.Templates.Helm
}

// LoadArchive loads a packaged chart, from the cache when it was loaded before.
func (c *Resolver) LoadArchive(archive []byte) (*render.LoadedChart, error) { return c.load(archive) }

func (c *Resolver) load(archive []byte) (*render.LoadedChart, error) {
	sum := sha256.Sum256(archive)
	c.mu.Lock()
	if lc, ok := c.loaded[sum]; ok {
		c.mu.Unlock()
		return lc, nil
	}
	c.mu.Unlock()
	lc, err := render.LoadChart(archive)
	if err != nil {
		return nil, &Error{Permanent: true, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded == nil {
		c.loaded = map[[32]byte]*render.LoadedChart{}
	}
	if _, ok := c.loaded[sum]; !ok {
		c.loaded[sum] = lc
		c.order = append(c.order, sum)
		if len(c.order) > maxCached {
			delete(c.loaded, c.order[0])
			c.order = c.order[1:]
		}
	}
	return lc, nil
}

func (c *Resolver) configMapChart(ctx context.Context, ref *fleetv1alpha1.ConfigMapKeyReference) ([]byte, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = fleetv1alpha1.PlatformNamespace
	}
	key := ref.Key
	if key == "" {
		key = SnapshotKey
	}
	nn := types.NamespacedName{Namespace: ns, Name: ref.Name}
	if c.Meta != nil {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMap"))
		if err := c.Meta.Get(ctx, nn, m); err == nil {
			if archive, ok := c.cached("cm\x00" + nn.String() + "\x00" + key + "\x00" + m.ResourceVersion); ok {
				return archive, nil
			}
		}
	}
	cm := &corev1.ConfigMap{}
	if err := c.Reader.Get(ctx, nn, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &Error{Permanent: true, Err: fmt.Errorf("helm chart: ConfigMap %s not found", nn)}
		}
		return nil, &Error{Err: fmt.Errorf("helm chart: reading ConfigMap %s: %w", nn, err)}
	}
	archive, ok := cm.BinaryData[key]
	if !ok {
		s, ok := cm.Data[key]
		if !ok {
			return nil, &Error{Permanent: true, Err: fmt.Errorf("helm chart: ConfigMap %s has no key %q", nn, key)}
		}
		archive = []byte(s)
	}
	c.remember("cm\x00"+nn.String()+"\x00"+key+"\x00"+cm.ResourceVersion, archive)
	return archive, nil
}

func (c *Resolver) cached(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.archives[key]
	return b, ok
}

// remember caches an archive under key, evicting an arbitrary one when full
// (a miss only costs a read).
func (c *Resolver) remember(key string, archive []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.archives == nil {
		c.archives = map[string][]byte{}
	}
	if len(c.archives) >= maxCached {
		for k := range c.archives {
			delete(c.archives, k)
			break
		}
	}
	c.archives[key] = archive
}

func (c *Resolver) repositoryChart(ctx context.Context, repo *fleetv1alpha1.HelmRepository) ([]byte, error) {
	key := "repo\x00" + repo.URL + "\x00" + repo.Chart + "\x00" + repo.Version
	if archive, ok := c.cached(key); ok {
		return archive, nil
	}
	auth, err := c.repositoryAuth(ctx, repo)
	if err != nil {
		return nil, err
	}
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 60 * time.Second}
	}
	archive, err := chartfetch.Fetch(ctx, httpClient, *repo, auth)
	if err != nil {
		return nil, &Error{Err: err}
	}
	if err := checkDigest(repo, archive); err != nil {
		return nil, err
	}
	c.remember(key, archive)
	return archive, nil
}

// checkDigest refuses an archive other than the one repo's digest names.
func checkDigest(repo *fleetv1alpha1.HelmRepository, archive []byte) error {
	if repo.Digest == "" {
		return nil
	}
	if got := Digest(archive); got != repo.Digest {
		return &Error{Permanent: true, Err: fmt.Errorf("helm chart %s %s from %s: the repository serves an archive of digest %s, not %s "+
			"(a version republished with other content; publish a new version instead, or name its digest)",
			repo.Chart, repo.Version, redacted(repo.URL), got, repo.Digest)}
	}
	return nil
}

// revisionChart returns the archive of a revision's repository chart: the
// one its digest names, from the snapshot the hub kept when it made the
// revision, or, when there is none (an archive too large for one), downloaded
// again and checked.
func (c *Resolver) revisionChart(ctx context.Context, repo *fleetv1alpha1.HelmRepository) ([]byte, error) {
	ref := &fleetv1alpha1.ConfigMapKeyReference{Name: snapshotNameOfDigest(repo.Digest), Namespace: fleetv1alpha1.PlatformNamespace, Key: SnapshotKey}
	archive, err := c.configMapChart(ctx, ref)
	var ce *Error
	if errors.As(err, &ce) && ce.Permanent {
		archive, err = c.repositoryChart(ctx, repo)
	}
	if err != nil {
		return nil, err
	}
	if err := checkDigest(repo, archive); err != nil {
		return nil, err
	}
	return archive, nil
}

// redacted is a repository url without its credentials, if any.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the repository"
	}
	return u.Redacted()
}

// repositoryAuth reads the credentials repo names, refusing a Secret that is
// not marked for chart repositories (LabelChartCredentials), a repository
// host the Secret does not list (AnnotationChartCredentialsHosts), and plain
// http: otherwise a Promise could send any Secret the hub can read to any URL.
func (c *Resolver) repositoryAuth(ctx context.Context, repo *fleetv1alpha1.HelmRepository) (*chartfetch.BasicAuth, error) {
	ref := repo.SecretRef
	if ref == nil {
		return nil, nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = fleetv1alpha1.PlatformNamespace
	}
	refused := func(format string, args ...any) error {
		return &Error{Permanent: true, Reason: fleetv1alpha1.ReasonChartCredentialsRefused,
			Err: fmt.Errorf("helm repository credentials: Secret %s/%s: "+format, append([]any{ns, ref.Name}, args...)...)}
	}
	u, err := url.Parse(repo.URL)
	if err != nil {
		return nil, &Error{Permanent: true, Err: fmt.Errorf("helm repository url: %w", err)}
	}
	if u.Scheme != "https" && u.Scheme != "oci" {
		return nil, refused("not sent to %s: %v", u.Redacted(), chartfetch.ErrCredentialsOverHTTP)
	}
	s := &corev1.Secret{}
	if err := c.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &Error{Permanent: true, Err: fmt.Errorf("helm repository credentials: Secret %s/%s not found", ns, ref.Name)}
		}
		return nil, &Error{Err: fmt.Errorf("helm repository credentials: reading Secret %s/%s: %w", ns, ref.Name, err)}
	}
	if s.Labels[fleetv1alpha1.LabelChartCredentials] != "true" {
		return nil, refused("not marked for chart repositories (label %s=true)", fleetv1alpha1.LabelChartCredentials)
	}
	if !hostAllowed(s.Annotations[fleetv1alpha1.AnnotationChartCredentialsHosts], u) {
		return nil, refused("may not be sent to %s (annotation %s lists the hosts it may be sent to)",
			u.Host, fleetv1alpha1.AnnotationChartCredentialsHosts)
	}
	return &chartfetch.BasicAuth{Username: string(s.Data["username"]), Password: string(s.Data["password"])}, nil
}

// hostAllowed reports whether u's host is in hosts, a comma-separated list
// of host or host:port (a bare host allows any port).
func hostAllowed(hosts string, u *url.URL) bool {
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h != "" && (strings.EqualFold(h, u.Host) || strings.EqualFold(h, u.Hostname())) {
			return true
		}
	}
	return false
}
