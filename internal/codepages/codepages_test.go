package codepages

import (
	"reflect"
	"strings"
	"testing"
)

const maps = `00400000-00a41000 r-xp 00000000 fd:01 1234 /usr/bin/flotilla-agent
00a41000-01198000 r--p 00641000 fd:01 1234 /usr/bin/flotilla-agent
01198000-011d1000 rw-p 00d98000 fd:01 1234 /usr/bin/flotilla-agent
011d1000-0320f000 rw-p 00000000 00:00 0
c000000000-c004000000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 fd:01 5678 /usr/bin/flotilla-agent-old (deleted)
7f0000001000-7f0000002000 r--p 00000000 fd:02 1234 /mnt/other
7ffd4d1e1000-7ffd4d202000 rw-p 00000000 00:00 0                          [stack]
7ffd4d3f8000-7ffd4d3fc000 r--p 00000000 00:00 0                          [vvar]
7ffd4d3fc000-7ffd4d3fe000 r-xp 00000000 00:00 0                          [vdso]
`

func TestReadOnlyImage(t *testing.T) {
	tests := []struct {
		name    string
		maps    string
		pc      uint64
		want    []Span
		wantErr string
	}{{
		name: "the code and read-only data of the file holding the address, not its data nor another file with the same inode",
		maps: maps, pc: 0x00500000,
		want: []Span{{0x00400000, 0x00a41000}, {0x00a41000, 0x01198000}},
	}, {
		name: "an address in read-only data finds the same file",
		maps: maps, pc: 0x00a41000,
		want: []Span{{0x00400000, 0x00a41000}, {0x00a41000, 0x01198000}},
	}, {
		name: "the end of a range is outside it",
		maps: maps, pc: 0x01198000 - 1,
		want: []Span{{0x00400000, 0x00a41000}, {0x00a41000, 0x01198000}},
	}, {
		name: "an anonymous mapping is no file", maps: maps, pc: 0xc000000010,
		wantErr: "not of a file",
	}, {
		name: "an address nothing maps", maps: maps, pc: 0x10,
		wantErr: "no mapping holds",
	}, {
		name: "a malformed line is an error, not a guess", maps: "00400000 r-xp 0 fd:01 1\n", pc: 0x00400000,
		wantErr: "no address range",
	}, {
		name: "a short line", maps: "00400000-00500000 r-xp 0\n", pc: 0x00400000,
		wantErr: "at least 5 fields",
	}, {
		name: "an inverted range", maps: "00500000-00400000 r-xp 0 fd:01 1\n", pc: 0x00400000,
		wantErr: "malformed",
	}, {
		name: "a range that is not hexadecimal", maps: "0040000g-00500000 r-xp 0 fd:01 1\n", pc: 0x00400000,
		wantErr: "invalid syntax",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadOnlyImage(tt.maps, tt.pc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("spans = %#v, want %#v", got, tt.want)
			}
		})
	}
}
