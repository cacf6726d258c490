//go:build !agent

package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flotilla-dev/flotilla/internal/dashboard"
)

type dashboardOptions struct {
	kubeconfig  string
	kubeContext string
	namespace   string
	address     string
	port        int
}

func newDashboardCommand() *cobra.Command {
	o := &dashboardOptions{}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the fleet dashboard on localhost, acting with your kubeconfig",
		Long: `Serve a web page on this machine (loopback only) that shows the fleet: a tile
per cluster coloured by health, each Rollout's waves with live progress and
Approve, Pause, Resume and Roll back buttons, the versions each Promise runs
and the failures with their reasons.

The page talks to the hub with your own kubeconfig, so Kubernetes RBAC decides
what you see (what you may not list is named on the page) and what you may do
(a refused action shows the API server's message). Actions record you as the
actor, as 'flotilla rollout' does. Runs until Ctrl-C.`,
		Example: `  flotilla dashboard
  flotilla dashboard --kubeconfig .flotilla-dev/hub.kubeconfig --port 9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *dashboardOptions) addFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.kubeconfig, "kubeconfig", "", "hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	flags.StringVar(&o.kubeContext, "context", "", "kubeconfig context to use (default: the current context)")
	flags.StringVarP(&o.namespace, "namespace", "n", "",
		"namespace whose Rollouts and DriftExceptions are shown if you may not list them in every namespace (default: the context's namespace)")
	flags.StringVar(&o.address, "address", "127.0.0.1", "loopback address to listen on (127.0.0.1, ::1 or localhost)")
	flags.IntVar(&o.port, "port", dashboard.DefaultPort, "port to listen on (0 picks a free one)")
}

func (o *dashboardOptions) validate() error {
	if o.port < 0 || o.port > 65535 {
		return fmt.Errorf("--port %d: want 0 to 65535", o.port)
	}
	if err := dashboard.CheckListenAddress(o.listen()); err != nil {
		return errors.New("--address: " + err.Error())
	}
	return nil
}

func (o *dashboardOptions) listen() string {
	return net.JoinHostPort(o.address, strconv.Itoa(o.port))
}

func (o *dashboardOptions) run(cmd *cobra.Command) error {
	cfg, ns, err := kubeconfigWithContext(o.kubeconfig, o.kubeContext)
	if err != nil {
		return err
	}
	if o.namespace != "" {
		ns = o.namespace
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	opts := dashboard.Options{Namespace: ns, Warn: func(msg string) { fmt.Fprintln(stderr, "warning:", msg) }}
	return dashboard.ServeWith(cmd.Context(), cfg, o.listen(), opts, func(url string) {
		fmt.Fprintf(out, "Flotilla dashboard: %s\n", url)
		fmt.Fprintln(out, "It acts with your kubeconfig's credentials. Press Ctrl-C to stop.")
	})
}

// kubeconfigWithContext loads a kubeconfig as kubectl does (restConfig),
// with a context other than the current one if named, and returns the
// context's namespace if it sets one.
func kubeconfigWithContext(path, kubeContext string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, explicit, err := loader.Namespace()
	if err != nil || !explicit {
		ns = ""
	}
	return cfg, ns, nil
}
