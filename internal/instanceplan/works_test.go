package instanceplan

import "testing"

// A render's manifest (json.Encoder: a trailing newline) and the same one
// read back from the API server (none) are the same without decoding
// either; documents that differ are not.
func TestSameJSON(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":"x"}` + "\n", `{"a":1,"b":"x"}`, true},
		{`{"a":1,"b":"x"}`, `{"b":"x","a":1}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}` + "\n", `{"a":1,"b":null}`, false},
		{`{"a":`, `{"a":`, true},
		{`{"a":`, `{"a":1}`, false},
	} {
		if got := sameJSON([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("sameJSON(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
