//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/membership"
)

type joinOptions struct {
	kubeconfig      string
	labels          []string
	delivery        string
	git             fleetv1alpha1.GitDelivery
	gitSecret       string
	gitHealthSource string
	output          string
	writeKubeconfig string
	join            membership.JoinOptions
	install         membership.InstallOptions
}

func newJoinCommand() *cobra.Command {
	o := &joinOptions{}
	cmd := &cobra.Command{
		Use:   "join NAME",
		Short: "Join a member cluster to the hub, or update its membership",
		Long: `Join a member cluster to the hub: create its Cluster, its hub namespace
flotilla-cluster-NAME, and its agent's ServiceAccount, Lease and RBAC (read its
Works, write their status, renew its Lease, report its own Cluster status), then
issue a token for the agent.

Re-running join is safe: it updates labels and delivery (labels an earlier join
set and this one does not are removed; labels set otherwise are kept) and
issues a new token. Earlier tokens stay valid, and their holders may renew
them, until --revoke-tokens replaces the agent's ServiceAccount.

Then install the agent on the member: -o yaml prints the manifests to apply
there; --write-kubeconfig writes the agent's hub kubeconfig for running
'flotilla agent' by hand.`,
		Example: `  flotilla join store-0042 --label env=prod --label region=eu-west
  flotilla join store-0042 --label env=prod -o yaml | kubectl --context store-0042 apply -f -
  flotilla join lab-1 --write-kubeconfig lab-1-hub.kubeconfig
  flotilla join edge-7 --delivery git --git-url https://git.example.com/fleet.git --git-secret fleet-git`,
		Args: positional(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.join.Name = args[0]
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *joinOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	// No -l: with kubectl (and flotilla get) -l is a label selector.
	flags.StringArrayVar(&o.labels, "label", nil, "cluster label key=value (repeatable)")
	flags.StringVar(&o.delivery, "delivery", "agent", "how manifests reach the cluster: agent or git")
	flags.StringVar(&o.git.URL, "git-url", "", "git delivery: repository URL (https://, ssh://, git:// or file://)")
	flags.StringVar(&o.git.Branch, "git-branch", "", "git delivery: branch (default main)")
	flags.StringVar(&o.git.Path, "git-path", "", "git delivery: path in the repository (default clusters/NAME)")
	flags.StringVar(&o.gitSecret, "git-secret", "", "git delivery: hub Secret with credentials, NAME or NAMESPACE/NAME (default namespace flotilla-system)")
	flags.StringVar(&o.gitHealthSource, "git-health-source", "", "git delivery: Agent (a report-only agent, the default) or None")
	flags.DurationVar(&o.join.TokenTTL, "token-ttl", membership.DefaultTokenTTL,
		fmt.Sprintf("lifetime of the agent's token (%s to %s)", membership.MinTokenTTL, membership.MaxTokenTTL))
	flags.BoolVar(&o.join.ReuseName, "reuse-name", false,
		"join a name unjoined before; only once the hub's API servers restarted since (the old agent's watches end then)")
	flags.BoolVar(&o.join.RevokeTokens, "revoke-tokens", false,
		"revoke every token issued for the agent before (a leaked kubeconfig; its holder could renew it for good): the running agent is refused until it gets the new one")
	flags.StringVar(&o.join.HubServer, "hub-server", "", "hub URL the agent uses (default: the server of the hub kubeconfig)")
	flags.StringVarP(&o.output, "output", "o", "", "yaml: print the agent's install manifests for the member instead of a summary")
	flags.StringVar(&o.writeKubeconfig, "write-kubeconfig", "", "write the agent's hub kubeconfig to this file (mode 0600)")
	flags.StringVar(&o.install.Image, "image", membership.DefaultImage(), "agent image in the install manifests")
	flags.StringVar(&o.install.Namespace, "agent-namespace", membership.DefaultMemberNamespace, "member namespace of the agent in the install manifests")
	flags.StringVar((*string)(&o.install.StateVolume), "state-volume", string(membership.StateVolumeEmptyDir),
		"where the agent keeps its state on the member: emptyDir or hostPath")
}

func (o *joinOptions) validate() error {
	var errs []error
	for _, kv := range o.labels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--label %q: want key=value", kv))
			continue
		}
		if o.join.Labels == nil {
			o.join.Labels = map[string]string{}
		}
		o.join.Labels[k] = v
	}
	gitSet := o.git != (fleetv1alpha1.GitDelivery{}) || o.gitSecret != "" || o.gitHealthSource != ""
	switch strings.ToLower(o.delivery) {
	case "agent":
		o.join.Delivery = fleetv1alpha1.DeliveryAgent
		if gitSet {
			errs = append(errs, errors.New("--git-* flags need --delivery git"))
		}
	case "git":
		o.join.Delivery = fleetv1alpha1.DeliveryGit
		git := o.git
		if ns, name, ok := strings.Cut(o.gitSecret, "/"); ok {
			git.SecretRef = &fleetv1alpha1.SecretReference{Namespace: ns, Name: name}
		} else if o.gitSecret != "" {
			git.SecretRef = &fleetv1alpha1.SecretReference{Name: o.gitSecret}
		}
		switch strings.ToLower(o.gitHealthSource) {
		case "":
		case "agent":
			git.HealthSource = fleetv1alpha1.GitHealthAgent
		case "none":
			git.HealthSource = fleetv1alpha1.GitHealthNone
		default:
			errs = append(errs, fmt.Errorf("--git-health-source %q: want Agent or None", o.gitHealthSource))
		}
		o.join.Git = &git
	default:
		errs = append(errs, fmt.Errorf("--delivery %q: want agent or git", o.delivery))
	}
	switch o.output {
	case "":
	case "yaml":
		if o.join.Git != nil && o.join.Git.HealthSource == fleetv1alpha1.GitHealthNone {
			errs = append(errs, errors.New("-o yaml: a git-delivered cluster with health source None runs no agent"))
		}
	default:
		errs = append(errs, fmt.Errorf("-o %q: the only output format is yaml", o.output))
	}
	return errors.Join(errs...)
}

func (o *joinOptions) run(cmd *cobra.Command) error {
	hub, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	joined, err := membership.Join(cmd.Context(), hub, o.join)
	if err != nil {
		return err
	}
	if o.writeKubeconfig != "" {
		if err := writePrivateFile(o.writeKubeconfig, joined.HubKubeconfig); err != nil {
			return err
		}
	}
	if o.output == "yaml" {
		manifests, err := membership.InstallManifests(joined, o.install)
		if err != nil {
			return err
		}
		cmd.PrintErrf("cluster %s joined; the agent's token expires %s\n", joined.Cluster.Name, joined.TokenExpiry.UTC().Format(time.RFC3339))
		_, err = cmd.OutOrStdout().Write(manifests)
		return err
	}
	_, err = io.WriteString(cmd.OutOrStdout(), o.summary(joined, rerun(cmd, joined.Cluster.Name)))
	return err
}

// summary tells what join did and what to do next.
func (o *joinOptions) summary(j *membership.Joined, rerun string) string {
	var b strings.Builder
	name := j.Cluster.Name
	fmt.Fprintf(&b, "cluster %s joined (delivery %s", name, j.Cluster.Spec.Delivery.Mode)
	if labels := formatLabels(j.Cluster.Labels); labels != "" {
		fmt.Fprintf(&b, ", labels %s", labels)
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "  hub namespace  %s: ServiceAccount, Lease, Role and RoleBinding %s\n", j.Namespace, fleetv1alpha1.AgentServiceAccount)
	fmt.Fprintf(&b, "  agent token    expires %s (in %s)\n", j.TokenExpiry.UTC().Format(time.RFC3339), time.Until(j.TokenExpiry).Round(time.Minute))
	if j.RevokedTokens {
		b.WriteString("  earlier tokens revoked: the running agent is refused until it gets this token\n")
	}
	switch {
	case j.Cluster.Spec.Delivery.Git != nil && j.Cluster.Spec.Delivery.Git.HealthSource == fleetv1alpha1.GitHealthNone:
		b.WriteString("git delivery without a health source: no agent to install\n")
	case o.writeKubeconfig != "":
		fmt.Fprintf(&b, "wrote the agent's hub kubeconfig to %s\n", o.writeKubeconfig)
		reportOnly := "" // a git cluster's agent only reports; the GitOps tool applies
		if j.Cluster.Spec.Delivery.Mode == fleetv1alpha1.DeliveryGit {
			reportOnly = " --report-only"
		}
		fmt.Fprintf(&b, "next: run the agent against the member cluster:\n  flotilla agent --cluster %s --hub-kubeconfig %s --kubeconfig MEMBER-KUBECONFIG --state-dir DIR%s\n",
			name, o.writeKubeconfig, reportOnly)
	default:
		fmt.Fprintf(&b, "next: install the agent on the member cluster (this issues a new token):\n  %s -o yaml | kubectl --kubeconfig MEMBER-KUBECONFIG apply -f -\n", rerun)
		fmt.Fprintf(&b, "or run it by hand:\n  %s --write-kubeconfig %s-hub.kubeconfig\n", rerun, name)
	}
	return b.String()
}

// rerun is the join command line as given (minus output flags), so the next
// steps it suggests keep the labels and delivery rather than reset them.
func rerun(cmd *cobra.Command, name string) string {
	parts := []string{"flotilla", "join", name}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "output", "write-kubeconfig", "revoke-tokens": // the next step need not revoke again
			return
		}
		values := []string{f.Value.String()}
		if s, ok := f.Value.(pflag.SliceValue); ok {
			values = s.GetSlice()
		}
		for _, v := range values {
			parts = append(parts, "--"+f.Name+"="+shellQuote(v))
		}
	})
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		safe := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r)
		return !safe
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func formatLabels(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// writePrivateFile writes data to path readable by its owner only, also when
// the file already exists with wider permissions.
func writePrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
