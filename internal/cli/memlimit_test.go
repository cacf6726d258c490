//go:build !agent

package cli

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "") // restored after the test
	_ = os.Unsetenv("AUTOMEMLIMIT")
	const gib = 1 << 30

	// 90% of the container's limit.
	got, err := setMemoryLimit(memlimit.Limit(gib))
	if err != nil || got != gib*9/10 || debug.SetMemoryLimit(-1) != got {
		t.Errorf("a 1 GiB container: limit %d (%v), runtime %d; want %d", got, err, debug.SetMemoryLimit(-1), gib*9/10)
	}

	// No limit on the container: none for the runtime either.
	debug.SetMemoryLimit(before)
	if got, err := setMemoryLimit(func() (uint64, error) { return 0, memlimit.ErrNoLimit }); err != nil || got != 0 {
		t.Errorf("a container without a limit: %d (%v), want 0", got, err)
	}

	// A ratio that is not one is an error, not a silent default.
	t.Setenv("AUTOMEMLIMIT", "most")
	if _, err := setMemoryLimit(memlimit.Limit(gib)); err == nil {
		t.Error("AUTOMEMLIMIT=most: no error")
	}
	_ = os.Unsetenv("AUTOMEMLIMIT")

	// GOMEMLIMIT, set by whoever runs the hub, wins: the container is not asked.
	t.Setenv("GOMEMLIMIT", "300MiB")
	asked := false
	if _, err := setMemoryLimit(func() (uint64, error) { asked = true; return gib, nil }); err != nil || asked || debug.SetMemoryLimit(-1) != before {
		t.Errorf("with GOMEMLIMIT set: asked the container %v (%v), runtime limit %d, want it untouched", asked, err, debug.SetMemoryLimit(-1))
	}
}
