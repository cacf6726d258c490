package gitdelivery

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// gitOut runs git in dir and returns its output, or fails the test.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin:/usr/local/bin", "GIT_CONFIG_NOSYSTEM=1"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// bareRepo creates an empty bare repository and returns its file:// URL and directory.
func bareRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fleet.git")
	gitOut(t, filepath.Dir(dir), "init", "-q", "--bare", dir)
	return "file://" + dir, dir
}

func testPublisher(t *testing.T) *Publisher {
	return &Publisher{Dir: t.TempDir(), AuthorName: "Flotilla", AuthorEmail: "flotilla@example.com"}
}

func publish(t *testing.T, p *Publisher, cluster string, tg Target, files map[string][]byte) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := p.Publish(ctx, cluster, tg, nil, files, "flotilla("+cluster+"): test\n")
	if err != nil {
		t.Fatalf("publishing %s: %v", cluster, err)
	}
	return res
}

// The first publish creates the branch; the same files again make no commit;
// files that leave are deleted; and files outside the path are kept.
func TestPublishCommitsOnlyChanges(t *testing.T) {
	url, dir := bareRepo(t)
	p := testPublisher(t)
	tg := Target{URL: url, Branch: "main", Path: "clusters/a"}

	first := publish(t, p, "a", tg, map[string][]byte{"clusters/a/x/ns/one.yaml": []byte("one: 1\n"), "clusters/a/x/ns/two.yaml": []byte("two: 2\n")})
	if !first.Pushed || first.Commit == "" {
		t.Fatalf("first publish: %+v", first)
	}
	again := publish(t, p, "a", tg, map[string][]byte{"clusters/a/x/ns/one.yaml": []byte("one: 1\n"), "clusters/a/x/ns/two.yaml": []byte("two: 2\n")})
	if again.Pushed || again.Commit != first.Commit {
		t.Errorf("publishing the same files: %+v, want no push at %s", again, first.Commit)
	}
	// Another writer adds a file elsewhere in the repository.
	other := testPublisher(t)
	publish(t, other, "b", Target{URL: url, Branch: "main", Path: "clusters/b"}, map[string][]byte{"clusters/b/f.yaml": []byte("b: 1\n")})

	third := publish(t, p, "a", tg, map[string][]byte{"clusters/a/x/ns/one.yaml": []byte("one: 2\n")})
	if !third.Pushed {
		t.Fatalf("third publish: %+v", third)
	}
	files := gitOut(t, dir, "ls-tree", "-r", "--name-only", "main")
	if files != "clusters/a/x/ns/one.yaml\nclusters/b/f.yaml" {
		t.Errorf("files on main:\n%s", files)
	}
	if got := gitOut(t, dir, "show", "main:clusters/a/x/ns/one.yaml"); got != "one: 2" {
		t.Errorf("one.yaml = %q", got)
	}
	if n := gitOut(t, dir, "rev-list", "--count", "main"); n != "3" {
		t.Errorf("%s commits on main, want 3", n)
	}
}

// Many clusters publishing to one branch at once: every push that is
// rejected as non-fast-forward is re-applied on the new head, so no commit
// is lost and history stays linear.
func TestConcurrentPublishesLoseNothing(t *testing.T) {
	url, dir := bareRepo(t)
	const clusters = 6
	var wg sync.WaitGroup
	results := make([]Result, clusters)
	errs := make([]error, clusters)
	for i := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a' + i))
			p := testPublisher(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			results[i], errs[i] = p.Publish(ctx, name, Target{URL: url, Branch: "main", Path: "clusters/" + name},
				nil, map[string][]byte{"clusters/" + name + "/f.yaml": []byte("c: " + name + "\n")}, "flotilla("+name+")\n")
		}()
	}
	wg.Wait()
	retries := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("cluster %d: %v", i, err)
		}
		retries += results[i].Attempts - 1
	}
	t.Logf("%d clusters, %d pushes retried after a rejection", clusters, retries)
	if n := gitOut(t, dir, "rev-list", "--count", "main"); n != "6" {
		t.Errorf("%s commits on main, want 6", n)
	}
	if merges := gitOut(t, dir, "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("merge commits: %s", merges)
	}
	if files := strings.Fields(gitOut(t, dir, "ls-tree", "-r", "--name-only", "main")); len(files) != clusters {
		t.Errorf("files on main: %v", files)
	}
}

// A publisher whose clone is behind retries on the rejection of its push.
func TestPublishRetriesOnNonFastForward(t *testing.T) {
	url, dir := bareRepo(t)
	a, b := testPublisher(t), testPublisher(t)
	publish(t, a, "a", Target{URL: url, Branch: "main", Path: "a"}, map[string][]byte{"a/f.yaml": []byte("1\n")})
	publish(t, b, "b", Target{URL: url, Branch: "main", Path: "b"}, map[string][]byte{"b/f.yaml": []byte("1\n")})
	// Move the branch under a's fetched head by pushing from a's own clone a
	// commit a has not fetched: a's next publish must fetch and re-apply.
	publish(t, b, "b", Target{URL: url, Branch: "main", Path: "b"}, map[string][]byte{"b/f.yaml": []byte("2\n")})
	res := publish(t, a, "a", Target{URL: url, Branch: "main", Path: "a"}, map[string][]byte{"a/f.yaml": []byte("2\n")})
	if !res.Pushed {
		t.Fatalf("%+v", res)
	}
	if got := gitOut(t, dir, "show", "main:b/f.yaml"); got != "2" {
		t.Errorf("b/f.yaml = %q: a's push lost b's commit", got)
	}
}

func TestUnreachableAndScrubbed(t *testing.T) {
	auth, err := NewAuth(map[string][]byte{SecretUsername: []byte("alice"), SecretPassword: []byte("s3cret-pw")}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := testPublisher(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = p.Publish(ctx, "x", Target{URL: "http://bob:s3cret-pw@127.0.0.1:1/fleet.git", Branch: "main", Path: "x"}, auth, nil, "m\n")
	var perr *Error
	if !errors.As(err, &perr) || perr.Reason != fleetv1alpha1.ReasonGitUnreachable {
		t.Fatalf("error %v, want GitUnreachable", err)
	}
	if strings.Contains(perr.Message, "s3cret-pw") {
		t.Errorf("the password leaked: %s", perr.Message)
	}
	if got := auth.Scrub("https://u:s3cret-pw@h/r Authorization: s3cret-pw"); strings.Contains(got, "s3cret-pw") || strings.Contains(got, "u:") {
		t.Errorf("scrubbed: %s", got)
	}
}
