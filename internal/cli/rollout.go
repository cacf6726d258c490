//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/rolloutctl"
)

// maxMessageLength is the API's bound on a change's message.
const maxMessageLength = 1024

func newRolloutCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rollout",
		Aliases: []string{"rollouts", "ro"},
		Short:   "Operate Rollouts: approve, pause, resume, abort, roll back, switch mode, watch",
		Long: `Operate Rollouts on the hub. Each operation is a plain edit of the Rollout's
spec (kubectl edit does the same), recording who made it (your username on the
hub, from a SelfSubjectReview), when, and the message you give with -m.

Promise rollouts live in flotilla-system (the default namespace); an instance's
rollouts live in the instance's namespace (-n).`,
	}
	cmd.AddCommand(
		newRolloutListCommand(),
		newRolloutStatusCommand(),
		newRolloutHistoryCommand(),
		newRolloutApproveCommand(),
		newRolloutPauseCommand(),
		newRolloutResumeCommand(),
		newRolloutAbortCommand(),
		newRolloutRollbackCommand(),
		newRolloutImmediateCommand(),
		newRolloutForceCommand(),
		newRolloutRerunCheckCommand(),
		newRolloutSkipCheckCommand(),
	)
	return cmd
}

// hubClientOptions are the flags of every verb that talks to the hub.
type hubClientOptions struct {
	kubeconfig string
}

func (o *hubClientOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
}

// client connects to the hub; warnings go to stderr.
func (o *hubClientOptions) client(stderr io.Writer) (*rolloutctl.Client, error) {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return nil, err
	}
	return rolloutctl.New(cfg, func(msg string) { fmt.Fprintln(stderr, "warning:", msg) })
}

// rolloutOptions name one Rollout: NAME and its namespace.
type rolloutOptions struct {
	hubClientOptions
	namespace string
	name      string
}

func (o *rolloutOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVarP(&o.namespace, "namespace", "n", fleetv1alpha1.PlatformNamespace,
		"namespace of the Rollout: flotilla-system for a Promise's, the instance's namespace for an instance's")
}

func (o *rolloutOptions) validate() error {
	if o.namespace == "" {
		return errors.New("--namespace must not be empty")
	}
	return nil
}

// changeOptions are a rollout and the message of a change to it.
type changeOptions struct {
	rolloutOptions
	message string
}

func (o *changeOptions) addFlags(flags *pflag.FlagSet) {
	o.rolloutOptions.addFlags(flags)
	flags.StringVarP(&o.message, "message", "m", "", "why: recorded with the change, shown in the history")
}

func (o *changeOptions) validate() error {
	return errors.Join(o.rolloutOptions.validate(), validateMessage(o.message))
}

func validateMessage(m string) error {
	if len(m) > maxMessageLength {
		return fmt.Errorf("--message is %d bytes, at most %d are allowed", len(m), maxMessageLength)
	}
	return nil
}

// validateOutput checks an -o value: empty, yaml or json.
func validateOutput(output string) error {
	switch output {
	case "", "yaml", "json":
		return nil
	}
	return fmt.Errorf("-o %q: want yaml or json", output)
}

// rolloutVerb builds a command of one rollout and its options, which take
// NAME from the argument and are validated before run.
func rolloutVerb(use, short, long string, ref *rolloutOptions, o flagOptions, run func(cmd *cobra.Command) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  positional(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref.name = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			return run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// flagOptions is what every verb's options struct has (as checkFlags in the
// tests knows it).
type flagOptions interface {
	addFlags(*pflag.FlagSet)
	validate() error
}

// printResult writes what an operation did, its notes, and a hint.
func printResult(w io.Writer, res *rolloutctl.Result, hint string) error {
	var b strings.Builder
	// A summary quotes the Rollout (a rollback's toRevision a team wrote),
	// so it is printed inert, as every text from the API is.
	b.WriteString(display.Printable(res.Summary) + "\n")
	for _, n := range res.Notes {
		b.WriteString("note: " + display.Printable(n) + "\n")
	}
	if hint != "" && res.Changed {
		b.WriteString(hint + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// namespaceFlag is " -n NS" for a hint, or nothing for the default namespace.
func namespaceFlag(ns string) string {
	if ns == fleetv1alpha1.PlatformNamespace {
		return ""
	}
	return " -n " + ns
}
