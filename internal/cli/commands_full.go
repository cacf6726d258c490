//go:build !agent

package cli

import "github.com/spf13/cobra"

// platformCommands are every command but the agent's. A build with the
// `agent` tag leaves them out, and with them the hub's dependencies (Helm
// among them), so the agent that runs on every member stays small.
func platformCommands() []*cobra.Command {
	return []*cobra.Command{
		newHubCommand(),
		newDevCommand(),
		newDemoCommand(),
		newJoinCommand(),
		newUnjoinCommand(),
		newRolloutCommand(),
		newFreezeCommand(),
		newUnfreezeCommand(),
		newUpgradeCommand(),
		newStatusCommand(),
		newDriftCommand(),
		newGetCommand(),
		newDashboardCommand(),
		newSimCommand(),
	}
}
