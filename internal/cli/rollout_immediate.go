//go:build !agent

package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
)

type rolloutImmediateOptions struct {
	changeOptions
}

func (o *rolloutImmediateOptions) validate() error {
	if strings.TrimSpace(o.message) == "" {
		return errors.Join(o.changeOptions.validate(), errors.New("-m REASON is required: Immediate mode records why"))
	}
	return o.changeOptions.validate()
}

func newRolloutImmediateCommand() *cobra.Command {
	o := &rolloutImmediateOptions{}
	return rolloutVerb("immediate NAME -m REASON", "Switch a Rollout to Immediate mode (platform only)",
		`Switch a running Rollout to the emergency lane (spec.updatePolicy Immediate, the
message as its reason): its frozen waves merge into one wave, admitted under
the strategy's immediate limits; clusters already healthy stay healthy. It
records you in spec.policyChange, and the history names you.

Only the platform may: the hub's admission policy refuses the change from
anyone who may not update RolloutStrategies. A Halted Rollout stays halted
until resumed; a Rollout rolling back is not switched.`,
		&o.rolloutOptions, o, o.run)
}

func (o *rolloutImmediateOptions) run(cmd *cobra.Command) error {
	c, err := o.client(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	res, err := c.SwitchToImmediate(cmd.Context(), o.namespace, o.name, o.message)
	if err != nil {
		return err
	}
	return printResult(cmd.OutOrStdout(), res, "watch it with: flotilla rollout status -w "+o.name+namespaceFlag(o.namespace))
}
