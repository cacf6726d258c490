package gitdelivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// The git CLI, not a Go library: it is on every machine and image that runs
// the hub, speaks every transport and auth scheme the servers do, and its
// behaviour on non-fast-forward pushes is the one operators know. Each
// cluster gets a clone of its own under the publisher's directory; the
// Cluster controller's queue never runs two reconciles of one cluster at
// once, so clones need no locks.

// Target is where one cluster's files go.
type Target struct {
	URL    string
	Branch string
	// Path is the directory, relative to the repository root, the hub owns.
	Path string
}

// Result is what a publish did.
type Result struct {
	// Commit is the branch head holding the files: the new commit, or the
	// existing head when the files were already there.
	Commit string
	// Pushed is true when a new commit was pushed.
	Pushed bool
	// Attempts is the number of pushes tried (more than one after non-fast-forward rejections).
	Attempts int
}

// Error is a publish failure with the Cluster condition reason it maps to.
// Its message is scrubbed of credentials.
type Error struct {
	Reason  string
	Message string
	// Detail is what the remote answered, when Message does not quote it:
	// the platform's to read (the hub's log and its Event on the Cluster,
	// in namespace default), not every team's, as Message is on the
	// Cluster's status.
	Detail string
}

func (e *Error) Error() string { return e.Message }

// MaxPushAttempts bounds the pushes of one publish: after a non-fast-forward
// rejection the publisher fetches the new head, re-applies the files on it
// and pushes again.
const MaxPushAttempts = 8

// commandTimeout bounds one git command.
const commandTimeout = 2 * time.Minute

// gitWaitDelay is how long a cancelled git command's output may stay open
// (held by the helpers it started) before Run gives up on it.
const gitWaitDelay = 5 * time.Second

// Publisher writes cluster files to git repositories from clones under Dir.
type Publisher struct {
	// Dir holds one clone per cluster, and serves as git's HOME.
	Dir string
	// Author names the commits' author and committer.
	AuthorName, AuthorEmail string
}

// Publish makes the files under t.Path in branch t.Branch exactly files
// (paths relative to the repository root, all under t.Path) with at most one
// new commit, and pushes it. Everything else in the repository is kept.
//
// On a non-fast-forward rejection (someone else pushed, e.g. another
// cluster's publish to the same branch) it fetches the new head and
// re-applies the files on top of it rather than rebasing its commit: the hub
// owns t.Path outright, so its desired files are the whole truth for that
// directory and re-applying them cannot conflict, while a rebase would replay
// a commit computed against a head that no longer exists.
func (p *Publisher) Publish(ctx context.Context, cluster string, t Target, auth *Auth, files map[string][]byte, message string) (Result, error) {
	return p.PublishPlanned(ctx, cluster, t, auth, func(func() (map[string][]byte, error)) (map[string][]byte, error) {
		return files, nil
	}, message)
}

// PublishPlanned is Publish with the files planned from what the branch
// holds: plan is called after each fetch with a reader of the files under
// t.Path in the commit the new one will follow (read only if plan asks), so
// that a retry after a rejected push plans again from what won.
func (p *Publisher) PublishPlanned(ctx context.Context, cluster string, t Target, auth *Auth,
	plan func(previous func() (map[string][]byte, error)) (map[string][]byte, error), message string) (Result, error) {
	g := &gitCmd{dir: filepath.Join(p.Dir, cluster), home: p.Dir, auth: auth,
		author: []string{"GIT_AUTHOR_NAME=" + p.AuthorName, "GIT_AUTHOR_EMAIL=" + p.AuthorEmail,
			"GIT_COMMITTER_NAME=" + p.AuthorName, "GIT_COMMITTER_EMAIL=" + p.AuthorEmail}}
	if err := g.ensureClone(ctx, t.URL); err != nil {
		return Result{}, err
	}
	res := Result{}
	for res.Attempts < MaxPushAttempts {
		parent, err := g.fetch(ctx, t.Branch)
		if err != nil {
			return res, err
		}
		files, err := plan(func() (map[string][]byte, error) { return g.files(ctx, parent, t.Path) })
		if err != nil {
			return res, err
		}
		commit, changed, err := g.commit(ctx, parent, t.Path, files, message)
		if err != nil {
			return res, err
		}
		if !changed {
			res.Commit = parent
			return res, nil
		}
		res.Attempts++
		err = g.push(ctx, commit, t.Branch)
		if errors.Is(err, errRejected) {
			// Writers that collided spread out before fetching again.
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(res.Attempts) * int64(100*time.Millisecond)))):
			}
			continue
		}
		if err != nil {
			return res, err
		}
		res.Commit, res.Pushed = commit, true
		return res, nil
	}
	return res, &Error{Reason: fleetv1alpha1.ReasonGitPushFailed,
		Message: fmt.Sprintf("push to %s rejected %d times: the branch keeps moving", t.Branch, MaxPushAttempts)}
}

// Forget removes a cluster's clone (the cluster left git delivery or was deleted).
func (p *Publisher) Forget(cluster string) error {
	if err := os.RemoveAll(filepath.Join(p.Dir, ".ssh", cluster)); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(p.Dir, cluster))
}

var errRejected = errors.New("push rejected: not a fast-forward")

type gitCmd struct {
	dir, home string
	auth      *Auth
	author    []string
}

// run runs git in the clone with stdin and returns its trimmed stdout; a
// failure's message is git's stderr, scrubbed of credentials.
func (g *gitCmd) run(ctx context.Context, stdin []byte, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	// git runs its helpers (remote-http, ssh, pack-objects) as children that
	// hold its output pipes: a cancelled command kills them all, in their own
	// process group, so that it returns at once (and no helper goes on
	// talking to the remote for the hub that stopped). WaitDelay is the
	// bound in case one escaped the group: without it Run would wait for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = gitWaitDelay
	cmd.Dir = g.dir
	cmd.Env = append(g.env(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		if ctx.Err() != nil {
			msg = "timed out: " + msg
		}
		return "", &gitError{op: args[0], stderr: g.auth.Scrub(msg)}
	}
	return strings.TrimSpace(stdout.String()), nil
}

// gitError is a failed git command; stderr is already scrubbed.
type gitError struct {
	op, stderr string
}

func (e *gitError) Error() string { return "git " + e.op + ": " + e.stderr }

// env is git's whole environment: no system or user config, no prompts, a
// C locale so messages can be classified, only network transports a Cluster
// may name, plus the credentials' settings.
func (g *gitCmd) env() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + g.home,
		"LANG=C", "LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
		"GIT_ALLOW_PROTOCOL=file:http:https:ssh:git",
		"GIT_HTTP_LOW_SPEED_LIMIT=1000",
		"GIT_HTTP_LOW_SPEED_TIME=60",
	}
	return append(env, g.auth.env()...)
}

// ensureClone makes dir a repository whose origin is url. It is a plain
// init, not a clone: only the branch is fetched, and no checkout is needed
// (see commit).
func (g *gitCmd) ensureClone(ctx context.Context, url string) error {
	if _, err := os.Stat(filepath.Join(g.dir, ".git")); err == nil {
		if _, err := g.run(ctx, nil, nil, "remote", "set-url", "origin", url); err != nil {
			return &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
		}
		return nil
	}
	if err := os.MkdirAll(g.dir, 0o700); err != nil {
		return &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: fmt.Sprintf("creating the clone directory: %v", err)}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"config", "core.autocrlf", "false"},
		{"config", "commit.gpgsign", "false"},
		{"config", "gc.auto", "256"},
		{"remote", "add", "origin", url},
	} {
		if _, err := g.run(ctx, nil, nil, args...); err != nil {
			_ = os.RemoveAll(g.dir)
			return &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
		}
	}
	return nil
}

// fetch brings the remote branch's head and returns it; "" when the branch
// does not exist yet (it will be created).
func (g *gitCmd) fetch(ctx context.Context, branch string) (string, error) {
	ref := "refs/remotes/origin/" + branch
	_, err := g.run(ctx, nil, nil, "fetch", "-q", "--no-tags", "origin", "+refs/heads/"+branch+":"+ref)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "couldn't find remote ref") {
			_, _ = g.run(ctx, nil, nil, "update-ref", "-d", ref)
			return "", nil
		}
		return "", classify(err, fleetv1alpha1.ReasonGitUnreachable)
	}
	head, err := g.run(ctx, nil, nil, "rev-parse", "--verify", ref+"^{commit}")
	if err != nil {
		return "", &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
	}
	return head, nil
}

// commit builds the tree of parent with dir replaced by files and, when it
// differs from parent's, a commit of it. The index starts as parent's tree
// and the working tree holds only dir, so nothing else is ever checked out.
func (g *gitCmd) commit(ctx context.Context, parent, dir string, files map[string][]byte, message string) (string, bool, error) {
	fail := func(err error) (string, bool, error) {
		return "", false, &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
	}
	if parent == "" && len(files) == 0 {
		return "", false, nil // nothing to write, and no branch to create for it
	}
	readTree := []string{"read-tree", "--empty"}
	if parent != "" {
		readTree = []string{"read-tree", parent}
	}
	if _, err := g.run(ctx, nil, nil, readTree...); err != nil {
		return fail(err)
	}
	if err := writeFiles(g.dir, dir, files); err != nil {
		return fail(err)
	}
	if _, err := g.run(ctx, nil, nil, "rm", "-r", "-q", "-f", "--cached", "--ignore-unmatch", "--", dir); err != nil {
		return fail(err)
	}
	if len(files) > 0 {
		if _, err := g.run(ctx, nil, nil, "add", "-f", "--", dir); err != nil {
			return fail(err)
		}
	}
	tree, err := g.run(ctx, nil, nil, "write-tree")
	if err != nil {
		return fail(err)
	}
	if parent != "" {
		parentTree, err := g.run(ctx, nil, nil, "rev-parse", parent+"^{tree}")
		if err != nil {
			return fail(err)
		}
		if parentTree == tree {
			return "", false, nil
		}
	}
	args := []string{"commit-tree", tree, "-F", "-"}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	commit, err := g.run(ctx, []byte(message), g.author, args...)
	if err != nil {
		return fail(err)
	}
	return commit, true, nil
}

// writeFiles makes the working tree's dir hold exactly files.
func writeFiles(root, dir string, files map[string][]byte) error {
	if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(dir))); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", p, err)
		}
		if err := os.WriteFile(full, files[p], 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", p, err)
		}
	}
	return nil
}

// push pushes commit to branch; errRejected when the branch moved meanwhile.
func (g *gitCmd) push(ctx context.Context, commit, branch string) error {
	_, err := g.run(ctx, nil, nil, "push", "-q", "origin", commit+":refs/heads/"+branch)
	if err == nil {
		return nil
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "non-fast-forward") || strings.Contains(msg, "fetch first") ||
		strings.Contains(msg, "cannot lock ref") || strings.Contains(msg, "failed to update ref") {
		return errRejected
	}
	perr := classify(err, fleetv1alpha1.ReasonGitPushFailed)
	if perr.Reason == fleetv1alpha1.ReasonGitPushFailed {
		// The remote refused what it received (a hook, a secret scanner, a
		// size limit): its answer names the cluster's files, of every team's
		// instances, and may quote them; every team reads Clusters.
		perr.Message, perr.Detail = "git push: the remote refused the push; its answer is in the hub's log and "+
			"its GitPushFailed Event on the Cluster", perr.Message
	}
	return perr
}

var (
	authFailure = regexp.MustCompile(`authentication failed|could not read (username|password)|terminal prompts disabled|` +
		`returned error: 40[13]|http 40[13]|permission denied \(publickey|invalid username or password|invalid credentials`)
	unreachable = regexp.MustCompile(`could not resolve host|connection refused|failed to connect|couldn't connect|timed out|` +
		`does not appear to be a git repository|repository not found|not found|no route to host|network is unreachable|` +
		`could not read from remote repository|unable to access|host key verification failed`)
)

// classify maps a failed git command to a Cluster condition reason:
// GitAuthFailed, GitUnreachable, or fallback.
func classify(err error, fallback string) *Error {
	msg := err.Error()
	lower := strings.ToLower(msg)
	switch {
	case authFailure.MatchString(lower):
		return &Error{Reason: fleetv1alpha1.ReasonGitAuthFailed, Message: msg}
	case unreachable.MatchString(lower):
		return &Error{Reason: fleetv1alpha1.ReasonGitUnreachable, Message: msg}
	}
	return &Error{Reason: fallback, Message: msg}
}

// files returns the files under dir in commit head (nil for no head): what
// the cluster's directory holds before a publish, from which Plan tells which
// Work wrote an object first.
func (g *gitCmd) files(ctx context.Context, head, dir string) (map[string][]byte, error) {
	if head == "" {
		return nil, nil
	}
	fail := func(err error) (map[string][]byte, error) {
		return nil, &Error{Reason: fleetv1alpha1.ReasonGitPushFailed, Message: err.Error()}
	}
	list, err := g.run(ctx, nil, nil, "ls-tree", "-r", "-z", "--name-only", head, "--", dir)
	if err != nil {
		return fail(err)
	}
	var paths []string
	var batch bytes.Buffer
	for _, f := range strings.Split(list, "\x00") {
		if f == "" || strings.ContainsAny(f, "\n\r") {
			continue
		}
		paths = append(paths, f)
		fmt.Fprintf(&batch, "%s:%s\n", head, f)
	}
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := g.run(ctx, batch.Bytes(), nil, "cat-file", "--batch")
	if err != nil {
		return fail(err)
	}
	files := make(map[string][]byte, len(paths))
	rest := out
	for _, f := range paths {
		header, after, ok := strings.Cut(rest, "\n")
		if !ok && header == "" {
			break
		}
		fields := strings.Fields(header)
		if len(fields) != 3 || fields[1] != "blob" {
			rest = after
			continue // missing, or not a file (a submodule)
		}
		size, err := strconv.Atoi(fields[2])
		if err != nil || size < 0 {
			return fail(fmt.Errorf("reading %s: bad cat-file header %q", f, header))
		}
		size = min(size, len(after)) // run trims the output's end
		files[f] = []byte(after[:size])
		rest = strings.TrimPrefix(after[size:], "\n")
	}
	return files, nil
}
