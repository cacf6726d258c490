//go:build !agent

package cli

import (
	"flag"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// logSettings are the --zap-* flags and the logger they make: in the full
// build controller-runtime's zap logger, which is also controller-runtime's
// global logger (the hub's controllers log through it). The agent build has
// its own (log_agent.go).
type logSettings struct {
	opts zap.Options
	log  logr.Logger
}

func newLogSettings() *logSettings {
	return &logSettings{opts: zap.Options{Development: false}, log: logr.Discard()}
}

func (s *logSettings) bindFlags(fs *flag.FlagSet) { s.opts.BindFlags(fs) }

// setup builds the logger once the flags are parsed.
func (s *logSettings) setup() {
	s.log = zap.New(zap.UseFlagOptions(&s.opts))
	ctrl.SetLogger(s.log)
}
