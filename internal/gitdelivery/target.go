package gitdelivery

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// TargetOf is where a git-delivered cluster's files go, defaults applied and
// the path cleaned ("clusters/a/" and "./clusters/a" are clusters/a).
func TargetOf(cluster *fleetv1alpha1.Cluster) Target {
	g := cluster.Spec.Delivery.Git
	t := Target{URL: g.URL, Branch: g.Branch, Path: path.Clean(g.Path)}
	if t.Branch == "" {
		t.Branch = "main"
	}
	if g.Path == "" {
		t.Path = DefaultPath(cluster.Name)
	}
	return t
}

// checkPath refuses a cleaned path that is not a directory the hub can own:
// the repository's root (the hub would clear its own clone, .git included)
// or one inside .git (git keeps no files there).
func checkPath(p string) error {
	if p == "." || p == "" {
		return fmt.Errorf("path %q is the repository's root: give the cluster a directory of its own", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if strings.EqualFold(elem, ".git") {
			return fmt.Errorf("path %q is inside .git, where git keeps no files", p)
		}
	}
	return nil
}

// Overlap says how b's target shares files with a's (to follow "a cluster
// that has"), or "" when it does not. Everything under a cluster's path is the hub's for that cluster: a
// publish deletes what its Works do not account for. Two clusters on one
// repository and branch whose paths are one directory, or one inside the
// other, would each delete the other's files (and the GitOps tool of the one
// outside would apply the other's objects on its member).
func Overlap(a, b Target) string {
	if a.Branch != b.Branch || repoKey(a.URL) != repoKey(b.URL) {
		return ""
	}
	switch {
	case a.Path == b.Path:
		return fmt.Sprintf("the same path, %s", a.Path)
	case strings.HasPrefix(a.Path, b.Path+"/"):
		return fmt.Sprintf("path %s, which holds this cluster's %s", b.Path, a.Path)
	case strings.HasPrefix(b.Path, a.Path+"/"):
		return fmt.Sprintf("path %s, inside this cluster's %s", b.Path, a.Path)
	}
	return ""
}

// repoKey is a repository URL as a key: spellings of one repository that
// git treats alike compare equal (scheme and host case, user info, a default
// port, a trailing "/" or ".git"). Other aliases (another host name for the
// same server) the hub cannot know.
func repoKey(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && port != defaultPorts[scheme] {
		host += ":" + port
	}
	p := strings.TrimRight(path.Clean("/"+u.Path), "/")
	p = strings.TrimSuffix(p, ".git")
	return scheme + "://" + host + strings.TrimRight(p, "/")
}

var defaultPorts = map[string]string{"http": "80", "https": "443", "ssh": "22", "git": "9418"}
