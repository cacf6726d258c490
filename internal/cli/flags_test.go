package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// verbOptions is what every verb's options struct has.
type verbOptions interface {
	addFlags(*pflag.FlagSet)
	validate() error
}

// checkFlags parses args into o's flags and validates them: the error must
// contain wantErr when it is set, else check must accept the options.
func checkFlags[O verbOptions](t *testing.T, o O, args []string, wantErr string, check func(O) bool) {
	t.Helper()
	flags := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.addFlags(flags)
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	err := o.validate()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil || !check(o) {
		t.Errorf("options = %+v, err %v", o, err)
	}
}
