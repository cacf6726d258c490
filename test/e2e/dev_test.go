package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/devenv"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// The story: an engineer runs `flotilla dev up --members 2`, sees Ready kwok
// nodes with kubectl, a second `dev up` on the same directory is refused, and
// `flotilla dev down` leaves no process behind.
func TestDevUpAndDown(t *testing.T) {
	flotilla := buildFlotilla(t)
	kubectl := kubectlPath(t)
	dir, err := os.MkdirTemp("", testenv.DirPrefix+"dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	// What an agent of an earlier run here recorded is stale (every start wipes
	// the members' etcd): dev up must not hand it to the new agents.
	stale := filepath.Join(dir, devenv.MemberName(1), "agent-state", "stale")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}

	up := exec.Command(flotilla, "dev", "up", "--members", "2", "--nodes", "2", "--dir", dir)
	upLog := filepath.Join(dir, "up.log")
	logFile, err := os.Create(upLog)
	if err != nil {
		t.Fatal(err)
	}
	up.Stdout, up.Stderr = logFile, logFile
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() {
		_ = up.Process.Kill()
		if t.Failed() {
			out, _ := os.ReadFile(upLog)
			t.Logf("dev up output:\n%s", out)
		}
	})

	deadline := time.After(2 * time.Minute)
	for !fileExists(filepath.Join(dir, devenv.ReadyFile)) {
		select {
		case err := <-exited:
			t.Fatalf("dev up exited before READY: %v", err)
		case <-deadline:
			t.Fatal("dev up not READY within 2 minutes")
		case <-time.After(200 * time.Millisecond):
		}
	}

	if fileExists(stale) {
		t.Errorf("the earlier run's agent state %s survived dev up", stale)
	}

	for _, name := range []string{"hub", devenv.MemberName(1), devenv.MemberName(2)} {
		if !fileExists(filepath.Join(dir, name+".kubeconfig")) {
			t.Errorf("%s.kubeconfig not written", name)
		}
	}
	nodes := run(t, kubectl, "--kubeconfig", filepath.Join(dir, "member-2.kubeconfig"), "get", "nodes", "--no-headers")
	if got := strings.Count(nodes, " Ready "); got != 2 {
		t.Errorf("member-2 has %d Ready nodes, want 2:\n%s", got, nodes)
	}
	crds := run(t, kubectl, "--kubeconfig", filepath.Join(dir, "hub.kubeconfig"), "get", "crds", "-o", "name")
	if !strings.Contains(crds, "rollouts.fleet.flotilla.dev") {
		t.Errorf("Flotilla CRDs not installed on the hub:\n%s", crds)
	}

	second := exec.Command(flotilla, "dev", "up", "--members", "1", "--dir", dir)
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "already runs") {
		t.Errorf("second dev up on the same dir: err=%v output=%s", err, out)
	}

	children := childPIDs(t, up.Process.Pid)
	if len(children) != 2+2*5 {
		t.Errorf("dev up runs %d child processes, want 12 (hub: 2, each member: 5)", len(children))
	}
	run(t, flotilla, "dev", "down", "--dir", dir)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("dev up exited with %v after dev down", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev up still running after dev down")
	}
	for _, pid := range children {
		if testenv.ProcessAlive(pid) {
			t.Errorf("process %d left behind by dev down", pid)
		}
	}
	if fileExists(filepath.Join(dir, devenv.ReadyFile)) {
		t.Error("READY left behind by dev down")
	}
}

func buildFlotilla(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flotilla")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/flotilla-dev/flotilla/cmd/flotilla")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building flotilla: %v\n%s", err, out)
	}
	// The binary finds the control-plane binaries next to itself or via the env.
	kubeDir, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLOTILLA_KUBE_BIN", kubeDir)
	return bin
}

func kubectlPath(t *testing.T) string {
	t.Helper()
	dir, err := testenv.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "kubectl")
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// childPIDs lists the direct children of pid from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
