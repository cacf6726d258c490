//go:build !agent

package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

type unjoinOptions struct {
	kubeconfig string
	membership.UnjoinOptions
}

func newUnjoinCommand() *cobra.Command {
	o := &unjoinOptions{}
	cmd := &cobra.Command{
		Use:   "unjoin NAME",
		Short: "Remove a member cluster from the hub",
		Long: `Remove a member cluster from the hub: its Cluster, its agent's RBAC and
ServiceAccount (revoking the agent's tokens) and its hub namespace with its Works.

By default the member's workloads stay where they are: the agent loses access to
the hub and stops changing anything. With --delete-workloads the cluster's Works
are deleted first, so the agent prunes what it applied, and unjoin waits (up to
--timeout) until they are gone.`,
		Args: positional(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *unjoinOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	flags.BoolVar(&o.DeleteWorkloads, "delete-workloads", false, "delete the cluster's Works first and wait until its agent pruned them (refused for a git-delivered cluster: delete its directory from the branch after unjoin)")
	flags.DurationVar(&o.Timeout, "timeout", membership.DefaultUnjoinTimeout, "how long to wait for the Works to go (with --delete-workloads)")
}

func (o *unjoinOptions) run(cmd *cobra.Command, name string) error {
	hub, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := membership.Unjoin(cmd.Context(), hub, name, o.UnjoinOptions); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s removed from the hub in %s\n", name, time.Since(start).Round(time.Millisecond))
	if !o.DeleteWorkloads {
		b.WriteString("its workloads stay on the member, no longer managed\n")
	}
	fmt.Fprintf(&b, "to remove the agent from the member:\n  kubectl --kubeconfig MEMBER-KUBECONFIG delete deployment,secret,serviceaccount,clusterrolebinding -A -l %s=%s\n",
		fleetv1alpha1.LabelCluster, name)
	_, err = io.WriteString(cmd.OutOrStdout(), b.String())
	return err
}
