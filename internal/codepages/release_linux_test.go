//go:build linux

package codepages

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseDropsTheBinarysPagesAndTheProgramRunsOn releases the test
// binary's own code and read-only data: its file-backed resident memory
// falls, and code that runs afterwards (formatting, sorting, a garbage
// collection, which reads the binary's tables) works as before.
func TestReleaseDropsTheBinarysPagesAndTheProgramRunsOn(t *testing.T) {
	before := rssFileKiB(t)
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	t.Logf("file-backed RSS %d KiB before, %d KiB after; %d KiB of address space released", before, after, released/1024)
	if released == 0 || after >= before || before-after < before/4 {
		t.Fatalf("file-backed RSS %d KiB → %d KiB: want at least a quarter less", before, after)
	}

	words := strings.Fields("the binary runs on after its pages are released")
	sort.Strings(words)
	runtime.GC()
	if got := fmt.Sprintf("%s %d", strings.Join(words, ","), len(words)); got != "after,are,binary,its,on,pages,released,runs,the 9" {
		t.Fatalf("after the release: %q", got)
	}
	again, err := Release()
	if err != nil || again != released {
		t.Fatalf("a second release: %d bytes, %v; want %d, nil", again, err, released)
	}
}

// rssFileKiB is the process's file-backed resident memory (RssFile).
func rssFileKiB(t *testing.T) uint64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
