//go:build !agent

package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

type getOptions struct {
	hubClientOptions
	namespace     string
	allNamespaces bool
	selector      string
	output        string

	// From the arguments: the resource and, optionally, one name.
	resourceArg string
	name        string

	resource *getResource
	labels   labels.Selector
}

func newGetCommand() *cobra.Command {
	o := &getOptions{}
	names := make([]string, 0, len(getResources))
	for _, r := range getResources {
		names = append(names, fmt.Sprintf("  %-17s  %s", r.plural, strings.Join(r.names[1:], ", ")))
	}
	cmd := &cobra.Command{
		Use:   "get RESOURCE [NAME]",
		Short: "List Clusters, Fleets, Promises, Rollouts, Works, RolloutStrategies or FleetFreezes, as kubectl get does",
		Long: `List the hub's Clusters, Fleets, Promises, Rollouts, Works, RolloutStrategies or
FleetFreezes in a table (the columns of kubectl get, complete where kubectl's
show only a part, and more with -o wide), or print them as yaml or json.

Resources and the other names they answer to:
` + strings.Join(names, "\n") + `

Rollouts are listed in flotilla-system unless -n or -A says otherwise; Works,
which live in one namespace per cluster (flotilla-cluster-NAME), in every
namespace unless -n says otherwise. NAME picks one object; -l filters by labels.`,
		Example: `  flotilla get clusters -o wide
  flotilla get clusters -l env=prod
  flotilla get rollouts -A
  flotilla get rolloutstrategies
  flotilla get fleetfreezes
  flotilla get works -l fleet.flotilla.dev/cluster=eu-1 -o wide
  flotilla get promise postgres -o yaml`,
		Args: positional(1, 2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			plurals := make([]cobra.Completion, 0, len(getResources))
			for _, r := range getResources {
				plurals = append(plurals, r.plural)
			}
			return plurals, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.resourceArg = args[0]
			if len(args) > 1 {
				o.name = args[1]
			}
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *getOptions) addFlags(flags *pflag.FlagSet) {
	o.hubClientOptions.addFlags(flags)
	flags.StringVarP(&o.namespace, "namespace", "n", "", "namespace of Rollouts or Works (default: flotilla-system for Rollouts, every namespace for Works)")
	flags.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list Rollouts or Works of every namespace")
	flags.StringVarP(&o.selector, "selector", "l", "", "label selector, as kubectl takes it (env=prod,tier!=edge)")
	flags.StringVarP(&o.output, "output", "o", "", "wide (more columns), yaml, json or name")
}

func (o *getOptions) validate() error {
	var errs []error
	switch o.output {
	case "", "wide", "yaml", "json", "name":
	default:
		errs = append(errs, fmt.Errorf("-o %q: want wide, yaml, json or name", o.output))
	}
	if o.namespace != "" && o.allNamespaces {
		errs = append(errs, errors.New("-n and -A cannot be combined"))
	}
	if o.name != "" && o.selector != "" {
		errs = append(errs, errors.New("NAME and -l cannot be combined"))
	}
	if sel, err := labels.Parse(o.selector); err != nil {
		errs = append(errs, fmt.Errorf("-l %q: %w", o.selector, err))
	} else {
		o.labels = sel
	}
	if o.resourceArg != "" {
		r, err := findResource(o.resourceArg)
		errs = append(errs, err)
		o.resource = r
	}
	return errors.Join(errs...)
}

// listNamespace is where a namespaced resource is read: "" for every namespace.
func (o *getOptions) listNamespace() string {
	switch {
	case !o.resource.namespaced || o.allNamespaces:
		return ""
	case o.namespace != "":
		return o.namespace
	}
	return o.resource.defaultNamespace
}

func (o *getOptions) run(cmd *cobra.Command) error {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return fmt.Errorf("creating hub client: %w", err)
	}
	objs, list, err := o.fetch(cmd.Context(), c)
	if err != nil {
		return err
	}
	return o.print(cmd.OutOrStdout(), cmd.ErrOrStderr(), objs, list, time.Now())
}

// fetch reads what was asked for: the objects, sorted by namespace and name,
// and the list that holds them (nil when one object was read by name).
func (o *getOptions) fetch(ctx context.Context, c client.Reader) ([]client.Object, client.ObjectList, error) {
	r, ns := o.resource, o.listNamespace()
	if o.name != "" && (!r.namespaced || ns != "") {
		obj := r.newObject()
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.name}, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil, o.notFound(ns)
			}
			return nil, nil, fmt.Errorf("reading %s %q: %w", strings.ToLower(r.kind), o.name, err)
		}
		return []client.Object{obj}, nil, nil
	}
	opts := []client.ListOption{client.InNamespace(ns), client.MatchingLabelsSelector{Selector: o.labels}}
	if o.name != "" {
		// A namespaced object by name in every namespace (a Work, whose
		// namespace is its cluster's): the API filters on the name.
		opts = append(opts, client.MatchingFields{"metadata.name": o.name})
	}
	list := r.newList()
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, nil, fmt.Errorf("listing %s%s: %w", r.plural, inNamespace(r, ns), err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the list of %s: %w", r.plural, err)
	}
	objs := make([]client.Object, 0, len(items))
	for _, item := range items {
		if obj, ok := item.(client.Object); ok {
			objs = append(objs, obj)
		}
	}
	if o.name != "" && len(objs) == 0 {
		return nil, nil, o.notFound(ns)
	}
	slices.SortFunc(objs, func(a, b client.Object) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	return objs, list, nil
}

func (o *getOptions) notFound(ns string) error {
	kind := strings.ToLower(o.resource.kind)
	switch {
	case !o.resource.namespaced:
		return fmt.Errorf("%s %q not found", kind, o.name)
	case ns == "":
		return fmt.Errorf("%s %q not found in any namespace", kind, o.name)
	}
	return fmt.Errorf("%s %q not found in namespace %s", kind, o.name, ns)
}

func inNamespace(r *getResource, ns string) string {
	switch {
	case !r.namespaced:
		return ""
	case ns == "":
		return " in every namespace"
	}
	return " in namespace " + ns
}

// print writes objs as asked by -o. An empty table is a note on stderr, as
// kubectl does, so that stdout stays empty for scripts.
func (o *getOptions) print(out, stderr io.Writer, objs []client.Object, list client.ObjectList, now time.Time) error {
	r := o.resource
	for _, obj := range objs {
		obj.GetObjectKind().SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind(r.kind))
		obj.SetManagedFields(nil)
	}
	switch o.output {
	case "yaml", "json":
		if list == nil || (o.name != "" && len(objs) == 1) {
			return printObject(out, objs[0], o.output)
		}
		list.GetObjectKind().SetGroupVersionKind(fleetv1alpha1.GroupVersion.WithKind(r.kind + "List"))
		if err := meta.SetList(list, toRuntimeObjects(objs)); err != nil {
			return fmt.Errorf("sorting the list of %s: %w", r.plural, err)
		}
		return printObject(out, list, o.output)
	case "name":
		var b strings.Builder
		for _, obj := range objs {
			fmt.Fprintf(&b, "%s.%s/%s\n", strings.ToLower(r.kind), fleetv1alpha1.GroupVersion.Group, obj.GetName())
		}
		_, err := io.WriteString(out, b.String())
		return err
	}
	if len(objs) == 0 {
		ns := o.listNamespace()
		if r.namespaced && ns != "" {
			fmt.Fprintf(stderr, "No resources found in %s namespace.\n", ns)
		} else {
			fmt.Fprintln(stderr, "No resources found")
		}
		return nil
	}
	r.printTable(out, objs, o.output == "wide", r.namespaced && o.listNamespace() == "", now)
	return nil
}

func toRuntimeObjects(objs []client.Object) []runtime.Object {
	out := make([]runtime.Object, 0, len(objs))
	for _, o := range objs {
		out = append(out, o)
	}
	return out
}
