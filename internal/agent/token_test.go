package agent

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// fakeJWT builds an unsigned token with the given claims (the agent never
// verifies signatures; the hub does).
func fakeJWT(sub string, iat, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"sub": sub, "iat": iat.Unix(), "exp": exp.Unix()})
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
	if err != nil || readFile() != rotated || !r.claims.expiry().Equal(now.Add(44*time.Hour)) {
		t.Errorf("rotated token not kept: %v %q", err, readFile())
	}
	// …and a re-join's newer kubeconfig token wins over it.
	rejoined := fakeJWT(sub, now.Add(30*time.Hour), now.Add(54*time.Hour))
	_, _, err = setupTokenRotation(&rest.Config{Host: "https://hub", BearerToken: rejoined}, dir, cluster, now.Add(30*time.Hour))
	if err != nil || readFile() != rejoined {
		t.Errorf("re-joined token not used: %v %q", err, readFile())
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
