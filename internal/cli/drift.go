//go:build !agent

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
	"github.com/flotilla-dev/flotilla/internal/fleetview/hubread"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// driftFieldsShown bounds the fields named in a row of `flotilla drift`.
const driftFieldsShown = 3

type driftOptions struct {
	hubClientOptions
	cluster       string
	promise       string
	namespace     string
	allNamespaces bool
	output        string
}

func newDriftCommand() *cobra.Command {
	o := &driftOptions{}
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Show drift across the fleet: unexplained and accepted, with fields, who and since when",
		Long: `Show the resources whose live objects on member clusters differ from what
Flotilla applied, as their agents report them on the Works: a summary line,
then one row per drifted resource, unexplained drift first (the drift policy
applies to it), then drift a DriftException accepts; the oldest first.

RESOURCE is Kind[.group]/[namespace/]name on the member. BY is the field
manager that made the change, when the agent could tell. AGE is how long
ago the agent first saw the drift. An accepted row names its DriftException
with its owner and the time left until it expires. An unexplained row lists
after its fields, in brackets, the fields a DriftException accepts on the
same resource, and names that exception.

--cluster and --promise narrow both the summary and the rows (a name that
matches no Cluster or Promise on the hub is an error); -n narrows them
to the instances of a namespace (a Promise's fleet resources belong to
flotilla-system) and reads DriftExceptions there when you may not list them
in every namespace. Without -n, or with -A, every namespace is shown.

It reads with your credentials: what they may not list is left out and named
at the end. The numbers are the same as the hub's flotilla_drift_* metrics
and the dashboard's Drift panel.`,
		Example: `  flotilla drift
  flotilla drift --cluster eu-1
  flotilla drift --promise postgres -n team-a -o json`,
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

func (o *driftOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVar(&o.cluster, "cluster", "", "only drift on this member cluster")
	flags.StringVar(&o.promise, "promise", "", "only drift of this Promise's resources")
	flags.StringVarP(&o.namespace, "namespace", "n", "", "only drift of the instances in this namespace")
	flags.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "drift of every namespace (the default)")
	flags.StringVarP(&o.output, "output", "o", "", "print the drift as yaml or json instead")
}

func (o *driftOptions) validate() error {
	var errs []error
	if o.allNamespaces && o.namespace != "" {
		errs = append(errs, errors.New("-n and -A: give one of them"))
	}
	return errors.Join(append(errs, validateOutput(o.output))...)
}

// driftReport is what `flotilla drift -o json|yaml` prints.
type driftReport struct {
	GeneratedAt time.Time `json:"generatedAt"`
	fleetview.Drift
	// Hidden names what the reader may not list that drift is read from.
	Hidden []string `json:"hidden,omitempty"`
}

func (o *driftOptions) run(cmd *cobra.Command) error {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return fmt.Errorf("creating hub client: %w", err)
	}
	if err := o.checkNames(cmd.Context(), c); err != nil {
		return err
	}
	s, err := hubread.Read(cmd.Context(), c, time.Now(), hubread.Options{Namespace: o.namespace})
	if err != nil {
		return fmt.Errorf("reading the fleet: %w", err)
	}
	report := driftReport{
		GeneratedAt: s.Now,
		Drift:       fleetview.BuildDrift(s, fleetview.DriftFilter{Cluster: o.cluster, Promise: o.promise, Namespace: o.namespace}, 0),
		Hidden:      driftHidden(s.Hidden),
	}
	out := cmd.OutOrStdout()
	if o.output != "" {
		return printObject(out, report, o.output)
	}
	var b strings.Builder
	printDrift(&b, &report)
	_, err = io.WriteString(out, b.String())
	return err
}

// checkNames refuses a --cluster or --promise that names nothing on the hub:
// a typo must not read as "no drift". When the reader may not read the
// object, there is nothing to tell and the (empty) result stands.
func (o *driftOptions) checkNames(ctx context.Context, c client.Reader) error {
	for _, named := range []struct {
		kind, name string
		obj        client.Object
	}{
		{"cluster", o.cluster, &fleetv1alpha1.Cluster{}},
		{"promise", o.promise, &fleetv1alpha1.Promise{}},
	} {
		if named.name == "" {
			continue
		}
		err := c.Get(ctx, client.ObjectKey{Name: named.name}, named.obj)
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%s %q not found", named.kind, named.name)
		case err != nil && !apierrors.IsForbidden(err):
			return fmt.Errorf("reading %s %q: %w", named.kind, named.name, err)
		}
	}
	return nil
}

// driftHidden keeps what drift is read from of what the reader may not list.
func driftHidden(hidden []string) []string {
	var out []string
	for _, h := range hidden {
		if strings.HasPrefix(h, "works") || strings.HasPrefix(h, "driftexceptions") {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out
}

// driftSummary is "N resources drifted on M clusters: U unexplained, A accepted".
func driftSummary(d *fleetview.Drift) string {
	return fmt.Sprintf("%s drifted on %s: %d unexplained, %d accepted",
		plural(d.Resources.Total, "resource"), plural(d.Clusters.Total, "cluster"), d.Resources.Unexplained, d.Resources.Accepted)
}

// printDrift writes the summary line and a row per drifted resource.
func printDrift(w io.Writer, r *driftReport) {
	if slices.Contains(r.Hidden, fleetview.KindWorks) {
		// Drift is read from Works: without them it is unknown, not none.
		fmt.Fprintf(w, "Drift: %s\n", unknownList("Works"))
	} else {
		fmt.Fprintln(w, driftSummary(&r.Drift))
	}
	if len(r.Items) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tPROMISE\tINSTANCE\tRESOURCE\tSTATE\tFIELDS\tBY\tAGE\tEXCEPTION")
		for _, d := range r.Items {
			age := "-"
			if d.Since != nil {
				age = duration.HumanDuration(r.GeneratedAt.Sub(*d.Since))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", display.Printable(d.Cluster), display.Printable(d.Promise),
				orDefault(display.Printable(d.Instance), "-"), display.Printable(resourceName(d)), d.State, orDefault(display.Printable(describeFields(d)), "-"),
				orDefault(display.Printable(d.By), "-"), age, display.Printable(describeException(d.Exception, r.GeneratedAt)))
		}
		_ = tw.Flush()
	}
	if len(r.Hidden) > 0 {
		fmt.Fprintf(w, "Not shown (your credentials may not list them): %s\n", strings.Join(r.Hidden, ", "))
	}
}

// resourceName is Kind[.group]/[namespace/]name.
func resourceName(d fleetview.DriftedResource) string {
	s := d.Kind
	if d.Group != "" {
		s += "." + d.Group
	}
	if d.Namespace != "" {
		s += "/" + d.Namespace
	}
	return s + "/" + d.Name
}

// describeFields is a row's drifted fields, then the fields an exception
// accepts alongside unexplained ones, in brackets.
func describeFields(d fleetview.DriftedResource) string {
	s := driftFields(d.Fields)
	if len(d.AcceptedFields) > 0 {
		s += " [accepted: " + driftFields(d.AcceptedFields) + "]"
	}
	return s
}

// driftFields names the first driftFieldsShown fields and how many more.
func driftFields(fields []string) string {
	shown := min(len(fields), driftFieldsShown)
	s := strings.Join(fields[:shown], ",")
	if more := len(fields) - shown; more > 0 {
		s += fmt.Sprintf(" (+%d)", more)
	}
	return s
}

// describeException is "ns/name (owner, declared by alice, 3d left)" (who
// declared it only where it is not the owner), or only the name when the
// reader may not see the DriftException.
func describeException(e *fleetview.DriftExceptionView, now time.Time) string {
	if e == nil {
		return "-"
	}
	s := e.Name
	if e.Namespace != "" {
		s = e.Namespace + "/" + e.Name
	}
	var parts []string
	if e.Owner != "" {
		parts = append(parts, e.Owner)
	}
	if e.DeclaredBy != "" && e.DeclaredBy != e.Owner {
		parts = append(parts, "declared by "+e.DeclaredBy)
	}
	if e.ExpiresAt != nil {
		if left := e.ExpiresAt.Sub(now); left > 0 {
			parts = append(parts, duration.HumanDuration(left)+" left")
		} else {
			parts = append(parts, "expired "+duration.HumanDuration(-left)+" ago")
		}
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}
