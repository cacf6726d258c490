package gitdelivery

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func gitClusterSpec(name, url, branch, path string) *fleetv1alpha1.Cluster {
	return &fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: fleetv1alpha1.ClusterSpec{Delivery: fleetv1alpha1.Delivery{
		Mode: fleetv1alpha1.DeliveryGit, Git: &fleetv1alpha1.GitDelivery{URL: url, Branch: branch, Path: path}}}}
}

// Two clusters on one repository and branch must not own one directory, nor
// one inside the other, however the path and the URL are spelled; sibling
// directories whose names share a prefix, another branch or another
// repository are no overlap.
func TestOverlap(t *testing.T) {
	const repo = "https://git.example.com/platform/fleet.git"
	for _, tt := range []struct {
		name    string
		a, b    *fleetv1alpha1.Cluster
		overlap bool
	}{
		{"default paths", gitClusterSpec("a", repo, "", ""), gitClusterSpec("b", repo, "", ""), false},
		{"a prefix of the name is no parent", gitClusterSpec("a", repo, "", "clusters/a"), gitClusterSpec("ab", repo, "", "clusters/ab"), false},
		{"the same path", gitClusterSpec("a", repo, "", "fleet/x"), gitClusterSpec("b", repo, "main", "fleet/x"), true},
		{"the same path spelled otherwise", gitClusterSpec("a", repo, "", "./fleet//x/"), gitClusterSpec("b", repo, "", "fleet/x"), true},
		{"the default path given", gitClusterSpec("a", repo, "", ""), gitClusterSpec("b", repo, "", "clusters/a"), true},
		{"a parent", gitClusterSpec("a", repo, "", ""), gitClusterSpec("b", repo, "", "clusters"), true},
		{"a child", gitClusterSpec("a", repo, "", ""), gitClusterSpec("b", repo, "", "clusters/a/shop"), true},
		{"another branch", gitClusterSpec("a", repo, "", "x"), gitClusterSpec("b", repo, "prod", "x"), false},
		{"another repository", gitClusterSpec("a", repo, "", "x"), gitClusterSpec("b", "https://git.example.com/platform/other.git", "", "x"), false},
		{"the repository spelled otherwise", gitClusterSpec("a", repo, "", "x"), gitClusterSpec("b", "HTTPS://tok:s3cret@Git.Example.com:443/platform/fleet/", "", "x"), true},
		{"another port", gitClusterSpec("a", repo, "", "x"), gitClusterSpec("b", "https://git.example.com:8443/platform/fleet.git", "", "x"), false},
		{"file URLs", gitClusterSpec("a", "file:///srv/git/fleet.git", "", "x/y"), gitClusterSpec("b", "file:///srv/git/./fleet.git/", "", "x"), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ab, ba := Overlap(TargetOf(tt.a), TargetOf(tt.b)), Overlap(TargetOf(tt.b), TargetOf(tt.a))
			if (ab != "") != tt.overlap || (ba != "") != tt.overlap {
				t.Errorf("overlap %q / %q, want %v", ab, ba, tt.overlap)
			}
		})
	}
}

// A path that is the repository's root would make the publish clear the
// hub's own clone (.git included); one inside .git holds no files git keeps.
func TestCheckPath(t *testing.T) {
	for p, ok := range map[string]bool{
		".": false, "./": false, "x/..": false, ".git": false, ".GIT/x": false, "x/.git/y": false,
		"clusters/a": true, "./clusters/a/": true, ".gitops/a": true,
	} {
		err := checkPath(TargetOf(gitClusterSpec("a", "file:///r", "", p)).Path)
		if (err == nil) != ok {
			t.Errorf("path %q: %v, want allowed %v", p, err, ok)
		}
	}
}
