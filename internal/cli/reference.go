package cli

import "github.com/spf13/cobra"

// Root returns the whole command tree, unexecuted, for the generated command
// reference in docs/reference/cli (hack/gen-cli-docs).
func Root() *cobra.Command { return newRootCommand() }
