//go:build linux

package codepages

import (
	"fmt"
	"os"
	"reflect"

	"golang.org/x/sys/unix"
)

// Release drops the read-only mappings of the running executable from the
// process's resident set (madvise MADV_DONTNEED: for a private file mapping
// never written, a later access maps the file's page again). It returns how
// many bytes of address space it released; not all of them were resident.
func Release() (uint64, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading the process's mappings: %w", err)
	}
	spans, err := ReadOnlyImage(string(maps), uint64(reflect.ValueOf(Release).Pointer()))
	if err != nil {
		return 0, fmt.Errorf("finding the executable's mappings: %w", err)
	}
	var released uint64
	for _, s := range spans {
		// madvise takes an address, not a Go slice: the pages are not Go
		// memory, so no unsafe.Pointer is made of them.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(s.Start), uintptr(s.Len()), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("releasing %#x-%#x: %w", s.Start, s.End, errno)
		}
		released += s.Len()
	}
	return released, nil
}
