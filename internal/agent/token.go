package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Token rotation. `flotilla join` gives the agent a bounded-lifetime token
// for its hub ServiceAccount. The agent copies it into its state directory,
// points its hub client at that file (client-go re-reads it every minute),
// and before 80% of the token's lifetime has passed requests a new one for
// itself with the TokenRequest API (RBAC: serviceaccounts/token create, on
// its own ServiceAccount only) and writes it over the file. A restart picks
// the newer of the file's token and the kubeconfig's.
//
// The lifetime of every token it requests is that of the token `flotilla
// join` issued (in the kubeconfig): the platform sets it with --token-ttl.
// The hub's admission policy (membership.AgentTokenPolicy) refuses the
// agent's identity any longer token, whoever asks with it.

const (
	tokenFileName = "hub-token"
	// tokenRefreshFraction of a token's lifetime passes before it is renewed
	// (what the kubelet does for projected tokens).
	tokenRefreshFraction = 0.8
	// minTokenLifetime is the API server's minimum for TokenRequest.
	minTokenLifetime = 10 * time.Minute
)

// tokenClaims are the parts of a ServiceAccount token the agent schedules by.
// The agent does not verify the signature: the hub does.
type tokenClaims struct {
	Subject   string `json:"sub"`
	Expiry    int64  `json:"exp"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	// Kubernetes holds the ServiceAccount's UID: `flotilla join
	// --revoke-tokens` replaces the ServiceAccount, and a token of the old
	// one is refused whatever its expiry.
	Kubernetes struct {
		ServiceAccount struct {
			UID string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

func (c tokenClaims) expiry() time.Time { return time.Unix(c.Expiry, 0) }

// lifetime is what the token was issued for, at least minTokenLifetime.
func (c tokenClaims) lifetime() time.Duration {
	issued := c.IssuedAt
	if issued == 0 {
		issued = c.NotBefore
	}
	return max(time.Duration(c.Expiry-issued)*time.Second, minTokenLifetime)
}

// refreshAt is when a token should be replaced.
func (c tokenClaims) refreshAt() time.Time {
	return c.expiry().Add(-time.Duration(float64(c.lifetime()) * (1 - tokenRefreshFraction)))
}

// parseToken reads the claims of a JWT without verifying it.
func parseToken(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenClaims{}, fmt.Errorf("decoding JWT payload: %w", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, fmt.Errorf("decoding JWT claims: %w", err)
	}
	if c.Expiry == 0 {
		return tokenClaims{}, errors.New("token has no expiry")
	}
	return c, nil
}

// agentSubject is the token subject of a cluster's agent ServiceAccount.
func agentSubject(cluster string) string {
	return "system:serviceaccount:" + fleetv1alpha1.ClusterNamespace(cluster) + ":" + fleetv1alpha1.AgentServiceAccount
}

// tokenRotator renews the agent's hub token before it expires.
type tokenRotator struct {
	path    string
	cluster string
	claims  tokenClaims
	// lifetime is what each new token is requested for: the lifetime of the
	// token join issued.
	lifetime time.Duration
	kube     *hubKube
	now      func() time.Time
}

// setupTokenRotation returns the hub configuration to use and, when the
// configuration authenticates with a token of the cluster's agent
// ServiceAccount, a rotator for it. Other credentials (client certificates,
// someone else's token) are used as they are, and never rotated.
func setupTokenRotation(config *rest.Config, stateDir, cluster string, now time.Time) (*rest.Config, *tokenRotator, error) {
	token := config.BearerToken
	if token == "" && config.BearerTokenFile != "" {
		data, err := os.ReadFile(config.BearerTokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("reading hub token file: %w", err)
		}
		token = strings.TrimSpace(string(data))
	}
	claims, err := parseToken(token)
	if token == "" || err != nil || claims.Subject != agentSubject(cluster) {
		return config, nil, nil
	}
	lifetime := claims.lifetime()

	dir := filepath.Join(stateDir, cluster)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, tokenFileName)
	// A token rotated before a restart outlives the kubeconfig's; a re-join
	// gives a newer kubeconfig token than the file's. A file's token of
	// another ServiceAccount (replaced since: join --revoke-tokens, or unjoin
	// and join again) is revoked, however long it would last.
	if data, err := os.ReadFile(path); err == nil {
		saved := strings.TrimSpace(string(data))
		if c, err := parseToken(saved); err == nil && c.Subject == claims.Subject &&
			c.Kubernetes.ServiceAccount.UID == claims.Kubernetes.ServiceAccount.UID && c.expiry().After(claims.expiry()) && c.expiry().After(now) {
			token, claims = saved, c
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := writeFileAtomic(path, []byte(token)); err != nil {
		return nil, nil, fmt.Errorf("writing hub token: %w", err)
	}

	config = rest.CopyConfig(config)
	config.BearerToken = ""
	config.BearerTokenFile = path
	kube, err := newHubKube(config)
	if err != nil {
		return nil, nil, err
	}
	return config, &tokenRotator{path: path, cluster: cluster, claims: claims, lifetime: lifetime, kube: kube, now: time.Now}, nil
}

// createToken requests a token for the agent's own ServiceAccount that
// lasts seconds (the API's default when nil).
func (r *tokenRotator) createToken(ctx context.Context, seconds *int64) (*authenticationv1.TokenRequest, error) {
	return r.kube.createToken(ctx, fleetv1alpha1.ClusterNamespace(r.cluster), fleetv1alpha1.AgentServiceAccount, seconds)
}

// run renews the token at refreshAt, retrying with jittered backoff, until
// ctx is done.
func (r *tokenRotator) run(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx)
	backoff := time.Second
	for {
		wait := r.claims.refreshAt().Sub(r.now())
		if wait > 0 {
			backoff = time.Second
		} else {
			wait = backoff
			backoff = min(2*backoff, 5*time.Minute)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait + time.Duration(jitterRand()*float64(wait)/10)):
		}
		if r.claims.refreshAt().After(r.now()) {
			continue
		}
		if err := r.refresh(ctx); err != nil {
			if r.now().After(r.claims.expiry()) {
				log.Error(err, "hub token expired and could not be renewed; re-run `flotilla join` for new credentials")
			} else {
				log.Error(err, "renewing hub token; retrying", "expires", r.claims.expiry())
			}
			continue
		}
		log.Info("renewed hub token", "expires", r.claims.expiry())
	}
}

// refresh requests a new token for the agent's ServiceAccount, with the
// lifetime join set, and writes it to the token file.
func (r *tokenRotator) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, hubRequestTimeout)
	defer cancel()
	seconds := int64(r.lifetime / time.Second)
	tr, err := r.createToken(ctx, &seconds)
	if err != nil {
		return fmt.Errorf("requesting a token for %s: %w", agentSubject(r.cluster), err)
	}
	claims, err := parseToken(tr.Status.Token)
	if err != nil {
		return fmt.Errorf("reading the new token: %w", err)
	}
	if err := writeFileAtomic(r.path, []byte(tr.Status.Token)); err != nil {
		return fmt.Errorf("writing hub token: %w", err)
	}
	r.claims = claims
	return nil
}
