// Package membership joins member clusters to the hub and removes them:
// `flotilla join` and `flotilla unjoin` delegate here. Join creates a
// cluster's Cluster object, its hub namespace and the agent's identity with
// exactly the rights the agent needs; it returns a token-based kubeconfig for
// the agent and can render the manifests that install the agent on the member.
package membership

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Token lifetimes. The platform sets the lifetime of an agent's tokens at
// join (JoinOptions.TokenTTL); the agent renews its own token before it
// expires, with exactly that lifetime, and an admission policy on the hub
// refuses it a longer one (see tokenPolicy).
const (
	DefaultTokenTTL = 24 * time.Hour
	// MinTokenTTL is the API server's minimum for a TokenRequest.
	MinTokenTTL = 10 * time.Minute
	// MaxTokenTTL bounds the lifetime join accepts: the agent rotates its
	// token, so a long-lived one only widens what a stolen token is worth.
	MaxTokenTTL = 30 * 24 * time.Hour
)

// FieldManager owns, through server-side apply, what join writes on the hub.
const FieldManager = "flotilla-join"

// JoinOptions describe a member cluster to join.
type JoinOptions struct {
	// Name of the cluster: a DNS label of at most MaxClusterNameLength characters.
	Name string
	// Labels of the Cluster (env, region, tier, …). Re-running join with other
	// labels sets these and removes those an earlier join set; labels set by
	// other means (kubectl label) are kept.
	Labels map[string]string
	// Delivery mode: Agent (default) or Git.
	Delivery fleetv1alpha1.DeliveryMode
	// Git is where the hub commits this cluster's manifests; required for Git delivery.
	Git *fleetv1alpha1.GitDelivery
	// TokenTTL is the lifetime of the agent's token; DefaultTokenTTL when zero,
	// between MinTokenTTL and MaxTokenTTL. The API server may shorten it
	// (--service-account-max-token-expiration); Joined.TokenExpiry is the truth.
	TokenTTL time.Duration
	// HubServer overrides the URL agents use to reach the hub; by default the
	// host of the hub rest.Config join runs with. Set it when that address is
	// not reachable from members (a load balancer, an in-cluster service address).
	HubServer string
	// ReuseName joins a name that unjoin removed before. Without it, join
	// refuses such a name: the old cluster's agent may still hold a watch of
	// the name's namespace open, which would receive the new cluster's Works
	// (see UnjoinedClustersConfigMap). Set it only once the hub's API servers
	// have restarted since that unjoin.
	ReuseName bool
	// RevokeTokens replaces the agent's ServiceAccount, which revokes every
	// token issued for it before: join's, the agent's renewals, and those a
	// leaked copy of its kubeconfig minted (a valid token may mint another,
	// so without it an earlier token lives for as long as its holder renews
	// it). The running agent is refused until it gets the new kubeconfig.
	RevokeTokens bool
}

// Joined is the result of a join.
type Joined struct {
	// Cluster as stored on the hub.
	Cluster *fleetv1alpha1.Cluster
	// Namespace on the hub holding the cluster's Works, Lease and ServiceAccount.
	Namespace string
	// HubKubeconfig is a token-based kubeconfig for the agent, scoped by RBAC
	// to the cluster's namespace and its own Cluster.
	HubKubeconfig []byte
	// TokenExpiry is when the token in HubKubeconfig expires.
	TokenExpiry time.Time
	// RevokedTokens says that JoinOptions.RevokeTokens replaced an existing
	// ServiceAccount: every earlier token of the agent is refused.
	RevokedTokens bool
}

// normalize validates opts and fills in defaults. Errors name the flag or
// field at fault.
func (o JoinOptions) normalize() (JoinOptions, error) {
	var errs []error
	if err := ValidateName(o.Name); err != nil {
		errs = append(errs, err)
	}
	keys := make([]string, 0, len(o.Labels))
	for k := range o.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(o.Labels[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("label %s value %q: %s", k, o.Labels[k], strings.Join(msgs, "; ")))
		}
	}
	if o.Delivery == "" {
		o.Delivery = fleetv1alpha1.DeliveryAgent
	}
	switch o.Delivery {
	case fleetv1alpha1.DeliveryAgent:
		if o.Git != nil {
			errs = append(errs, errors.New("git settings are only allowed with delivery Git"))
		}
	case fleetv1alpha1.DeliveryGit:
		errs = append(errs, validateGit(o.Git)...)
	default:
		errs = append(errs, fmt.Errorf("delivery %q: must be Agent or Git", o.Delivery))
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.TokenTTL < MinTokenTTL || o.TokenTTL > MaxTokenTTL {
		errs = append(errs, fmt.Errorf("token TTL %s: must be between %s and %s", o.TokenTTL, MinTokenTTL, MaxTokenTTL))
	}
	if o.HubServer != "" {
		if u, err := url.Parse(o.HubServer); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("hub server %q: must be an https:// URL", o.HubServer))
		}
	}
	return o, errors.Join(errs...)
}

// hasCredentials reports whether a git URL holds a secret: a password, or
// any user of http(s), where a token is often given as the user. An ssh
// user name (git@) is no secret. The API server refuses the same URLs.
func hasCredentials(u *url.URL) bool {
	if u.User == nil {
		return false
	}
	_, hasPassword := u.User.Password()
	return hasPassword || u.Scheme == "http" || u.Scheme == "https"
}

// ValidateName checks a cluster name; see v1alpha1.ValidateClusterName.
func ValidateName(name string) error { return fleetv1alpha1.ValidateClusterName(name) }

func validateGit(git *fleetv1alpha1.GitDelivery) []error {
	if git == nil || git.URL == "" {
		return []error{errors.New("git delivery needs a repository URL (--git-url)")}
	}
	var errs []error
	u, err := url.Parse(git.URL)
	switch {
	case err != nil || !slices.Contains([]string{"https", "http", "ssh", "git", "file"}, u.Scheme):
		errs = append(errs, fmt.Errorf("git URL %q: must start with https://, http://, ssh://, git:// or file://", git.URL))
	case hasCredentials(u):
		// Not quoted: that would print the credentials.
		errs = append(errs, errors.New("git URL: must not hold credentials (user:password@, or a token as the http(s) user): "+
			"teams may read Clusters; put them in a Secret (--git-secret)"))
	}
	if strings.HasPrefix(git.Path, "/") || strings.Contains(git.Path, "..") {
		errs = append(errs, fmt.Errorf("git path %q: must be relative and must not contain '..'", git.Path))
	}
	switch git.HealthSource {
	case "", fleetv1alpha1.GitHealthAgent, fleetv1alpha1.GitHealthNone:
	default:
		errs = append(errs, fmt.Errorf("git health source %q: must be Agent or None", git.HealthSource))
	}
	return errs
}
