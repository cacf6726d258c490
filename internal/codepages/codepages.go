// Package codepages gives the kernel back the pages of a process's own
// executable that the process mapped once and no longer runs.
//
// A Go binary's code and read-only data are mapped from its file. Start-up
// touches nearly all of it (every package's initialisation, with the
// kernel mapping 64 KB around each page it faults in), and the pages stay
// counted in the process's resident memory for as long as it lives, although
// a long-lived process that is idle runs a small part of them. Releasing the
// read-only mappings drops them from the process's resident set; a page used
// again is mapped again from the page cache (or read from the file if the
// kernel reclaimed it meanwhile), with the same contents, because read-only
// pages were never written. Writable mappings (the data segment, whose pages
// the process may have changed) are never touched.
package codepages

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Span is a mapping's address range, [Start, End).
type Span struct {
	Start, End uint64
}

// Len is the span's size in bytes.
func (s Span) Len() uint64 { return s.End - s.Start }

// mapping is one line of /proc/PID/maps.
type mapping struct {
	span     Span
	writable bool
	dev      string
	inode    uint64
}

// ReadOnlyImage returns the read-only mappings of the file that is mapped at
// address pc, from the text of /proc/PID/maps: for the address of one of the
// program's own functions, its executable's code and read-only data. The file
// is told by its device and inode, not its name, which may be reused or carry
// " (deleted)". It refuses an address that no file-backed mapping holds.
func ReadOnlyImage(maps string, pc uint64) ([]Span, error) {
	var all []mapping
	var image *mapping
	for line := range strings.Lines(maps) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m, err := parseMapping(line)
		if err != nil {
			return nil, err
		}
		all = append(all, m)
		if m.span.Start <= pc && pc < m.span.End {
			image = &all[len(all)-1]
		}
	}
	if image == nil {
		return nil, fmt.Errorf("no mapping holds address %#x", pc)
	}
	if image.inode == 0 {
		return nil, fmt.Errorf("the mapping at %#x is not of a file", pc)
	}
	dev, inode := image.dev, image.inode
	var spans []Span
	for _, m := range all {
		if m.dev == dev && m.inode == inode && !m.writable {
			spans = append(spans, m.span)
		}
	}
	return spans, nil
}

// parseMapping reads "start-end perms offset dev inode [path]".
func parseMapping(line string) (mapping, error) {
	f := strings.Fields(line)
	if len(f) < 5 {
		return mapping{}, fmt.Errorf("reading mapping %q: want at least 5 fields", line)
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	if !ok {
		return mapping{}, fmt.Errorf("reading mapping %q: no address range", line)
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	inode, err3 := strconv.ParseUint(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return mapping{}, fmt.Errorf("reading mapping %q: %w", line, err)
	}
	if end <= start || len(f[1]) < 2 {
		return mapping{}, fmt.Errorf("reading mapping %q: malformed", line)
	}
	return mapping{span: Span{start, end}, writable: f[1][1] == 'w', dev: f[3], inode: inode}, nil
}
