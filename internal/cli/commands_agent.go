//go:build agent

package cli

import "github.com/spf13/cobra"

// platformCommands is empty in the agent build: it serves `flotilla agent`
// and `flotilla version` only (see commands_full.go).
func platformCommands() []*cobra.Command { return nil }
