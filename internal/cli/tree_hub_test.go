//go:build !agent

package cli

import (
	"strings"
	"testing"
)

// A mistyped subcommand or resource suggests the nearest, as kubectl does;
// a wrong number of arguments says which.
func TestUnknownCommandSuggestions(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "stats", "web-2"}, `error: unknown command "stats" for "flotilla rollout"; did you mean "status"?`},
		{[]string{"rollut", "status"}, `error: unknown command "rollut" for "flotilla"; did you mean "rollout"?`},
		{[]string{"dev", "upp"}, `error: unknown command "upp" for "flotilla dev"; did you mean "up"?`},
		{[]string{"get", "rolloutstrategie"}, `error: unknown resource "rolloutstrategie"; did you mean "rolloutstrategies"?`},
		{[]string{"-v", "loud", "version"}, `error: invalid argument "loud" for "-v, --log-level" flag`},
		// A missing or extra argument is named, with the usage line.
		{[]string{"get"}, "error: missing RESOURCE\nUsage: flotilla get RESOURCE [NAME] [flags]\n"},
		{[]string{"rollout", "status"}, "error: missing NAME\nUsage: flotilla rollout status NAME [flags]\n"},
		{[]string{"rollout", "approve", "web-2", "canary"}, `error: unexpected argument(s) "canary"` + "\nUsage: flotilla rollout approve NAME [flags]\n"},
		{[]string{"upgrade"}, "error: missing KIND/NAME\n"},
	} {
		code, _, stderr := runCommandLine(t, tt.args...)
		if code != 1 || !strings.HasPrefix(stderr, tt.want) {
			t.Errorf("flotilla %s: exit code %d, stderr %q; want exit code 1 and %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
	}
	if code, _, stderr := runCommandLine(t, "-v", "2", "--zap-encoder", "console", "version"); code != 0 {
		t.Errorf("-v 2 with a hidden zap flag: exit code %d, stderr %q", code, stderr)
	}
}

// TestHelpRefusesUnknownTopics: `flotilla help X` for an X that is not a
// command is an error with a suggestion, like `flotilla X`.
func TestHelpRefusesUnknownTopics(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"help"}, 0, "Available Commands:"},
		{[]string{"help", "rollout"}, 0, "Available Commands:"},
		{[]string{"help", "rollout", "status"}, 0, "Usage:"},
		{[]string{"help", "nosuch"}, 1, `error: unknown command "nosuch" for "flotilla"`},
		{[]string{"help", "rolout"}, 1, `did you mean "rollout"?`},
		{[]string{"help", "rollout", "stats"}, 1, `error: unknown command "stats" for "flotilla rollout"; did you mean "status"?`},
	} {
		code, stdout, stderr := runCommandLine(t, tc.args...)
		got := stdout
		if tc.code != 0 {
			got = stderr
		}
		if code != tc.code || !strings.Contains(got, tc.out) {
			t.Errorf("flotilla %s: exit code %d, stdout %q, stderr %q; want exit code %d and %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.out)
		}
	}
}
