package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

var (
	installsMu sync.Mutex
	installs   = map[string]error{}
)

// NeedDebianPackage returns path, installing Debian's package pkg first when
// path is missing (as root, through apt-get, updating the package lists if the
// first try fails); once per test binary and package. If that fails the test
// is skipped with a message nobody can miss. The real parts the tests use
// (chromium for the dashboard, prometheus for verification checks) come this
// way; `make test` installs them before the tests run.
func NeedDebianPackage(t interface {
	TB
	Name() string
	Skip(args ...any)
}, pkg, path string) string {
	t.Helper()
	installsMu.Lock()
	err, done := installs[pkg]
	if !done {
		err = InstallDebianPackage(t, pkg, path, "apt-get")
		installs[pkg] = err
	}
	installsMu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("SKIPPING %s: %s (Debian's %s) is missing and could not be installed: %v", t.Name(), path, pkg, err)
		banner := strings.Repeat("!", 78)
		fmt.Fprintf(os.Stderr, "\n%s\n%s\n%s\n\n", banner, msg, banner)
		t.Skip(msg)
	}
	return path
}

// InstallDebianPackage installs pkg with aptGet unless path exists.
func InstallDebianPackage(t TB, pkg, path, aptGet string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if _, err := exec.LookPath(aptGet); err != nil {
		return fmt.Errorf("no apt-get to install Debian's %s package with: %w", pkg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run := func(args ...string) error {
		start := time.Now()
		cmd := exec.CommandContext(ctx, aptGet, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		t.Logf("apt-get %s: %s (%v)", strings.Join(args, " "), time.Since(start).Round(time.Second), err)
		if err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLines(out, 5))
		}
		return nil
	}
	install := []string{"install", "-y", "--no-install-recommends", pkg}
	if err := run(install...); err != nil {
		// The package lists may be missing or stale.
		if uerr := run("update"); uerr != nil {
			return errors.Join(err, uerr)
		}
		if err := run(install...); err != nil {
			return err
		}
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s was installed, but not as %s: %w", pkg, path, err)
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
