package docs

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// runnablePages are the pages whose marked blocks TestRunDocs executes
// (see runbook_test.go for the markers). Each must have run blocks: a page
// that loses them fails, so a how-to cannot quietly stop being checked.
//
// docs/quickstart.md is not here: its story is `flotilla demo`, a program
// with its own tests (internal/demo), and its commands read that demo's state.
var runnablePages = []string{
	"howto/freeze-and-rollback.md",
	"howto/emergency-patch.md",
	"howto/deadline-upgrade.md",
	"howto/per-team-setup.md",
}

// runDocsMembers is the dev fleet every page runs on, as
// `flotilla dev up --members 3` starts it.
const runDocsMembers = 3

// blockTimeout bounds one run block; a page's waits carry their own,
// shorter, timeouts so a reader's copy does not hang either.
const blockTimeout = 3 * time.Minute

// TestRunDocs runs the how-tos: the marked blocks of each page, in order,
// against a dev fleet of its own (a hub running Flotilla's controllers and
// three members with their agents, started in-process as `flotilla dev up`
// does), with a freshly built flotilla and the pinned kubectl first on
// PATH, KUBECONFIG at the hub, and a working directory holding the files
// the page writes (.flotilla-dev there is the fleet's directory, as after
// `flotilla dev up --dir .flotilla-dev`). A page that stops working fails.
// A fleet per page keeps every page's story its own, whatever an earlier
// page left behind; the next page's fleet starts while a page runs, so
// that costs little time.
func TestRunDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the how-tos against dev fleets; not in -short")
	}
	// Fleets are alike: the one started here, while flotilla builds, serves
	// whichever page runs first; each page starts the next one's.
	next := startDevFleet()
	t.Cleanup(func() {
		if next != nil {
			(<-next).stop(t)
		}
	})
	// With -run naming one page, starting another fleet would waste it.
	prefetch := true
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
		prefetch = false
	}
	binDir := buildFlotillaForDocs(t)
	kubeDir, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	for i, page := range runnablePages {
		t.Run(strings.TrimSuffix(filepath.Base(page), ".md"), func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(docsDir, page))
			if err != nil {
				t.Fatal(err)
			}
			steps, err := parseRunbook(string(doc))
			if err != nil {
				t.Fatalf("%s: %v", page, err)
			}
			runs := 0
			for _, s := range steps {
				if s.kind == stepRun {
					runs++
				}
			}
			if runs == 0 {
				t.Fatalf("%s has no ```sh run block: it is listed as runnable", page)
			}
			started := next
			next = nil
			if started == nil {
				started = startDevFleet()
			}
			fleet := <-started
			t.Cleanup(func() { fleet.stop(t) })
			if fleet.err != nil {
				t.Fatalf("starting the dev fleet: %v", fleet.err)
			}
			t.Logf("%s: its dev fleet took %s to start (in the background, while flotilla built or the page before ran)", page, fleet.took.Round(time.Millisecond))
			if prefetch && i+1 < len(runnablePages) {
				next = startDevFleet()
			}
			runPage(t, page, steps, fleet.dir, binDir, kubeDir)
		})
	}
}

// devFleet is a dev fleet started for one page.
type devFleet struct {
	env  *devenv.Env
	dir  string
	took time.Duration
	err  error
}

// startDevFleet starts a dev fleet in the background.
func startDevFleet() <-chan devFleet {
	ch := make(chan devFleet, 1)
	go func() {
		start := time.Now()
		dir, err := os.MkdirTemp("", testenv.DirPrefix+"rundocs-")
		if err != nil {
			ch <- devFleet{err: err}
			return
		}
		env, err := devenv.Up(context.Background(), devenv.Options{
			Dir: dir, Members: runDocsMembers, Nodes: 1,
			// As quick as the e2e fleets: rollouts see health within seconds.
			HeartbeatInterval: time.Second, ResyncInterval: 5 * time.Second,
		})
		if err != nil {
			_ = os.RemoveAll(dir)
			ch <- devFleet{err: err}
			return
		}
		ch <- devFleet{env: env, dir: dir, took: time.Since(start)}
	}()
	return ch
}

// stop stops the fleet; its directory stays, for its logs, if t failed.
func (f devFleet) stop(t *testing.T) {
	if f.env == nil {
		return
	}
	f.env.Stop()
	if t.Failed() {
		t.Logf("the fleet's logs are kept in %s (hub/controller.log, member-N/agent.log)", f.dir)
		return
	}
	_ = os.RemoveAll(f.dir)
}

// runPage executes steps against the dev fleet in devDir.
func runPage(t *testing.T, page string, steps []step, devDir, binDir, kubeDir string) {
	start := time.Now()
	work := t.TempDir()
	if err := os.Symlink(devDir, filepath.Join(work, ".flotilla-dev")); err != nil {
		t.Fatal(err)
	}
	environ := append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+kubeDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+filepath.Join(devDir, devenv.HubKubeconfig),
		"FLOTILLA_KUBE_BIN="+kubeDir,
		"NO_COLOR=1",
	)
	// A reader runs the blocks in one shell: what a block exports (and
	// where it cd's to) carries over to the next, as there.
	state := filepath.Join(t.TempDir(), "shell-state")
	var lastOutput string
	for _, s := range steps {
		switch s.kind {
		case stepFile:
			if err := os.WriteFile(filepath.Join(work, s.name), []byte(s.body), 0o600); err != nil {
				t.Fatal(err)
			}
		case stepRun:
			began := time.Now()
			out, err := runBlock(work, environ, state, s.body)
			lastOutput = out
			t.Logf("%s:%d ran in %s", page, s.line, time.Since(began).Round(time.Millisecond))
			if err != nil {
				logFleetTails(t, devDir)
				t.Fatalf("%s:%d: the block failed: %v\n--- block\n%s--- output\n%s", page, s.line, err, s.body, out)
			}
		case stepExpect:
			if err := matchExpected(s.body, lastOutput); err != nil {
				logFleetTails(t, devDir)
				t.Fatalf("%s:%d: the output does not match the expected block: %v\n--- expected\n%s--- output\n%s", page, s.line, err, s.body, lastOutput)
			}
		}
	}
	t.Logf("%s: ran in %s", page, time.Since(start).Round(time.Millisecond))
}

// logFleetTails logs the end of the hub controller's and every agent's log:
// `make test` removes its TMPDIR, fleet directories included, when it ends.
func logFleetTails(t *testing.T, devDir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(devDir, "member-*", "agent.log"))
	for _, path := range append([]string{filepath.Join(devDir, "hub", "controller.log")}, logs...) {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		rel, _ := filepath.Rel(devDir, path)
		t.Logf("--- the last lines of %s\n%s", rel, strings.Join(lines, "\n"))
	}
}

// runBlock runs script with bash in dir and returns its combined output.
// The shell starts from the exported variables and working directory the
// previous block left in the file state, and leaves its own there. The
// script and everything it starts run in their own process group, which is
// killed when the block times out.
func runBlock(dir string, environ []string, state, script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	q := "'" + strings.ReplaceAll(state, "'", `'\''`) + "'"
	full := "if [ -f " + q + " ]; then source " + q + "; fi\n" +
		"set -eo pipefail\n" + script + "\n" +
		"{ export -p; printf 'cd %q\\n' \"$PWD\"; } > " + q + "\n"
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", full)
	cmd.Dir, cmd.Env = dir, environ
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %s: %w", blockTimeout, errors.Join(err, ctx.Err()))
	}
	return out.String(), err
}

// buildFlotillaForDocs builds the flotilla binary (and kubectl-flotilla)
// into a directory for PATH.
func buildFlotillaForDocs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "flotilla")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/flotilla-dev/flotilla/cmd/flotilla")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building flotilla: %v\n%s", err, out)
	}
	if err := os.Link(bin, filepath.Join(dir, "kubectl-flotilla")); err != nil {
		t.Fatal(err)
	}
	return dir
}
