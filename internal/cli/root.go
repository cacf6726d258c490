// Package cli holds the flotilla command tree: one file per verb, each with an
// options struct (addFlags, validate, run) that delegates to a library package.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context) int {
	return execute(ctx, os.Args, os.Stdout, os.Stderr)
}

// execute runs the command line args (args[0] is the binary) with its output
// on stdout and stderr, and returns the exit code: 1 after an error.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	nameAfter(root, args[0])
	root.SetArgs(args[1:])
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

func newRootCommand() *cobra.Command {
	logs := newLogSettings()
	root := &cobra.Command{
		Use:           "flotilla",
		Short:         "Flotilla manages a fleet of Kubernetes clusters as one unit",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			logs.setup()
		},
	}
	addLogFlags(root.PersistentFlags(), logs)

	root.AddCommand(newVersionCommand(), newAgentCommand(logs))
	root.AddCommand(platformCommands()...)
	root.InitDefaultCompletionCmd() // now, so that the rule below covers it too
	root.SetHelpCommand(newHelpCommand(root))
	requireSubcommands(root)
	return root
}

// newHelpCommand is `flotilla help [command]`. Cobra's own prints "Unknown
// help topic" and exits 0; this one refuses an unknown topic like an unknown
// command: an error naming it, the nearest commands, exit code 1.
func newHelpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application: flotilla help [path to command].",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				parent := target
				if parent == nil {
					parent = root
				}
				word := ""
				if len(rest) > 0 {
					word = rest[0]
				} else if len(args) > 0 {
					word = args[len(args)-1]
				}
				return unknownSubcommand(parent, []string{word})
			}
			return target.Help()
		},
	}
}

// addLogFlags adds -v/--log-level, the one logging flag help shows. zap's own
// flags (--zap-log-level, --zap-encoder, …) stay accepted but hidden, for
// whoever needs the finer settings (a hub's Deployment, say).
func addLogFlags(flags *pflag.FlagSet, logs *logSettings) {
	goFlags := flag.NewFlagSet("log", flag.ContinueOnError)
	logs.bindFlags(goFlags)
	flags.AddGoFlagSet(goFlags)
	goFlags.VisitAll(func(f *flag.Flag) { _ = flags.MarkHidden(f.Name) })
	flags.VarP(&logLevelFlag{zapLevel: flags.Lookup("zap-log-level").Value}, "log-level", "v",
		"log verbosity: info, debug, error, or a number N to also log detail up to V(N)")
}

// logLevelFlag is --log-level: a name for --zap-log-level, whose parser it uses.
type logLevelFlag struct {
	zapLevel pflag.Value
	value    string
}

func (f *logLevelFlag) String() string {
	if f.value == "" {
		return "info"
	}
	return f.value
}

func (f *logLevelFlag) Set(s string) error {
	if err := f.zapLevel.Set(s); err != nil {
		return fmt.Errorf("want info, debug, error or a number of 1 or more: %w", err)
	}
	f.value = s
	return nil
}

func (f *logLevelFlag) Type() string { return "level" }

// groupOnly is the annotation of a command that only groups others.
const groupOnly = "flotilla.dev/group-only"

// requireSubcommands makes every command that only groups others (it has
// children and no Run of its own) behave as kubectl's do: without arguments
// it prints its help; an unknown subcommand is an error that suggests the
// nearest ones, with a non-zero exit (cobra would print help and exit 0).
func requireSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireSubcommands(sub)
	}
	if !c.HasSubCommands() {
		return
	}
	if c.Args == nil {
		c.Args = unknownSubcommand
	}
	if c.Run != nil || c.RunE != nil {
		return
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// unknownSubcommand refuses any argument of a command that only groups others.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "; did you mean " + quoteAll(suggestions) + "?"
	}
	return fmt.Errorf("%s\nRun '%s --help' for usage", msg, cmd.CommandPath())
}

// quoteAll is "a", "a" or "b", "a", "b" or "c".
func quoteAll(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
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

// positional is the Args of a command that takes from min to max arguments
// (max < 0: any number), named by its Use ("get RESOURCE [NAME]"). A missing
// or extra argument is an error that names it and shows the usage line,
// rather than cobra's "accepts 1 arg(s), received 0".
func positional(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			names := argNames(cmd.Use)
			missing := fmt.Sprintf("%d more argument(s)", min-len(args))
			if len(names) >= min {
				missing = strings.Join(names[len(args):min], " and ")
			}
			return fmt.Errorf("missing %s\nUsage: %s", missing, cmd.UseLine())
		case max >= 0 && len(args) > max:
			return fmt.Errorf("unexpected argument(s) %s\nUsage: %s", quoteAll(args[max:]), cmd.UseLine())
		}
		return nil
	}
}

// argNames are the argument words of a Use line: NAME, KIND/NAME and [NAME]
// (without brackets), up to the first flag.
func argNames(use string) []string {
	var names []string
	for _, w := range strings.Fields(use)[1:] {
		if strings.HasPrefix(w, "-") {
			break
		}
		names = append(names, strings.Trim(w, "[]."))
	}
	return names
}
