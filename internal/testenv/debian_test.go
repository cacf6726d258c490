package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without apt-get, the install says why it cannot be done (and the tests
// that need the package skip with that reason).
func TestInstallDebianPackageWithoutAptGetSaysWhy(t *testing.T) {
	err := InstallDebianPackage(t, "chromium", filepath.Join(t.TempDir(), "chromium"), "flotilla-test-no-such-apt-get")
	if err == nil || !strings.Contains(err.Error(), "no apt-get") {
		t.Errorf("install without apt-get: %v", err)
	}
	if err := InstallDebianPackage(t, "chromium", os.Args[0], "flotilla-test-no-such-apt-get"); err != nil {
		t.Errorf("a program that exists is not installed again, yet: %v", err)
	}
}
