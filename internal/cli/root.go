// Package cli holds the flotilla command tree: one file per verb, each with an
// options struct (addFlags, validate, run) that delegates to a library package.
package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context) int {
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}

func newRootCommand() *cobra.Command {
	logOpts := &zap.Options{Development: false}
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "Flotilla manages a fleet of Kubernetes clusters as one unit",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(logOpts)))
		},
	}
	goFlags := flag.NewFlagSet("log", flag.ContinueOnError)
	logOpts.BindFlags(goFlags)
	root.PersistentFlags().AddGoFlagSet(goFlags)

	root.AddCommand(newVersionCommand(), newAgentCommand())
	root.AddCommand(platformCommands()...)
	return root
}
