//go:build unix

package rollout_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system, every thread) this process used
// so far, so benchmarks can report CPU rather than wall time on a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
