package sim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// StartControlPlane starts a hub control plane (etcd + kube-apiserver, see
// internal/testenv) in dir, kube-apiserver with API Priority and Fairness
// and the extra apiserverArgs, and installs Flotilla's CRDs.
//
// testenv turns API Priority and Fairness off (tests start faster); a
// simulated fleet needs it on, as every production API server has it. Without
// it an overloaded server answers 429 to whatever exceeds its in-flight
// limit, thousands of agents retry, and the retries overload it further: at
// 10,000 clusters it refused 350,000 requests, Lease renewals among them, and
// the hub saw clusters go Offline. With it, agents' requests wait in fair
// queues (the hub's, as system:masters, are exempt) and none were refused
// during a rollout.
func StartControlPlane(ctx context.Context, dir string, apiserverArgs []string) (*testenv.ControlPlane, error) {
	args := append([]string{"--enable-priority-and-fairness=true"}, apiserverArgs...)
	cp, err := testenv.Start(ctx, testenv.Options{Name: "hub", Role: testenv.RoleHub, Dir: dir, StartTimeout: 2 * time.Minute,
		APIServerArgs: args})
	if err != nil {
		return nil, err
	}
	crds, err := crd.CRDs()
	if err == nil {
		err = cp.InstallCRDs(ctx, crds)
	}
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("installing CRDs on the hub: %w", err)
	}
	return cp, nil
}

// HubController is a running hub controller manager.
type HubController struct {
	// PID is the process of a separate controller; 0 when it runs in-process.
	PID  int
	stop func() error
}

// Stop stops the hub controller and waits until it has.
func (h *HubController) Stop() error { return h.stop() }

// RunHubInProcess runs the hub controller manager in this process, logging
// to logPath, until Stop.
func RunHubInProcess(config *rest.Config, opts hub.Options, logPath string) (*HubController, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the hub log: %w", err)
	}
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	log := zap.New(zap.WriteTo(logFile), zap.UseDevMode(false))
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	done := make(chan error, 1)
	go func() {
		done <- hub.Run(ctx, config, opts)
		_ = logFile.Close()
	}()
	return &HubController{stop: func() error {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}}, nil
}

// StartHubProcess runs `<binary> hub --kubeconfig kubeconfig args...` as a
// separate process (so its CPU and memory can be measured apart), with env
// added to this process's environment, logging to logPath. The process is
// killed if this one dies.
func StartHubProcess(binary, kubeconfig, logPath string, env []string, args ...string) (*HubController, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the hub log: %w", err)
	}
	cmd := exec.Command(binary, append([]string{"hub", "--kubeconfig", kubeconfig,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--zap-time-encoding", "rfc3339nano"}, args...)...) //nolint:gosec // our own binary
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// Pdeathsig fires when the thread that started the child exits, so that
	// thread stays locked to the goroutine waiting for the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
		_ = logFile.Close()
	}()
	if err := <-started; err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the hub controller: %w", err)
	}
	return &HubController{PID: cmd.Process.Pid, stop: func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			err = <-done
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && !exitErr.Exited() {
			return nil // ended by our signal
		}
		if err != nil {
			return fmt.Errorf("hub controller: %w", err)
		}
		return nil
	}}, nil
}

// ProcStats is what /proc says about a process.
type ProcStats struct {
	// CPU is user plus system time so far.
	CPU time.Duration
	// RSS and PeakRSS (VmHWM) in bytes.
	RSS, PeakRSS int64
}

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// ReadProc reads a process's CPU time and memory from /proc.
func ReadProc(pid int) (ProcStats, error) {
	var st ProcStats
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return st, fmt.Errorf("reading the stat of process %d: %w", pid, err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(data)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return st, fmt.Errorf("reading the stat of process %d: %d fields", pid, len(fields))
	}
	// utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, fmt.Errorf("reading the stat of process %d: %w", pid, err)
	}
	st.CPU = time.Duration(utime+stime) * clockTick

	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return st, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			st.RSS = kb << 10
		} else {
			st.PeakRSS = kb << 10
		}
	}
	return st, sc.Err()
}

// ProcessName is the command name of a process (/proc/<pid>/comm).
func ProcessName(pid int) string {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
