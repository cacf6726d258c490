//go:build !agent

package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/display"
	"github.com/flotilla-dev/flotilla/internal/rollup"
)

// getResource is a kind `flotilla get` lists, with its table columns.
type getResource struct {
	// plural is the resource name (as in the API path); names are every
	// name it answers to, plural first.
	plural string
	names  []string
	kind   string
	// namespaced kinds are listed in defaultNamespace without -n or -A
	// (every namespace when it is empty).
	namespaced       bool
	defaultNamespace string
	newList          func() client.ObjectList
	newObject        func() client.Object
	columns          []column
}

// column is one column of a table. The default table has those that are not
// wide: the CRD's printer columns of priority 0; -o wide adds the others.
type column struct {
	header string
	wide   bool
	value  func(client.Object, time.Time) string
}

// col is a column over objects of type T.
func col[T client.Object](header string, wide bool, value func(T, time.Time) string) column {
	return column{header: header, wide: wide, value: func(o client.Object, now time.Time) string {
		t, ok := o.(T)
		if !ok {
			return ""
		}
		return value(t, now)
	}}
}

// getResources are the kinds `flotilla get` knows, in the order help lists them.
var getResources = []*getResource{
	{
		plural: "clusters", names: []string{"clusters", "cluster", "fcl"}, kind: "Cluster",
		newList: func() client.ObjectList { return &fleetv1alpha1.ClusterList{} }, newObject: func() client.Object { return &fleetv1alpha1.Cluster{} },
		columns: []column{
			col("DELIVERY", false, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return string(c.Spec.Delivery.Mode) }),
			col("AVAILABLE", false, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return string(c.Status.Availability) }),
			col("VERSION", false, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return c.Status.KubernetesVersion }),
			col("NODES", true, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return fmt.Sprint(c.Status.NodeCount) }),
			col("AGENT", true, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return c.Status.AgentVersion }),
			col("HEARTBEAT", false, func(c *fleetv1alpha1.Cluster, now time.Time) string { return since(c.Status.LastHeartbeatTime, now) }),
			ageColumn,
			col("LABELS", true, func(c *fleetv1alpha1.Cluster, _ time.Time) string { return orDefault(formatLabels(c.Labels), "<none>") }),
		},
	},
	{
		plural: "fleets", names: []string{"fleets", "fleet", "flt"}, kind: "Fleet",
		newList: func() client.ObjectList { return &fleetv1alpha1.FleetList{} }, newObject: func() client.Object { return &fleetv1alpha1.Fleet{} },
		columns: []column{
			col("CLUSTERS", false, func(f *fleetv1alpha1.Fleet, _ time.Time) string { return fmt.Sprint(f.Status.Clusters) }),
			col("AVAILABLE", false, func(f *fleetv1alpha1.Fleet, _ time.Time) string { return fmt.Sprint(f.Status.AvailableClusters) }),
			col("READY", false, func(f *fleetv1alpha1.Fleet, _ time.Time) string {
				return conditionStatus(f.Status.Conditions, fleetv1alpha1.ConditionReady)
			}),
			ageColumn,
			col("SELECTOR", true, func(f *fleetv1alpha1.Fleet, _ time.Time) string {
				return orDefault(metav1.FormatLabelSelector(&f.Spec.Selector), "<none>")
			}),
			col("TENANTS", true, func(f *fleetv1alpha1.Fleet, _ time.Time) string { return describeTenants(f.Spec.Tenants) }),
		},
	},
	{
		plural: "promises", names: []string{"promises", "promise", "prm"}, kind: "Promise",
		newList: func() client.ObjectList { return &fleetv1alpha1.PromiseList{} }, newObject: func() client.Object { return &fleetv1alpha1.Promise{} },
		columns: []column{
			col("KIND", false, func(p *fleetv1alpha1.Promise, _ time.Time) string { return p.Spec.API.Kind }),
			col("GROUP", true, func(p *fleetv1alpha1.Promise, _ time.Time) string { return p.Spec.API.Group }),
			col("LATEST", false, func(p *fleetv1alpha1.Promise, _ time.Time) string { return p.Status.LatestRevision }),
			col("INSTANCES", false, func(p *fleetv1alpha1.Promise, _ time.Time) string { return fmt.Sprint(p.Status.Instances) }),
			col("UPDATE", true, func(p *fleetv1alpha1.Promise, _ time.Time) string { return string(p.Spec.UpdatePolicy.Mode) }),
			col("READY", false, func(p *fleetv1alpha1.Promise, _ time.Time) string {
				return conditionStatus(p.Status.Conditions, fleetv1alpha1.ConditionReady)
			}),
			ageColumn,
			col("REVISIONS", true, func(p *fleetv1alpha1.Promise, _ time.Time) string { return describeRevisionUsage(p.Status.Revisions) }),
		},
	},
	{
		plural: "rollouts", names: []string{"rollouts", "rollout", "ro", "fro"}, kind: "Rollout",
		namespaced: true, defaultNamespace: fleetv1alpha1.PlatformNamespace,
		newList: func() client.ObjectList { return &fleetv1alpha1.RolloutList{} }, newObject: func() client.Object { return &fleetv1alpha1.Rollout{} },
		columns: []column{
			col("SUBJECT", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return r.Spec.Subject.Promise }),
			col("INSTANCE", true, func(r *fleetv1alpha1.Rollout, _ time.Time) string {
				if r.Spec.Subject.Instance == nil {
					return ""
				}
				return r.Spec.Subject.Instance.Name
			}),
			col("FROM", true, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return r.Spec.FromRevision }),
			col("TARGET", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return r.Spec.TargetRevision }),
			col("MODE", true, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return string(r.Spec.UpdatePolicy.Mode) }),
			col("PHASE", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return string(r.Status.Phase) }),
			col("WAVE", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return r.Status.CurrentWave }),
			col("PROGRESS", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string {
				return fmt.Sprintf("%d%%", r.Status.PercentOnTarget)
			}),
			col("FAILED", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string { return fmt.Sprint(r.Status.Counts.Failed) }),
			col("DEGRADED", false, func(r *fleetv1alpha1.Rollout, _ time.Time) string {
				if c := meta.FindStatusCondition(r.Status.Conditions, fleetv1alpha1.ConditionDegraded); c != nil {
					return c.Reason
				}
				return ""
			}),
			col("UNATTRIBUTED", true, func(r *fleetv1alpha1.Rollout, _ time.Time) string {
				return fmt.Sprint(r.Status.UnattributedFailureCount)
			}),
			ageColumn,
			col("MESSAGE", true, func(r *fleetv1alpha1.Rollout, _ time.Time) string {
				if c := meta.FindStatusCondition(r.Status.Conditions, fleetv1alpha1.ConditionReady); c != nil {
					return display.Truncate(display.Printable(c.Message), fleetStatusMessage)
				}
				return ""
			}),
		},
	},
	{
		plural: "works", names: []string{"works", "work", "wk"}, kind: "Work",
		// Works live in one namespace per cluster: without -n, all of them.
		namespaced: true, defaultNamespace: "",
		newList: func() client.ObjectList { return &fleetv1alpha1.WorkList{} }, newObject: func() client.Object { return &fleetv1alpha1.Work{} },
		columns: []column{
			col("CLUSTER", false, func(w *fleetv1alpha1.Work, _ time.Time) string { return w.Spec.Cluster }),
			col("PROMISE", false, func(w *fleetv1alpha1.Work, _ time.Time) string { return w.Spec.Subject.Promise }),
			col("INSTANCE", false, func(w *fleetv1alpha1.Work, _ time.Time) string {
				if w.Spec.Subject.Instance == nil {
					return ""
				}
				return w.Spec.Subject.Instance.Name
			}),
			col("REVISION", false, func(w *fleetv1alpha1.Work, _ time.Time) string { return w.Spec.Revision }),
			col("APPLIED", false, func(w *fleetv1alpha1.Work, _ time.Time) string { return w.Status.AppliedRevision }),
			col("READY", false, func(w *fleetv1alpha1.Work, _ time.Time) string {
				return conditionStatus(w.Status.Conditions, fleetv1alpha1.ConditionReady)
			}),
			col("DRIFTED", true, func(w *fleetv1alpha1.Work, _ time.Time) string {
				return conditionStatus(w.Status.Conditions, fleetv1alpha1.ConditionDrifted)
			}),
			ageColumn,
			col("STATE", true, func(w *fleetv1alpha1.Work, _ time.Time) string {
				state, _ := rollup.Classify(w)
				return string(state)
			}),
			col("REASON", true, func(w *fleetv1alpha1.Work, _ time.Time) string {
				if state, _ := rollup.Classify(w); state != rollup.StateFailed {
					return ""
				}
				f := rollup.Explain(w)
				return display.Truncate(display.Printable(strings.TrimSpace(f.Reason+": "+f.Message)), fleetStatusMessage)
			}),
		},
	},
	{
		plural: "overrides", names: []string{"overrides", "override", "ovr"}, kind: "Override",
		// The platform's, as for rollouts; a team's with -n, every one with -A.
		namespaced: true, defaultNamespace: fleetv1alpha1.PlatformNamespace,
		newList: func() client.ObjectList { return &fleetv1alpha1.OverrideList{} }, newObject: func() client.Object { return &fleetv1alpha1.Override{} },
		columns: []column{
			col("PROMISE", false, func(o *fleetv1alpha1.Override, _ time.Time) string { return o.Spec.Promise }),
			col("TYPE", false, func(o *fleetv1alpha1.Override, _ time.Time) string { return string(o.Spec.Type) }),
			col("CLUSTERS", false, func(o *fleetv1alpha1.Override, _ time.Time) string { return fmt.Sprint(o.Status.AffectedClusters) }),
			col("WORKS", true, func(o *fleetv1alpha1.Override, _ time.Time) string { return fmt.Sprint(o.Status.AffectedWorks) }),
			// Works that render an earlier spec of a team's Override, until its
			// instances' Rollouts move them on.
			col("PENDING", true, func(o *fleetv1alpha1.Override, _ time.Time) string { return fmt.Sprint(o.Status.PendingWorks) }),
			col("READY", false, func(o *fleetv1alpha1.Override, _ time.Time) string {
				return conditionStatus(o.Status.Conditions, fleetv1alpha1.ConditionReady)
			}),
			ageColumn,
			col("MESSAGE", true, func(o *fleetv1alpha1.Override, _ time.Time) string {
				c := meta.FindStatusCondition(o.Status.Conditions, fleetv1alpha1.ConditionReady)
				if c == nil {
					return ""
				}
				return display.Truncate(display.Printable(c.Message), fleetStatusMessage)
			}),
		},
	},
	{
		plural: "rolloutstrategies", names: []string{"rolloutstrategies", "rolloutstrategy", "rost"}, kind: "RolloutStrategy",
		newList: func() client.ObjectList { return &fleetv1alpha1.RolloutStrategyList{} }, newObject: func() client.Object { return &fleetv1alpha1.RolloutStrategy{} },
		columns: []column{
			// Every wave, in order: kubectl's column can show only the first.
			col("WAVES", false, func(s *fleetv1alpha1.RolloutStrategy, _ time.Time) string {
				names := make([]string, 0, len(s.Spec.Waves))
				for _, w := range s.Spec.Waves {
					names = append(names, w.Name)
				}
				return strings.Join(names, ",")
			}),
			col("ON-FAILURE", false, func(s *fleetv1alpha1.RolloutStrategy, _ time.Time) string { return string(s.Spec.OnFailure) }),
			col("OFFLINE", false, func(s *fleetv1alpha1.RolloutStrategy, _ time.Time) string { return string(s.Spec.OfflinePolicy) }),
			ageColumn,
		},
	},
	{
		plural: "fleetfreezes", names: []string{"fleetfreezes", "fleetfreeze", "freeze"}, kind: "FleetFreeze",
		newList: func() client.ObjectList { return &fleetv1alpha1.FleetFreezeList{} }, newObject: func() client.Object { return &fleetv1alpha1.FleetFreeze{} },
		columns: []column{
			col("ACTION", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string { return string(f.Spec.Action) }),
			col("UNTIL", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string {
				if f.Spec.Until == nil {
					return ""
				}
				return f.Spec.Until.UTC().Format(time.RFC3339)
			}),
			col("ACTIVE", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string {
				return conditionStatus(f.Status.Conditions, fleetv1alpha1.ConditionActive)
			}),
			col("HELD", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string { return fmt.Sprint(f.Status.HeldRollouts) }),
			col("ROLLED-BACK", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string {
				return fmt.Sprint(f.Status.RolledBackRollouts)
			}),
			col("REASON", false, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string {
				return display.Truncate(display.Printable(f.Spec.Reason), fleetStatusMessage)
			}),
			ageColumn,
			col("BY", true, func(f *fleetv1alpha1.FleetFreeze, _ time.Time) string { return f.Spec.FrozenBy }),
		},
	},
}

var ageColumn = column{header: "AGE", value: func(o client.Object, now time.Time) string {
	t := o.GetCreationTimestamp()
	return age(&t, now)
}}

// findResource resolves a resource name as kubectl does: plural, singular
// or short name, in any case, optionally followed by the API group.
func findResource(name string) (*getResource, error) {
	n := strings.ToLower(name)
	n = strings.TrimSuffix(n, "."+fleetv1alpha1.GroupVersion.Group)
	for _, r := range getResources {
		if slices.Contains(r.names, n) {
			return r, nil
		}
	}
	known := make([]string, 0, len(getResources))
	var suggestions []string
	for _, r := range getResources {
		known = append(known, fmt.Sprintf("%s (%s)", r.plural, strings.Join(r.names[1:], ", ")))
		for _, alias := range r.names {
			if strings.HasPrefix(alias, n) || (len(n) >= 4 && strings.Contains(alias, n)) || editDistance(alias, n) <= 2 {
				suggestions = append(suggestions, r.plural)
				break
			}
		}
	}
	msg := fmt.Sprintf("unknown resource %q", name)
	if len(suggestions) > 0 {
		msg += "; did you mean " + quoteAll(suggestions) + "?"
	}
	return nil, fmt.Errorf("%s\nflotilla get knows %s", msg, strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance of a and b (bytes; resource
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// printTable writes objs as kubectl does: aligned columns, a NAMESPACE column
// first when they come from several namespaces, the wide columns with -o wide.
func (r *getResource) printTable(w io.Writer, objs []client.Object, wide, withNamespace bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	var header []string
	if withNamespace {
		header = append(header, "NAMESPACE")
	}
	header = append(header, "NAME")
	for _, c := range r.columns {
		if wide || !c.wide {
			header = append(header, c.header)
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, o := range objs {
		var row []string
		if withNamespace {
			row = append(row, o.GetNamespace())
		}
		row = append(row, o.GetName())
		for _, c := range r.columns {
			if wide || !c.wide {
				row = append(row, display.Printable(c.value(o, now)))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
}

// age is how long before now t was, as kubectl shows the AGE column.
func age(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// since is the age of an optional time: empty when unset, as kubectl shows
// a missing date column.
func since(t *metav1.Time, now time.Time) string {
	if t == nil {
		return ""
	}
	return age(t, now)
}

func conditionStatus(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status)
	}
	return ""
}

func describeTenants(t *fleetv1alpha1.Tenants) string {
	if t == nil {
		return "<none>"
	}
	var parts []string
	if len(t.Namespaces) > 0 {
		parts = append(parts, strings.Join(t.Namespaces, ","))
	}
	if t.NamespaceSelector != nil {
		parts = append(parts, "namespaces with "+metav1.FormatLabelSelector(t.NamespaceSelector))
	}
	return strings.Join(parts, "; ")
}

// describeRevisionUsage is the newest revisions in use, each with its
// number of clusters.
func describeRevisionUsage(revs []fleetv1alpha1.RevisionUsage) string {
	if len(revs) == 0 {
		return "<none>"
	}
	const shown = 3
	parts := make([]string, 0, shown+1)
	for _, r := range revs[:min(len(revs), shown)] {
		parts = append(parts, fmt.Sprintf("%s(%d)", r.Name, r.Clusters))
	}
	if len(revs) > shown {
		parts = append(parts, fmt.Sprintf("+%d more", len(revs)-shown))
	}
	return strings.Join(parts, ",")
}
