package gitdelivery

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Keys of a git credentials Secret (spec.delivery.git.secretRef).
const (
	// SecretUsername is the HTTP(S) user name; "git" when only a password or token is given.
	SecretUsername = "username"
	// SecretPassword is the HTTP(S) password.
	SecretPassword = "password"
	// SecretToken is an access token, used as the HTTP(S) password.
	SecretToken = "token"
	// SecretIdentity is an SSH private key.
	SecretIdentity = "identity"
	// SecretKnownHosts are the SSH server's host keys, required with identity.
	SecretKnownHosts = "known_hosts"
)

// defaultUsername is the HTTP user sent with a password or token alone.
const defaultUsername = "git"

// Auth is how git authenticates to one repository. Credentials reach git
// through its environment only (GIT_CONFIG_* for an HTTP Authorization header,
// GIT_SSH_COMMAND naming key files): never in a URL or an argument, so they
// appear in no process list, remote configuration, status or log. Scrub
// removes them from anything git prints.
type Auth struct {
	gitEnv  []string
	secrets []string
}

// NewAuth returns the Auth for a Secret's data; nil data means anonymous. SSH
// keys are written under dir (mode 0600), which the caller removes with
// the clone.
func NewAuth(data map[string][]byte, dir string) (*Auth, error) {
	a := &Auth{}
	if len(data) == 0 {
		return a, nil
	}
	user := string(data[SecretUsername])
	pass := string(data[SecretPassword])
	if pass == "" {
		pass = string(data[SecretToken])
	}
	if pass != "" {
		if user == "" {
			user = defaultUsername
		}
		basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		a.gitEnv = append(a.gitEnv, configEnv(map[string]string{
			"http.extraHeader": "Authorization: Basic " + basic,
		})...)
		a.secrets = append(a.secrets, pass, basic)
	}
	if identity := data[SecretIdentity]; len(identity) > 0 {
		knownHosts := data[SecretKnownHosts]
		if len(knownHosts) == 0 {
			return nil, fmt.Errorf("the secret has %q but no %q: the hub does not trust unknown SSH hosts", SecretIdentity, SecretKnownHosts)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the SSH key directory: %w", err)
		}
		idFile, hostsFile := filepath.Join(dir, "identity"), filepath.Join(dir, "known_hosts")
		if err := os.WriteFile(idFile, identity, 0o600); err != nil {
			return nil, fmt.Errorf("writing the SSH identity: %w", err)
		}
		if err := os.WriteFile(hostsFile, knownHosts, 0o600); err != nil {
			return nil, fmt.Errorf("writing the SSH known hosts: %w", err)
		}
		a.gitEnv = append(a.gitEnv, "GIT_SSH_COMMAND=ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes"+
			" -i "+shellQuote(idFile)+" -o UserKnownHostsFile="+shellQuote(hostsFile))
		a.secrets = append(a.secrets, string(identity))
	}
	return a, nil
}

// configEnv passes git configuration through GIT_CONFIG_COUNT/KEY/VALUE
// (git 2.31+), which git reads like command-line -c options.
func configEnv(config map[string]string) []string {
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(config))}
	i := 0
	for k, v := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, k), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, v))
		i++
	}
	return env
}

func (a *Auth) env() []string {
	if a == nil {
		return nil
	}
	return a.gitEnv
}

// userInfo matches credentials embedded in a URL (scheme://user:pass@host).
var userInfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// Scrub removes the credentials, and any user info in URLs, from s.
func (a *Auth) Scrub(s string) string {
	s = userInfo.ReplaceAllString(s, "${1}***@")
	if a == nil {
		return s
	}
	for _, secret := range a.secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
