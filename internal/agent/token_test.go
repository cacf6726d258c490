package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

// fakeJWT builds an unsigned token with the given claims (the agent never
// verifies signatures; the hub does).
func fakeJWT(sub string, iat, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": exp.Unix()})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
}

// fakeJWTOf is fakeJWT of the ServiceAccount with uid.
func fakeJWTOf(sub, uid string, iat, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": exp.Unix(),
		"kubernetes.io": map[string]any{"serviceaccount": map[string]any{"name": "flotilla-agent", "uid": uid}}})
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
}

func TestParseToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c, err := parseToken(fakeJWT("system:serviceaccount:ns:sa", now, now.Add(24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "system:serviceaccount:ns:sa" || c.lifetime() != 24*time.Hour {
		t.Errorf("claims %+v lifetime %s", c, c.lifetime())
	}
	if got, want := c.refreshAt(), now.Add(24*time.Hour*8/10); !got.Equal(want) {
		t.Errorf("refreshAt %s, want %s (80%% of the lifetime)", got, want)
	}
	short, _ := parseToken(fakeJWT("s", now, now.Add(time.Minute)))
	if short.lifetime() != minTokenLifetime {
		t.Errorf("lifetime %s, want the minimum", short.lifetime())
	}
	for _, bad := range []string{"", "abc", "a.b.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`)) + ".c"} {
		if _, err := parseToken(bad); err == nil {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}

func TestSetupTokenRotation(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	const cluster = "edge-1"
	sub := agentSubject(cluster)
	if sub != "system:serviceaccount:flotilla-cluster-edge-1:"+fleetv1alpha1.AgentServiceAccount {
		t.Fatalf("subject %s", sub)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, cluster, tokenFileName)
	readFile := func() string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	// Not the agent's token, or no token at all: used as is, no rotation.
	for _, cfg := range []*rest.Config{
		{Host: "https://hub", BearerToken: fakeJWT("system:serviceaccount:other:admin", now, now.Add(time.Hour))},
		{Host: "https://hub", BearerToken: "static-token"},
		{Host: "https://hub", TLSClientConfig: rest.TLSClientConfig{CertData: []byte("x")}},
	} {
		got, r, err := setupTokenRotation(cfg, dir, cluster, now)
		if err != nil || r != nil || got != cfg {
			t.Errorf("config %+v: rotator %v, err %v", cfg, r, err)
		}
	}

	// The agent's token moves to the state directory.
	day := fakeJWT(sub, now, now.Add(24*time.Hour))
	cfg, r, err := setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: day}, dir, cluster, now)
	if err != nil || r == nil {
		t.Fatalf("rotator %v, err %v", r, err)
	}
	if cfg.BearerToken != "" || cfg.BearerTokenFile != path || readFile() != day {
		t.Errorf("config %+v, file %q", cfg, readFile())
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %s", info.Mode())
	}

	// A later start with the same kubeconfig keeps a newer rotated token…
	rotated := fakeJWT(sub, now.Add(20*time.Hour), now.Add(44*time.Hour))
	if err := os.WriteFile(path, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	_, r, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: day}, dir, cluster, now.Add(21*time.Hour))
	if err != nil || readFile() != rotated || !r.claims.expiry().Equal(now.Add(44*time.Hour)) || r.lifetime != 24*time.Hour {
		t.Errorf("rotated token not kept: %v %q", err, readFile())
	}
	// …and a re-join's newer kubeconfig token wins over it.
	rejoined := fakeJWT(sub, now.Add(30*time.Hour), now.Add(54*time.Hour))
	_, _, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: rejoined}, dir, cluster, now.Add(30*time.Hour))
	if err != nil || readFile() != rejoined {
		t.Errorf("re-joined token not used: %v %q", err, readFile())
	}
	// A re-join with a shorter --token-ttl: the longer-lived token on file
	// stays until it expires, but renewals ask for the new lifetime only.
	shorter := fakeJWT(sub, now.Add(31*time.Hour), now.Add(32*time.Hour))
	_, r, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: shorter}, dir, cluster, now.Add(31*time.Hour))
	if err != nil || readFile() != rejoined || r.lifetime != time.Hour {
		t.Errorf("after a re-join with a 1h token: file %q, renewal lifetime %s, %v; want the rejoined token kept, 1h", readFile(), r.lifetime, err)
	}
	// A re-join with --revoke-tokens (a new ServiceAccount) and a shorter
	// --token-ttl: the token on file is revoked, however long it would last.
	old := fakeJWTOf(sub, "uid-old", now.Add(40*time.Hour), now.Add(64*time.Hour))
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	revoked := fakeJWTOf(sub, "uid-new", now.Add(41*time.Hour), now.Add(42*time.Hour))
	_, _, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: revoked}, dir, cluster, now.Add(41*time.Hour))
	if err != nil || readFile() != revoked {
		t.Errorf("after join --revoke-tokens: the revoked token on file was kept over the new ServiceAccount's (%v)", err)
	}
	// A token file (projected volume style) works as the source too.
	src := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(src, []byte(fakeJWT(sub, now, now.Add(100*time.Hour))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, r, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerTokenFile: src}, dir, cluster, now)
	if err != nil || r == nil || !strings.HasSuffix(readFile(), ".sig") {
		t.Errorf("token file source: %v %v %q", r, err, readFile())
	}
}

// Against a real hub: the agent's own RBAC lets it mint its next token, and
// the hub client keeps working on the rotated token file.
func TestTokenRotationAgainstTheHub(t *testing.T) {
	e := newEnv(t)
	const cluster = "rotate"
	creds := e.join(t, cluster)
	mustf(t, e.hubClient.Create(e.ctx, work(cluster, "w")), "creating work")

	cfg, r, err := setupTokenRotation(creds, t.TempDir(), cluster, time.Now())
	mustf(t, err, "setting up rotation")
	if r == nil {
		t.Fatal("no rotator for the agent's own token")
	}
	before, _ := os.ReadFile(r.path)
	oldExpiry := r.claims.expiry()
	time.Sleep(1100 * time.Millisecond) // a later iat, so a different token
	mustf(t, r.refresh(e.ctx), "renewing the token")
	after, _ := os.ReadFile(r.path)
	if string(after) == string(before) || !r.claims.expiry().After(oldExpiry) {
		t.Fatalf("token not renewed: expiry %s → %s", oldExpiry, r.claims.expiry())
	}
	if r.claims.lifetime() != time.Hour {
		t.Errorf("renewed lifetime %s, want the original hour", r.claims.lifetime())
	}
	// A fresh client reads the renewed token from the file.
	h, err := newHubClient(cfg, cluster)
	mustf(t, err, "creating hub client")
	if err := h.fleet.Get().Namespace(fleetv1alpha1.ClusterNamespace(cluster)).Resource("works").Name("w").Do(e.ctx).Error(); err != nil {
		t.Errorf("reading own work with the renewed token: %v", err)
	}
}

// Joined by `flotilla join` with the shortest lifetime the API server issues
// (10 minutes): the agent renews its token before it expires, each time for
// exactly that lifetime, and keeps reaching the hub on the renewed tokens,
// also once the clock has passed the first token's expiry. The hub's
// admission policy refuses the agent's identity a longer token. (The API
// server issues nothing shorter than 10 minutes, so the rotator's clock is
// moved instead of waiting.)
func TestTokenRotationWithinTheJoinLifetime(t *testing.T) {
	e := newEnv(t)
	const cluster = "rotate-bound"
	ttl := membership.MinTokenTTL
	joined, err := membership.Join(e.ctx, e.hub.RESTConfig, membership.JoinOptions{Name: cluster, TokenTTL: ttl})
	mustf(t, err, "joining")
	creds, err := clientcmd.RESTConfigFromKubeConfig(joined.HubKubeconfig)
	mustf(t, err, "reading the agent's kubeconfig")
	mustf(t, e.hubClient.Create(e.ctx, work(cluster, "w")), "creating work")

	start := time.Now()
	var offset atomic.Int64
	cfg, r, err := setupTokenRotation(creds, t.TempDir(), cluster, start)
	mustf(t, err, "setting up rotation")
	if r == nil || r.lifetime != ttl {
		t.Fatalf("rotator %+v, want one renewing for %s", r, ttl)
	}
	r.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	first := r.claims
	h, err := newHubClient(cfg, cluster)
	mustf(t, err, "creating hub client")
	readWork := func() error {
		return h.fleet.Get().Namespace(fleetv1alpha1.ClusterNamespace(cluster)).Resource("works").Name("w").Do(e.ctx).Error()
	}

	// The agent's identity may not mint a longer token, nor one without a
	// lifetime (the API's default is an hour). The policy takes a moment to load.
	longer := func(seconds *int64) error {
		_, err := r.createToken(e.ctx, seconds)
		return err
	}
	tenYears := int64(10 * 365 * 24 * 3600)
	var refused error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if refused = longer(&tenYears); refused != nil {
			break
		}
	}
	if !apierrors.IsForbidden(refused) || !strings.Contains(refused.Error(), "at most 600 seconds") {
		t.Fatalf("a ten-year token for the agent: %v, want Forbidden by the lifetime policy", refused)
	}
	for _, seconds := range []*int64{ptr.To(int64(ttl/time.Second) + 1), nil} {
		if err := longer(seconds); !apierrors.IsForbidden(err) {
			t.Errorf("a token of %v seconds for the agent: %v, want Forbidden", seconds, err)
		}
	}

	run := func(at time.Duration, what string) tokenClaims {
		t.Helper()
		before := r.path
		data, _ := os.ReadFile(before)
		offset.Store(int64(at))
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan struct{})
		go func() { r.run(ctx); close(done) }()
		var claims tokenClaims
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			now, _ := os.ReadFile(r.path)
			if string(now) != string(data) {
				claims, err = parseToken(string(now))
				mustf(t, err, "reading the renewed token")
				break
			}
		}
		cancel()
		<-done
		if claims.Expiry == 0 {
			t.Fatalf("%s: the token was not renewed", what)
		}
		if claims.lifetime() != ttl {
			t.Errorf("%s: renewed for %s, want the join lifetime %s", what, claims.lifetime(), ttl)
		}
		if err := readWork(); err != nil {
			t.Errorf("%s: reading own work on the renewed token: %v", what, err)
		}
		return claims
	}
	second := run(time.Until(first.refreshAt())+time.Second, "at 80% of the first token's lifetime")
	if !second.expiry().After(first.expiry()) {
		t.Errorf("the renewed token expires %s, not after the first (%s)", second.expiry(), first.expiry())
	}
	run(time.Until(first.expiry())+time.Minute, "past the first token's expiry")
}
