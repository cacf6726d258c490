// Package cli holds the flotilla command tree: one file per verb, each with an
// options struct (addFlags, validate, run) that delegates to a library package.
package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context) int {
	root := newRootCommand()
	nameAfter(root, os.Args[0])
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

// kubectlPlugin is the binary name under which kubectl finds flotilla on
// PATH and runs it for `kubectl flotilla …`.
const kubectlPlugin = "kubectl-flotilla"

// nameAfter makes help, examples and suggested commands say `kubectl
// flotilla` when the binary runs as the kubectl plugin (arg0 is os.Args[0]).
func nameAfter(root *cobra.Command, arg0 string) {
	if strings.TrimSuffix(filepath.Base(arg0), ".exe") != kubectlPlugin {
		return
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl flotilla"
	var rename func(*cobra.Command)
	rename = func(c *cobra.Command) {
		c.Example = strings.ReplaceAll(c.Example, "  flotilla ", "  kubectl flotilla ")
		for _, sub := range c.Commands() {
			rename(sub)
		}
	}
	rename(root)
}
