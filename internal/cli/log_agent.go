//go:build agent

package cli

import (
	"flag"

	"github.com/go-logr/logr"

	"github.com/flotilla-dev/flotilla/internal/logging"
)

// logSettings are the --zap-* flags and the logger they make: in the agent
// build internal/logging's, which has the same flags and output as
// controller-runtime's zap logger without linking controller-runtime
// (log_full.go has the full build's).
type logSettings struct {
	opts logging.Options
	log  logr.Logger
}

func newLogSettings() *logSettings { return &logSettings{log: logr.Discard()} }

func (s *logSettings) bindFlags(fs *flag.FlagSet) { s.opts.BindFlags(fs) }

// setup builds the logger once the flags are parsed.
func (s *logSettings) setup() { s.log = logging.New(s.opts) }
