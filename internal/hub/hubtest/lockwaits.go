package hubtest

import (
	"bytes"
	"runtime"
	"strings"
)

// lockWaitStates are the goroutine states of a wait on a mutex.
var lockWaitStates = []string{"[sync.Mutex.Lock", "[sync.RWMutex.Lock", "[sync.RWMutex.RLock", "[semacquire"}

// LockWaits returns the stacks of this process's goroutines that wait on a
// mutex in Flotilla's own code, or "" when none does. A test that timed out
// waiting for the hub logs them: a hub that stalls on a lock cycle (two
// locks taken in opposite orders) shows there, where a whole goroutine dump
// is too long to reach the end of a CI log.
func LockWaits() string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var waits []string
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		waiting := false
		for _, s := range lockWaitStates {
			waiting = waiting || bytes.Contains(header, []byte(s))
		}
		if waiting && bytes.Contains(g, []byte("github.com/flotilla-dev/flotilla/")) {
			waits = append(waits, string(g))
		}
	}
	if len(waits) == 0 {
		return ""
	}
	return "goroutines waiting on a lock in Flotilla's code:\n" + strings.Join(waits, "\n\n")
}
