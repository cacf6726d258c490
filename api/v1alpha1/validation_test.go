package v1alpha1_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	v1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

const (
	clusterNS = "flotilla-cluster-edge-1"
	teamNS    = "team-a"
)

// createCase creates obj (after deleting the remove paths) and expects it to
// be accepted when want is empty, else rejected as Invalid with every want
// substring in the message (the field path and the rule's message).
type createCase struct {
	name   string
	obj    client.Object
	remove []string
	want   []string
}

// updateCase creates obj, applies update and expects the update to be
// accepted (want empty) or rejected as Invalid naming want.
type updateCase struct {
	name   string
	obj    client.Object
	update func(client.Object)
	want   []string
}

// TestValidation runs every kind's schema, defaults and CEL rules against a
// real kube-apiserver with the generated CRDs installed. One hub for all.
func TestValidation(t *testing.T) {
	ctx, c := newAPIServer(t, v1.PlatformNamespace, clusterNS, teamNS)

	groups := []struct {
		kind    string
		creates []createCase
		updates []updateCase
	}{
		{"Cluster", clusterCases(), nil},
		{"Fleet", fleetCases(), nil},
		{"Promise", promiseCases(), promiseUpdates()},
		{"PromiseRevision", promiseRevisionCases(), promiseRevisionUpdates()},
		{"Work", workCases(), workUpdates()},
		{"RolloutStrategy", rolloutStrategyCases(), nil},
		{"Rollout", rolloutCases(), rolloutUpdates()},
		{"Override", overrideCases(), nil},
		{"DriftException", driftExceptionCases(), nil},
		{"FleetFreeze", fleetFreezeCases(), nil},
	}
	n := 0
	for _, g := range groups {
		t.Run(g.kind, func(t *testing.T) {
			var accepted, rejected int
			for _, tc := range g.creates {
				n++
				t.Run(tc.name, func(t *testing.T) {
					u := toUnstructured(t, c.Scheme(), tc.obj, fmt.Sprintf("c%d", n))
					for _, path := range tc.remove {
						unstructured.RemoveNestedField(u.Object, strings.Split(path, ".")...)
					}
					expectResult(t, c.Create(ctx, u), tc.want)
				})
				if len(tc.want) == 0 {
					accepted++
				} else {
					rejected++
				}
			}
			for _, tc := range g.updates {
				n++
				t.Run(tc.name, func(t *testing.T) {
					obj := tc.obj
					if obj.GetName() == "" {
						obj.SetName(fmt.Sprintf("u%d", n))
					}
					if err := c.Create(ctx, obj); err != nil {
						t.Fatalf("creating: %v", err)
					}
					tc.update(obj)
					expectResult(t, c.Update(ctx, obj), tc.want)
				})
			}
			if accepted == 0 || rejected == 0 {
				t.Errorf("%s needs at least one accepted and one rejected case (got %d, %d)", g.kind, accepted, rejected)
			}
		})
	}

	t.Run("Defaults", func(t *testing.T) { testDefaults(ctx, t, c) })
	t.Run("DocsExamples", func(t *testing.T) { testDocsExamples(ctx, t, c) })
}

func expectResult(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("want accepted, got: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want rejected with %q, got accepted", want)
	}
	t.Logf("rejected: %v", err)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error, got %T: %v", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

// toUnstructured round-trips through JSON so cases can delete fields that the
// typed structs would always serialize.
func toUnstructured(t *testing.T, scheme *runtime.Scheme, obj client.Object, name string) *unstructured.Unstructured {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(data, &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetGroupVersionKind(gvk)
	if u.GetName() == "" {
		u.SetName(name)
	}
	return u
}

// with returns a copy of base changed by fn, so each case states only its difference.
func with[T client.Object](base T, fn func(T)) T {
	obj := base.DeepCopyObject().(T)
	fn(obj)
	return obj
}

// raw encodes a fixture built from maps, slices and scalars, which cannot fail.
func raw(v any) runtime.RawExtension {
	data, _ := json.Marshal(v)
	return runtime.RawExtension{Raw: data}
}

func manifest(obj map[string]any) v1.Manifest {
	return v1.Manifest{RawExtension: raw(obj)}
}

func ptr[T any](v T) *T { return &v }

var (
	future      = metav1.NewTime(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))
	contentHash = strings.Repeat("0123456789abcdef", 4)
)

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// ---- Cluster ----

func validCluster() *v1.Cluster {
	return &v1.Cluster{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"env": "prod", "region": "eu"}}}
}

func gitCluster() *v1.Cluster {
	return with(validCluster(), func(c *v1.Cluster) {
		c.Spec.Delivery = v1.Delivery{Mode: v1.DeliveryGit, Git: &v1.GitDelivery{
			URL: "https://git.example.com/fleet.git", Path: "clusters/edge",
			SecretRef: &v1.SecretReference{Name: "git-creds"},
		}}
	})
}

func clusterCases() []createCase {
	return []createCase{
		{name: "agent delivery by default", obj: validCluster()},
		{name: "no spec at all", obj: validCluster(), remove: []string{"spec"}},
		{name: "git delivery", obj: gitCluster()},
		{name: "git over ssh with a user", obj: with(gitCluster(), func(c *v1.Cluster) {
			c.Spec.Delivery.Git.URL = "ssh://git@git.example.com:2222/platform/fleet@v1.git"
		})},
		{name: "git over https with an @ in the path", obj: with(gitCluster(), func(c *v1.Cluster) {
			c.Spec.Delivery.Git.URL = "https://git.example.com/~alice/fleet@2026.git"
		})},
		{name: "longest name", obj: with(validCluster(), func(c *v1.Cluster) { c.Name = strings.Repeat("a", 46) })},
		{
			name: "git mode without git block",
			obj:  with(validCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Mode = v1.DeliveryGit }),
			want: []string{"spec.delivery", "git is required when mode is Git"},
		},
		{
			name: "git block with agent mode",
			obj:  with(gitCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Mode = v1.DeliveryAgent }),
			want: []string{"spec.delivery", "not allowed otherwise"},
		},
		{
			name: "git url scheme",
			obj:  with(gitCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Git.URL = "ftp://example.com/x" }),
			want: []string{"spec.delivery.git.url"},
		},
		{
			name:   "git url missing",
			obj:    gitCluster(),
			remove: []string{"spec.delivery.git.url"},
			want:   []string{"spec.delivery.git.url", "Required value"},
		},
		{
			name: "git path escapes",
			obj:  with(gitCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Git.Path = "../other" }),
			want: []string{"spec.delivery.git.path", "must be relative"},
		},
		{
			// Every team may read Clusters (the per-team how-to's
			// catalog reader): a token in the URL is a token to push any
			// object to any member.
			name: "git url with a token",
			obj: with(gitCluster(), func(c *v1.Cluster) {
				c.Spec.Delivery.Git.URL = "https://x-access-token:ghp_s3cret@github.com/platform/fleet.git"
			}),
			want: []string{"spec.delivery.git.url", "must not hold credentials"},
		},
		{
			name: "git url with a token as the user",
			obj:  with(gitCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Git.URL = "https://ghp_s3cret@github.com/platform/fleet.git" }),
			want: []string{"spec.delivery.git.url", "must not hold credentials"},
		},
		{
			name: "ssh url with a password",
			obj:  with(gitCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Git.URL = "ssh://git:s3cret@git.example.com/fleet.git" }),
			want: []string{"spec.delivery.git.url", "must not hold credentials"},
		},
		{
			name: "unknown delivery mode",
			obj:  with(validCluster(), func(c *v1.Cluster) { c.Spec.Delivery.Mode = "Push" }),
			want: []string{"spec.delivery.mode", "Unsupported value"},
		},
		{
			name: "name too long for its namespace",
			obj:  with(validCluster(), func(c *v1.Cluster) { c.Name = strings.Repeat("a", 47) }),
			want: []string{"metadata.name must be a DNS label of at most 46 characters"},
		},
		{
			name: "name with a dot",
			obj:  with(validCluster(), func(c *v1.Cluster) { c.Name = "edge.1" }),
			want: []string{"metadata.name must be a DNS label"},
		},
	}
}

// ---- Fleet ----

func validFleet() *v1.Fleet {
	return &v1.Fleet{Spec: v1.FleetSpec{
		Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}},
		Tenants:  &v1.Tenants{Namespaces: []string{teamNS}},
	}}
}

func fleetCases() []createCase {
	return []createCase{
		{name: "valid", obj: validFleet()},
		{name: "tenants by selector", obj: with(validFleet(), func(f *v1.Fleet) {
			f.Spec.Tenants = &v1.Tenants{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"flotilla.dev/tenant": "true"}}}
		})},
		{name: "missing spec", obj: validFleet(), remove: []string{"spec"}, want: []string{"spec", "Required value"}},
		{name: "missing selector", obj: validFleet(), remove: []string{"spec.selector"}, want: []string{"spec.selector", "Required value"}},
		{
			name: "empty tenants",
			obj:  with(validFleet(), func(f *v1.Fleet) { f.Spec.Tenants = &v1.Tenants{} }),
			want: []string{"spec.tenants", "set namespaces, namespaceSelector or both"},
		},
		{
			name: "duplicate tenant",
			obj:  with(validFleet(), func(f *v1.Fleet) { f.Spec.Tenants.Namespaces = []string{teamNS, teamNS} }),
			want: []string{"spec.tenants.namespaces[1]", "Duplicate value"},
		},
		{name: "every operator", obj: with(validFleet(), func(f *v1.Fleet) {
			f.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{
				{Key: "a", Operator: metav1.LabelSelectorOpIn, Values: []string{"x"}}, {Key: "b", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"y"}},
				{Key: "c", Operator: metav1.LabelSelectorOpExists}, {Key: "d", Operator: metav1.LabelSelectorOpDoesNotExist},
			}
		})},
		// A selector labels cannot parse holds instances where they are
		// (docs/placement.md): refused when it is written.
		{
			name: "selector operator in",
			obj: with(validFleet(), func(f *v1.Fleet) {
				f.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "env", Operator: "in", Values: []string{"prod"}}}
			}),
			want: []string{"spec.selector", "each operator is In or NotIn, with values"},
		},
		{
			name: "tenants selector In without values",
			obj: with(validFleet(), func(f *v1.Fleet) {
				f.Spec.Tenants.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}}
			}),
			want: []string{"spec.tenants.namespaceSelector", "each operator is In or NotIn, with values"},
		},
	}
}

// ---- Promise ----

func validContent() v1.PromiseContent {
	return v1.PromiseContent{
		API: v1.PromiseAPI{
			Group: "platform.example.com",
			Kind:  "Postgres",
			Schema: raw(map[string]any{
				"type":       "object",
				"properties": map[string]any{"size": map[string]any{"type": "string", "enum": []string{"small", "large"}}},
			}),
		},
		Templates: &v1.Templates{GoTemplates: []v1.GoTemplate{{
			Name:     "configmap.yaml",
			Template: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .instance.metadata.name | quote }}\n",
		}}},
		Output: &v1.PromiseOutput{Kinds: []v1.OutputKind{{Kind: "ConfigMap"}}},
		FleetResources: []v1.Manifest{manifest(map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "postgres-system"},
		})},
		Examples: []v1.PromiseExample{{Name: "small", Spec: raw(map[string]any{"size": "small"})}},
	}
}

func validPromise() *v1.Promise {
	return &v1.Promise{Spec: v1.PromiseSpec{
		PromiseContent: validContent(),
		Placement:      &v1.ClusterSelector{Fleets: []string{"prod"}},
		StrategyRef:    &v1.LocalObjectReference{Name: "default"},
	}}
}

func helmPromise() *v1.Promise {
	return with(validPromise(), func(p *v1.Promise) {
		p.Spec.Templates = &v1.Templates{Engine: v1.TemplateEngineHelm, Helm: &v1.HelmTemplate{
			Repository: &v1.HelmRepository{URL: "https://charts.example.com", Chart: "redis", Version: "1.2.3"},
			Values:     ptr(raw(map[string]any{"replicas": 1})),
		}}
	})
}

func promiseCases() []createCase {
	return []createCase{
		{name: "go templates", obj: validPromise()},
		{name: "helm chart from a repository", obj: helmPromise()},
		{name: "helm chart from a ConfigMap", obj: with(helmPromise(), func(p *v1.Promise) {
			p.Spec.Templates.Helm.Repository = nil
			p.Spec.Templates.Helm.ConfigMapRef = &v1.ConfigMapKeyReference{Name: "redis-chart"}
		})},
		// Bytes whose standard base64 holds "+" and "/", as nearly every real chart's does.
		{name: "helm chart inline", obj: with(helmPromise(), func(p *v1.Promise) {
			p.Spec.Templates.Helm.Repository = nil
			p.Spec.Templates.Helm.Inline = base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xbf, 0x1f, 0x8b, 0x08})
		})},
		{name: "immediate with reason", obj: with(validPromise(), func(p *v1.Promise) {
			p.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeImmediate, Reason: "CVE-2031-0001"}
		})},
		{name: "deadline with deadline", obj: with(validPromise(), func(p *v1.Promise) {
			p.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeDeadline, Deadline: &future}
		})},
		{
			name: "deadline without deadline",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.UpdatePolicy.Mode = v1.UpdateModeDeadline }),
			want: []string{"spec.updatePolicy", "deadline is required when mode is Deadline"},
		},
		{
			name: "immediate without reason",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.UpdatePolicy.Mode = v1.UpdateModeImmediate }),
			want: []string{"spec.updatePolicy", "reason is required when mode is Immediate"},
		},
		{
			// The emergency lane, audited under a reason that says nothing.
			name: "immediate with a blank reason",
			obj: with(validPromise(), func(p *v1.Promise) {
				p.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeImmediate, Reason: " \t\n"}
			}),
			want: []string{"spec.updatePolicy", "reason is required when mode is Immediate"},
		},
		{
			name: "helm engine without chart",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Templates.Engine = v1.TemplateEngineHelm }),
			want: []string{"spec.templates", "engine Helm needs helm"},
		},
		{
			name: "two chart sources",
			obj: with(helmPromise(), func(p *v1.Promise) {
				p.Spec.Templates.Helm.ConfigMapRef = &v1.ConfigMapKeyReference{Name: "redis-chart"}
			}),
			want: []string{"spec.templates.helm", "set exactly one of inline, configMapRef, repository"},
		},
		{
			name: "lower-case kind",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.API.Kind = "postgres" }),
			want: []string{"spec.api.kind"},
		},
		{
			name: "reserved group",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.API.Group = "fleet.flotilla.dev" }),
			want: []string{"spec.api", "api group must not be fleet.flotilla.dev"},
		},
		{
			name:   "missing schema",
			obj:    validPromise(),
			remove: []string{"spec.api.schema"},
			want:   []string{"spec.api.schema", "Required value"},
		},
		{
			name: "fleet resource without kind",
			obj: with(validPromise(), func(p *v1.Promise) {
				p.Spec.FleetResources = []v1.Manifest{manifest(map[string]any{"apiVersion": "v1", "metadata": map[string]any{"name": "x"}})}
			}),
			want: []string{"spec.fleetResources[0].kind", "Required value"},
		},
		{
			name: "revision history limit",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.RevisionHistoryLimit = ptr[int32](0) }),
			want: []string{"spec.revisionHistoryLimit"},
		},
		{
			name: "name too long for revision labels",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Name = strings.Repeat("p", 53) }),
			want: []string{"metadata.name must be at most 52 characters"},
		},
		{name: "output with namespace rules and adoption", obj: with(validPromise(), func(p *v1.Promise) {
			p.Spec.Output.Kinds = append(p.Spec.Output.Kinds, v1.OutputKind{Kind: "Namespace"}, v1.OutputKind{Group: "apps", Kind: "Deployment"})
			p.Spec.Output.Namespaces = []string{"${namespace}-cache", "${namespace}-${name}", "shared-metrics"}
			p.Spec.Output.Adoption = v1.AdoptionIfUnowned
		})},
		{name: "fleet resources only, without output", obj: with(validPromise(), func(p *v1.Promise) {
			p.Spec.Templates, p.Spec.Output, p.Spec.Examples = nil, nil, nil
		})},
		{
			name: "templates without output",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Output = nil }),
			want: []string{"spec", "templates need output.kinds"},
		},
		{
			name: "templates with output but no kinds",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Output.Kinds = nil }),
			want: []string{"templates need output.kinds"},
		},
		{
			name: "a namespace rule a team's instance name alone shapes",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Output.Namespaces = []string{"${namespace}-cache", "db-${name}"} }),
			want: []string{"spec.output.namespaces", "must also have ${namespace}"},
		},
		{
			name: "a namespace rule that is no name",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Output.Namespaces = []string{"${namespace}/x"} }),
			want: []string{"spec.output.namespaces[0]"},
		},
		{
			name: "unknown adoption",
			obj:  with(validPromise(), func(p *v1.Promise) { p.Spec.Output.Adoption = "Always" }),
			want: []string{"spec.output.adoption", "Unsupported value"},
		},
	}
}

func promiseUpdates() []updateCase {
	return []updateCase{
		{
			name:   "templates may change",
			obj:    validPromise(),
			update: func(o client.Object) { o.(*v1.Promise).Spec.Templates.GoTemplates[0].Template += "# changed\n" },
		},
		{
			name:   "kind is immutable",
			obj:    validPromise(),
			update: func(o client.Object) { o.(*v1.Promise).Spec.API.Kind = "Mysql" },
			want:   []string{"spec.api", "api group and kind are immutable"},
		},
		{
			name:   "plural is immutable",
			obj:    validPromise(),
			update: func(o client.Object) { o.(*v1.Promise).Spec.API.Plural = "postgresdatabases" },
			want:   []string{"spec.api", "api plural is immutable"},
		},
		{
			name: "the defaulted plural spelled out is no change",
			obj:  validPromise(),
			update: func(o client.Object) {
				o.(*v1.Promise).Spec.API.Plural = strings.ToLower(o.(*v1.Promise).Spec.API.Kind) + "s"
			},
		},
	}
}

// ---- PromiseRevision ----

func validPromiseRevision() *v1.PromiseRevision {
	return &v1.PromiseRevision{Spec: v1.PromiseRevisionSpec{
		Promise: "postgres", Revision: 1, ContentHash: contentHash, Content: validContent(),
	}}
}

func promiseRevisionCases() []createCase {
	return []createCase{
		{name: "valid", obj: validPromiseRevision()},
		{
			name: "short hash",
			obj:  with(validPromiseRevision(), func(r *v1.PromiseRevision) { r.Spec.ContentHash = "abc" }),
			want: []string{"spec.contentHash"},
		},
		{
			name: "revision zero",
			obj:  with(validPromiseRevision(), func(r *v1.PromiseRevision) { r.Spec.Revision = 0 }),
			want: []string{"spec.revision"},
		},
		{
			name:   "missing content",
			obj:    validPromiseRevision(),
			remove: []string{"spec.content"},
			want:   []string{"spec.content", "Required value"},
		},
	}
}

func promiseRevisionUpdates() []updateCase {
	return []updateCase{
		{
			name:   "labels may change",
			obj:    validPromiseRevision(),
			update: func(o client.Object) { o.SetLabels(map[string]string{"x": "y"}) },
		},
		{
			name: "spec is immutable",
			obj:  validPromiseRevision(),
			update: func(o client.Object) {
				o.(*v1.PromiseRevision).Spec.Content.Templates.GoTemplates[0].Template = "changed"
			},
			want: []string{"spec", "spec is immutable"},
		},
	}
}

// ---- Work ----

func validWork() *v1.Work {
	return &v1.Work{
		ObjectMeta: metav1.ObjectMeta{Namespace: clusterNS},
		Spec: v1.WorkSpec{
			Cluster:  "edge-1",
			Subject:  v1.WorkSubject{Promise: "postgres", Instance: &v1.InstanceReference{Namespace: teamNS, Name: "orders"}},
			Revision: "postgres-0123456789",
			Manifests: []v1.Manifest{manifest(map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "orders", "namespace": teamNS},
				"data":     map[string]any{"size": "small"},
			})},
			Overrides: []string{"flotilla-system/edge-replicas"},
			Scope:     &v1.WorkScope{Namespaces: []string{teamNS}, Kinds: []v1.OutputKind{{Kind: "ConfigMap"}}},
		},
	}
}

func workCases() []createCase {
	return []createCase{
		{name: "valid", obj: validWork()},
		{name: "fleet resources", obj: with(validWork(), func(w *v1.Work) { w.Spec.Subject.Instance, w.Spec.Scope = nil, nil })},
		{name: "an instance that may render nothing", obj: with(validWork(), func(w *v1.Work) {
			w.Spec.Manifests, w.Spec.Scope.Kinds = nil, []v1.OutputKind{}
		})},
		{
			name: "an instance's Work without scope",
			obj:  with(validWork(), func(w *v1.Work) { w.Spec.Scope = nil }),
			want: []string{"an instance's Work needs a scope"},
		},
		{
			name: "unknown adoption",
			obj:  with(validWork(), func(w *v1.Work) { w.Spec.Adoption = "Always" }),
			want: []string{"spec.adoption", "Unsupported value"},
		},
		{
			name: "manifest without apiVersion",
			obj: with(validWork(), func(w *v1.Work) {
				w.Spec.Manifests = append(w.Spec.Manifests, manifest(map[string]any{"kind": "Secret", "metadata": map[string]any{"name": "x"}}))
			}),
			want: []string{"spec.manifests[1].apiVersion", "Required value"},
		},
		{
			name:   "missing revision",
			obj:    validWork(),
			remove: []string{"spec.revision"},
			want:   []string{"spec.revision", "Required value"},
		},
		{
			name: "unknown drift policy",
			obj:  with(validWork(), func(w *v1.Work) { w.Spec.DriftPolicy = "Ignore" }),
			want: []string{"spec.driftPolicy", "Unsupported value"},
		},
		{
			name: "cluster name too long",
			obj:  with(validWork(), func(w *v1.Work) { w.Spec.Cluster = strings.Repeat("c", 47) }),
			want: []string{"spec.cluster", "Too long"},
		},
		{
			name: "drift exceptions",
			obj: with(validWork(), func(w *v1.Work) {
				w.Spec.DriftExceptions = []v1.WorkDriftException{{Name: teamNS + "/scale", Resources: []v1.ResourceSelector{{Kind: "ConfigMap"}},
					Paths: []string{"data.size"}, ExpiresAt: metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))}}
			}),
		},
		{
			name: "drift exception without resources",
			obj: with(validWork(), func(w *v1.Work) {
				w.Spec.DriftExceptions = []v1.WorkDriftException{{Name: teamNS + "/scale", ExpiresAt: metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))}}
			}),
			want: []string{"spec.driftExceptions[0].resources", "Required value"},
		},
		{
			name: "too many drift exceptions",
			obj: with(validWork(), func(w *v1.Work) {
				for i := range 17 {
					w.Spec.DriftExceptions = append(w.Spec.DriftExceptions, v1.WorkDriftException{Name: fmt.Sprintf("%s/e%02d", teamNS, i),
						Resources: []v1.ResourceSelector{{Kind: "ConfigMap"}}, ExpiresAt: metav1.NewTime(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))})
				}
			}),
			want: []string{"spec.driftExceptions", "Too many"},
		},
	}
}

func workUpdates() []updateCase {
	return []updateCase{
		{
			name:   "revision may change",
			obj:    validWork(),
			update: func(o client.Object) { o.(*v1.Work).Spec.Revision = "postgres-abcdef0123" },
		},
		{
			name:   "cluster is immutable",
			obj:    validWork(),
			update: func(o client.Object) { o.(*v1.Work).Spec.Cluster = "edge-2" },
			want:   []string{"spec.cluster", "cluster is immutable"},
		},
	}
}

// ---- RolloutStrategy ----

func validStrategySpec() v1.RolloutStrategySpec {
	return v1.RolloutStrategySpec{
		Waves: []v1.Wave{
			{
				Name:           "canary",
				Selector:       &v1.WaveSelector{MatchLabels: map[string]string{"wave": "canary"}},
				MaxConcurrency: ptr(intstr.FromInt32(1)),
				MaxFailures:    ptr(intstr.FromInt32(0)),
				BakeTime:       duration(5 * time.Minute),
			},
			{
				Name:             "general",
				MaxConcurrency:   ptr(intstr.FromString("25%")),
				MaxFailures:      ptr(intstr.FromString("10%")),
				Approval:         v1.ApprovalRequired,
				ProgressDeadline: duration(15 * time.Minute),
			},
		},
		OnFailure:     v1.FailureRollback,
		OfflinePolicy: v1.OfflineCountAsFailure,
	}
}

func validStrategy() *v1.RolloutStrategy {
	return &v1.RolloutStrategy{Spec: validStrategySpec()}
}

func withWave(fn func(w *v1.Wave)) *v1.RolloutStrategy {
	return with(validStrategy(), func(s *v1.RolloutStrategy) { fn(&s.Spec.Waves[0]) })
}

func rolloutStrategyCases() []createCase {
	return []createCase{
		{name: "valid", obj: validStrategy()},
		{name: "100%", obj: withWave(func(w *v1.Wave) { w.MaxConcurrency = ptr(intstr.FromString("100%")) })},
		{name: "0% failures", obj: withWave(func(w *v1.Wave) { w.MaxFailures = ptr(intstr.FromString("0%")) })},
		{name: "compound duration", obj: withWave(func(w *v1.Wave) { w.BakeTime = duration(90 * time.Minute) })},
		{
			name: "percent over 100",
			obj:  withWave(func(w *v1.Wave) { w.MaxConcurrency = ptr(intstr.FromString("150%")) }),
			want: []string{"spec.waves[0].maxConcurrency", "percentage from 1% to 100%"},
		},
		{
			name: "zero concurrency",
			obj:  withWave(func(w *v1.Wave) { w.MaxConcurrency = ptr(intstr.FromInt32(0)) }),
			want: []string{"spec.waves[0].maxConcurrency", "count of at least 1"},
		},
		{
			name: "not a percentage",
			obj:  withWave(func(w *v1.Wave) { w.MaxConcurrency = ptr(intstr.FromString("half")) }),
			want: []string{"spec.waves[0].maxConcurrency"},
		},
		{
			name: "negative failures",
			obj:  withWave(func(w *v1.Wave) { w.MaxFailures = ptr(intstr.FromInt32(-1)) }),
			want: []string{"spec.waves[0].maxFailures", "count of at least 0"},
		},
		{
			name: "failure percent over 100",
			obj:  with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Waves[1].MaxFailures = ptr(intstr.FromString("101%")) }),
			want: []string{"spec.waves[1].maxFailures"},
		},
		{
			name: "bad bake time",
			obj:  withWave(func(w *v1.Wave) { w.BakeTime = &metav1.Duration{Duration: -time.Minute} }),
			want: []string{"spec.waves[0].bakeTime"},
		},
		{
			name: "reserved wave name",
			obj:  withWave(func(w *v1.Wave) { w.Name = v1.ImplicitWaveName }),
			want: []string{"spec.waves[0].name", "reserved"},
		},
		{
			name: "duplicate wave",
			obj:  with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Waves[1].Name = "canary" }),
			want: []string{"spec.waves[1]", "Duplicate value"},
		},
		{
			name: "no waves",
			obj:  with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.Waves = nil }),
			want: []string{"spec.waves", "Required value"},
		},
		// A wave selector labels cannot parse stalled every Rollout of the
		// strategy (InvalidSpec) at its start, the next release or fix
		// included, and every team's instance change under it: refused
		// when it is written, as for Fleets and Overrides.
		{
			name: "wave selector operator in",
			obj: withWave(func(w *v1.Wave) {
				w.Selector = &v1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring", Operator: "in", Values: []string{"canary"}}}}
			}),
			want: []string{"spec.waves[0].selector", "each operator is In or NotIn, with values"},
		},
		{
			name: "wave selector In without values",
			obj: withWave(func(w *v1.Wave) {
				w.Selector = &v1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring", Operator: metav1.LabelSelectorOpIn}}}
			}),
			want: []string{"spec.waves[0].selector", "each operator is In or NotIn, with values"},
		},
		{
			name: "wave selector Exists with values",
			obj: withWave(func(w *v1.Wave) {
				w.Selector = &v1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring", Operator: metav1.LabelSelectorOpExists, Values: []string{"canary"}}}}
			}),
			want: []string{"spec.waves[0].selector", "each operator is In or NotIn, with values"},
		},
		{name: "wave selector of every operator", obj: withWave(func(w *v1.Wave) {
			w.Selector = &v1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "a", Operator: metav1.LabelSelectorOpIn, Values: []string{"x"}}, {Key: "b", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"y"}},
				{Key: "c", Operator: metav1.LabelSelectorOpExists}, {Key: "d", Operator: metav1.LabelSelectorOpDoesNotExist},
			}}
		})},
		{
			name: "unknown approval",
			obj:  withWave(func(w *v1.Wave) { w.Approval = "Maybe" }),
			want: []string{"spec.waves[0].approval", "Unsupported value"},
		},
		{
			name: "unknown offline policy",
			obj:  with(validStrategy(), func(s *v1.RolloutStrategy) { s.Spec.OfflinePolicy = "Ignore" }),
			want: []string{"spec.offlinePolicy", "Unsupported value"},
		},
		{name: "checks of every kind", obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
			s.Spec.Checks = []v1.Check{metricCheck(), httpCheck(), jobCheck()}
			s.Spec.Waves[0].Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.Scope = v1.CheckWholeWave }),
				with2(metricCheck(), func(c *v1.Check) {
					c.Name, c.Scope, c.Metric.ClusterLabel = "by-cluster", v1.CheckWholeWave, "k8s_cluster"
				})}
		})},
		{
			name: "a check of two kinds",
			obj: withWave(func(w *v1.Wave) {
				w.Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.HTTP = httpCheck().HTTP })}
			}),
			want: []string{"spec.waves[0].checks[0]", "exactly one of metric, http or job"},
		},
		{
			name: "a check of no kind",
			obj:  withWave(func(w *v1.Wave) { w.Checks = []v1.Check{{Name: "nothing", Condition: "true"}} }),
			want: []string{"spec.waves[0].checks[0]", "exactly one of metric, http or job"},
		},
		{
			name: "a metric check without a condition",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.Condition = "" })}
			}),
			want: []string{"spec.checks[0]", "need a condition"},
		},
		{
			name: "a whole-wave check on the agent",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{with2(httpCheck(), func(c *v1.Check) { c.Scope = v1.CheckWholeWave })}
			}),
			want: []string{"spec.checks[0]", "only a hub metric check can judge the whole wave"},
		},
		{
			name: "clusterLabel on an agent's check",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.Metric.Placement, c.Metric.ClusterLabel = v1.CheckOnAgent, "cluster" })}
			}),
			want: []string{"spec.checks[0]", "clusterLabel names the cluster of a hub query's samples"},
		},
		{
			name: "a prometheus address that is not http",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.Metric.Address = "file:///etc/passwd" })}
			}),
			want: []string{"spec.checks[0].metric.address"},
		},
		{
			name: "duplicate check",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{metricCheck(), metricCheck()}
			}),
			want: []string{"spec.checks[1]", "Duplicate value"},
		},
		{
			name: "negative failure limit",
			obj: with(validStrategy(), func(s *v1.RolloutStrategy) {
				s.Spec.Checks = []v1.Check{with2(metricCheck(), func(c *v1.Check) { c.FailureLimit = -1 })}
			}),
			want: []string{"spec.checks[0].failureLimit"},
		},
	}
}

// with2 is with for values that are not objects.
func with2[T any](base T, fn func(*T)) T {
	fn(&base)
	return base
}

func metricCheck() v1.Check {
	return v1.Check{Name: "error-rate", Condition: "result.size() > 0 && result[0] < 0.05", Metric: &v1.MetricCheck{
		Address: "http://prometheus.monitoring:9090",
		Query:   `sum(rate(http_requests_total{cluster="{{ .Cluster }}",code=~"5.."}[1m]))`,
	}}
}

func httpCheck() v1.Check {
	return v1.Check{Name: "health", Condition: "result.code == 200", HTTP: &v1.HTTPCheck{URL: "http://app.team-a.svc/healthz"}}
}

func jobCheck() v1.Check {
	return v1.Check{Name: "smoke", Job: &v1.JobCheck{Template: raw(map[string]any{
		"template": map[string]any{"spec": map[string]any{"restartPolicy": "Never", "containers": []any{
			map[string]any{"name": "smoke", "image": "example.com/smoke:1"},
		}}},
	})}}
}

// ---- Rollout ----

func validRollout() *v1.Rollout {
	return &v1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1.PlatformNamespace},
		Spec: v1.RolloutSpec{
			Subject:        v1.RolloutSubject{Promise: "postgres"},
			FromRevision:   "postgres-0123456789",
			TargetRevision: "postgres-abcdef0123",
			StrategyRef:    &v1.LocalObjectReference{Name: "default"},
		},
	}
}

func rolloutCases() []createCase {
	return []createCase{
		{name: "promise revision", obj: validRollout()},
		{name: "first rollout", obj: with(validRollout(), func(r *v1.Rollout) { r.Spec.FromRevision = "" })},
		{name: "instance change with approval", obj: with(validRollout(), func(r *v1.Rollout) {
			r.Namespace = teamNS
			r.Spec.Subject.Instance = &v1.LocalObjectReference{Name: "orders"}
			r.Spec.Approvals = []v1.Approval{{Wave: "canary", ChangeRecord: v1.ChangeRecord{By: "alice", At: &future}}}
		})},
		{name: "inline strategy", obj: with(validRollout(), func(r *v1.Rollout) {
			r.Spec.StrategyRef = nil
			r.Spec.Strategy = ptr(validStrategySpec())
		})},
		{name: "immediate with reason", obj: with(validRollout(), func(r *v1.Rollout) {
			r.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeImmediate, Reason: "CVE-2031-0001"}
		})},
		{
			name: "immediate without reason",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.UpdatePolicy.Mode = v1.UpdateModeImmediate }),
			want: []string{"spec.updatePolicy", "reason is required when mode is Immediate"},
		},
		{
			// The emergency lane, audited under a reason that says nothing.
			name: "immediate with a blank reason",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.UpdatePolicy = v1.UpdatePolicy{Mode: v1.UpdateModeImmediate, Reason: " \t\n"}
			}),
			want: []string{"spec.updatePolicy", "reason is required when mode is Immediate"},
		},
		{
			name: "deadline without deadline",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.UpdatePolicy.Mode = v1.UpdateModeDeadline }),
			want: []string{"spec.updatePolicy", "deadline is required when mode is Deadline"},
		},
		{
			name: "deadline in progressive mode",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.UpdatePolicy.Deadline = &future }),
			want: []string{"spec.updatePolicy", "not allowed otherwise"},
		},
		{
			name: "strategyRef and strategy",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.Strategy = ptr(validStrategySpec()) }),
			want: []string{"spec", "set at most one of strategyRef and strategy"},
		},
		{
			name: "inline strategy with bad percent",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.StrategyRef = nil
				r.Spec.Strategy = ptr(validStrategySpec())
				r.Spec.Strategy.Waves[0].MaxFailures = ptr(intstr.FromString("150%"))
			}),
			want: []string{"spec.strategy.waves[0].maxFailures"},
		},
		{
			name: "inline strategy with a wave selector operator in",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.StrategyRef = nil
				r.Spec.Strategy = ptr(validStrategySpec())
				r.Spec.Strategy.Waves[0].Selector = &v1.WaveSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "ring", Operator: "in", Values: []string{"canary"}}}}
			}),
			want: []string{"spec.strategy.waves[0].selector", "each operator is In or NotIn, with values"},
		},
		{
			name: "from equals target",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.FromRevision = r.Spec.TargetRevision }),
			want: []string{"fromRevision and targetRevision must differ"},
		},
		{
			name:   "missing target",
			obj:    validRollout(),
			remove: []string{"spec.targetRevision"},
			want:   []string{"spec.targetRevision", "Required value"},
		},
		{
			name: "unknown desired state",
			obj:  with(validRollout(), func(r *v1.Rollout) { r.Spec.DesiredState = "Stopped" }),
			want: []string{"spec.desiredState", "Unsupported value"},
		},
		{
			name: "rollback to the target",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.Rollback = &v1.RollbackRequest{ToRevision: r.Spec.TargetRevision}
			}),
			want: []string{"rollback.toRevision must differ from targetRevision"},
		},
		{
			name: "rollback to a revision of another promise",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.Rollback = &v1.RollbackRequest{ToRevision: "nonsense"}
			}),
			want: []string{"rollback.toRevision must be a revision of the subject"},
		},
		{
			name: "instance rollback to another instance's revision",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Namespace = teamNS
				r.Spec.Subject.Instance = &v1.LocalObjectReference{Name: "orders"}
				r.Spec.Rollback = &v1.RollbackRequest{ToRevision: "queue-billing-0123456789"}
			}),
			want: []string{"rollback.toRevision must be a revision of the subject"},
		},
		{
			name: "instance rollback to one of its revisions",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Namespace = teamNS
				r.Spec.Subject.Instance = &v1.LocalObjectReference{Name: "orders"}
				r.Spec.Rollback = &v1.RollbackRequest{ToRevision: "queue-orders-0123456789"}
			}),
		},
		{
			name: "two approvals for one wave",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.Approvals = []v1.Approval{{Wave: "canary"}, {Wave: "canary"}}
			}),
			want: []string{"spec.approvals[1]", "Duplicate value"},
		},
	}
}

func rolloutUpdates() []updateCase {
	rollout := func(o client.Object) *v1.Rollout { return o.(*v1.Rollout) }
	return []updateCase{
		{
			name: "pause",
			obj:  validRollout(),
			update: func(o client.Object) {
				rollout(o).Spec.DesiredState = v1.RolloutPaused
				rollout(o).Spec.StateChange = &v1.ChangeRecord{By: "alice", At: &future, Message: "investigating"}
			},
		},
		{
			name: "approve and roll back",
			obj:  validRollout(),
			update: func(o client.Object) {
				rollout(o).Spec.Approvals = []v1.Approval{{Wave: "general", ChangeRecord: v1.ChangeRecord{By: "bob"}}}
				rollout(o).Spec.Rollback = &v1.RollbackRequest{ChangeRecord: v1.ChangeRecord{By: "bob"}}
			},
		},
		{
			name:   "resume after abort",
			obj:    with(validRollout(), func(r *v1.Rollout) { r.Spec.DesiredState = v1.RolloutAborted }),
			update: func(o client.Object) { rollout(o).Spec.DesiredState = v1.RolloutRunning },
			want:   []string{"spec.desiredState", "an aborted rollout cannot be resumed"},
		},
		{
			name: "withdraw rollback",
			obj: with(validRollout(), func(r *v1.Rollout) {
				r.Spec.Rollback = &v1.RollbackRequest{ToRevision: "postgres-0123456789"}
			}),
			update: func(o client.Object) { rollout(o).Spec.Rollback = nil },
			want:   []string{"a requested rollback cannot be withdrawn"},
		},
		{
			name:   "retarget",
			obj:    validRollout(),
			update: func(o client.Object) { rollout(o).Spec.TargetRevision = "postgres-ffffffffff" },
			want:   []string{"spec.targetRevision", "targetRevision is immutable"},
		},
		{
			// Removed, it could be set again to anything: the rollback's revision.
			name:   "remove fromRevision",
			obj:    validRollout(),
			update: func(o client.Object) { rollout(o).Spec.FromRevision = "" },
			want:   []string{"fromRevision is immutable: it cannot be removed or added after creation"},
		},
		{
			name:   "add fromRevision",
			obj:    with(validRollout(), func(r *v1.Rollout) { r.Spec.FromRevision = "" }),
			update: func(o client.Object) { rollout(o).Spec.FromRevision = "postgres-0123456789" },
			want:   []string{"fromRevision is immutable: it cannot be removed or added after creation"},
		},
	}
}

// ---- Override ----

func validOverride() *v1.Override {
	return &v1.Override{
		ObjectMeta: metav1.ObjectMeta{Namespace: v1.PlatformNamespace},
		Spec: v1.OverrideSpec{
			ClusterSelector: v1.ClusterSelector{Names: []string{"edge-1"}},
			Promise:         "postgres",
			Resources:       []v1.ResourceSelector{{Group: "apps", Kind: "Deployment"}},
			Type:            v1.PatchStrategicMerge,
			Patch:           raw(map[string]any{"spec": map[string]any{"replicas": 3}}),
		},
	}
}

func overrideCases() []createCase {
	return []createCase{
		{name: "strategic merge", obj: validOverride()},
		{name: "values in a team namespace", obj: with(validOverride(), func(o *v1.Override) {
			o.Namespace = teamNS
			o.Spec.Type = v1.PatchValues
			o.Spec.Resources = nil
			o.Spec.InstanceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}
			o.Spec.Patch = raw(map[string]any{"size": "large"})
		})},
		{
			name: "values with resources",
			obj:  with(validOverride(), func(o *v1.Override) { o.Spec.Type = v1.PatchValues }),
			want: []string{"spec", "resources cannot be set for type Values"},
		},
		{
			name: "instance selector without promise",
			obj: with(validOverride(), func(o *v1.Override) {
				o.Spec.Promise = ""
				o.Spec.InstanceSelector = &metav1.LabelSelector{}
			}),
			want: []string{"instanceSelector requires promise"},
		},
		{
			name: "unknown patch type",
			obj:  with(validOverride(), func(o *v1.Override) { o.Spec.Type = "JSONPatch" }),
			want: []string{"spec.type", "Unsupported value"},
		},
		{
			name:   "missing patch",
			obj:    validOverride(),
			remove: []string{"spec.patch"},
			want:   []string{"spec.patch", "Required value"},
		},
		{
			name: "resource without kind",
			obj: with(validOverride(), func(o *v1.Override) {
				o.Spec.Resources = []v1.ResourceSelector{{Group: "apps"}}
			}),
			want: []string{"spec.resources[0].kind"},
		},
		// A platform Override whose selector labels cannot parse shapes
		// nothing: a typo would take its divergence off every cluster at once.
		{
			name: "cluster selector Exists with values",
			obj: with(validOverride(), func(o *v1.Override) {
				o.Spec.ClusterSelector.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpExists, Values: []string{"edge"}}}}
			}),
			want: []string{"spec.clusterSelector.selector", "each operator is In or NotIn, with values"},
		},
		{
			name: "instance selector operator in",
			obj: with(validOverride(), func(o *v1.Override) {
				o.Spec.InstanceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: "in", Values: []string{"gold"}}}}
			}),
			want: []string{"spec.instanceSelector", "each operator is In or NotIn, with values"},
		},
	}
}

// ---- DriftException ----

func validDriftException() *v1.DriftException {
	return &v1.DriftException{
		ObjectMeta: metav1.ObjectMeta{Namespace: teamNS},
		Spec: v1.DriftExceptionSpec{
			Owner:           "team-a-oncall",
			Reason:          "HPA-like manual scaling during the sale",
			ExpiresAt:       future,
			ClusterSelector: v1.ClusterSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"region": "eu"}}},
			Resources:       []v1.ResourceSelector{{Group: "apps", Kind: "Deployment", Namespace: teamNS, Name: "orders"}},
			Paths:           []string{"spec.replicas", "metadata.annotations", "spec.template.spec.containers[name=app].resources"},
		},
	}
}

func driftExceptionCases() []createCase {
	return []createCase{
		{name: "valid", obj: validDriftException()},
		{name: "any field", obj: with(validDriftException(), func(d *v1.DriftException) { d.Spec.Paths = nil })},
		{name: "missing owner", obj: validDriftException(), remove: []string{"spec.owner"}, want: []string{"spec.owner", "Required value"}},
		{name: "missing reason", obj: validDriftException(), remove: []string{"spec.reason"}, want: []string{"spec.reason", "Required value"}},
		{name: "missing expiry", obj: validDriftException(), remove: []string{"spec.expiresAt"}, want: []string{"spec.expiresAt", "Required value"}},
		{
			name: "empty owner",
			obj:  with(validDriftException(), func(d *v1.DriftException) { d.Spec.Owner = "" }),
			want: []string{"spec.owner"},
		},
		{
			// Accepted drift that names no one and says nothing.
			name: "blank owner and reason",
			obj: with(validDriftException(), func(d *v1.DriftException) {
				d.Spec.Owner, d.Spec.Reason = " ", "\t "
			}),
			want: []string{"spec.owner", "owner must name someone", "spec.reason", "reason must say why"},
		},
		{
			name: "no resources",
			obj:  with(validDriftException(), func(d *v1.DriftException) { d.Spec.Resources = nil }),
			want: []string{"spec.resources", "Required value"},
		},
		{
			name: "malformed path",
			obj:  with(validDriftException(), func(d *v1.DriftException) { d.Spec.Paths = []string{"spec..replicas"} }),
			want: []string{"spec.paths[0]"},
		},
	}
}

// ---- FleetFreeze ----

func validFleetFreeze() *v1.FleetFreeze {
	return &v1.FleetFreeze{Spec: v1.FleetFreezeSpec{Reason: "incident 42", Action: v1.FreezeRollback, Until: &future}}
}

func fleetFreezeCases() []createCase {
	return []createCase{
		{name: "valid", obj: validFleetFreeze()},
		{name: "halt until deleted", obj: with(validFleetFreeze(), func(f *v1.FleetFreeze) {
			f.Spec.Action = ""
			f.Spec.Until = nil
		})},
		{name: "missing reason", obj: validFleetFreeze(), remove: []string{"spec.reason"}, want: []string{"spec.reason", "Required value"}},
		{
			name: "unknown action",
			obj:  with(validFleetFreeze(), func(f *v1.FleetFreeze) { f.Spec.Action = "Stop" }),
			want: []string{"spec.action", "Unsupported value"},
		},
	}
}

// ---- Defaults ----

func testDefaults(ctx context.Context, t *testing.T, c client.Client) {
	cluster := with(validCluster(), func(c *v1.Cluster) { c.Name = "defaults" })
	if err := c.Create(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	if got := cluster.Spec.Delivery.Mode; got != v1.DeliveryAgent {
		t.Errorf("cluster delivery mode defaulted to %q, want Agent", got)
	}

	strategy := with(validStrategy(), func(s *v1.RolloutStrategy) {
		s.Name = "defaults"
		s.Spec.Waves[0] = v1.Wave{Name: "all"}
		s.Spec.OnFailure, s.Spec.OfflinePolicy = "", ""
		s.Spec.Checks = []v1.Check{metricCheck(), httpCheck()}
	})
	if err := c.Create(ctx, strategy); err != nil {
		t.Fatal(err)
	}
	w := strategy.Spec.Waves[0]
	if w.MaxConcurrency == nil || w.MaxConcurrency.String() != "100%" ||
		w.MaxFailures == nil || w.MaxFailures.IntValue() != 0 ||
		w.Approval != v1.ApprovalNone || w.ProgressDeadline == nil || w.ProgressDeadline.Duration != 10*time.Minute {
		t.Errorf("wave defaults: %+v", w)
	}
	if strategy.Spec.OnFailure != v1.FailureHalt || strategy.Spec.OfflinePolicy != v1.OfflineWait {
		t.Errorf("strategy defaults: onFailure %q, offlinePolicy %q", strategy.Spec.OnFailure, strategy.Spec.OfflinePolicy)
	}
	metric, probe := strategy.Spec.Checks[0], strategy.Spec.Checks[1]
	if metric.Scope != v1.CheckEachCluster || metric.When != v1.CheckDuringBake || metric.Interval == nil ||
		metric.Interval.Duration != 30*time.Second || metric.FailureLimit != 0 || metric.InconclusiveLimit != 2 ||
		metric.Metric.Placement != v1.CheckOnHub {
		t.Errorf("metric check defaults: %+v, %+v", metric, *metric.Metric)
	}
	if probe.HTTP.Method != http.MethodGet || probe.HTTP.Timeout == nil || probe.HTTP.Timeout.Duration != 5*time.Second {
		t.Errorf("http check defaults: %+v", *probe.HTTP)
	}

	rollout := with(validRollout(), func(r *v1.Rollout) { r.Name = "defaults" })
	if err := c.Create(ctx, rollout); err != nil {
		t.Fatal(err)
	}
	if rollout.Spec.DesiredState != v1.RolloutRunning || rollout.Spec.UpdatePolicy.Mode != v1.UpdateModeProgressive {
		t.Errorf("rollout defaults: desiredState %q, mode %q", rollout.Spec.DesiredState, rollout.Spec.UpdatePolicy.Mode)
	}

	promise := with(validPromise(), func(p *v1.Promise) { p.Name = "defaults" })
	if err := c.Create(ctx, promise); err != nil {
		t.Fatal(err)
	}
	if promise.Spec.API.Version != "v1alpha1" || promise.Spec.Templates.Engine != v1.TemplateEngineGoTemplate ||
		promise.Spec.DriftPolicy != v1.DriftPolicyCorrect || promise.Spec.RevisionHistoryLimit == nil || *promise.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("promise defaults: %+v", promise.Spec)
	}
}

// ---- docs/api.md ----

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// testDocsExamples creates every YAML example of docs/api.md, so the
// reference never shows an object the API server would reject.
func testDocsExamples(ctx context.Context, t *testing.T, c client.Client) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllSubmatch(doc, -1)
	if len(blocks) < 9 {
		t.Fatalf("docs/api.md has %d YAML examples, want one per kind (9, PromiseRevision has none)", len(blocks))
	}
	for _, b := range blocks {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b[1], &u.Object); err != nil {
			t.Errorf("decoding example:\n%s\n%v", b[1], err)
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			t.Errorf("creating the %s example %q: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "Promise" {
			checkPromiseExampleRenders(t, b[1])
		}
	}
}

// checkPromiseExampleRenders renders a documented Promise's own examples, so
// the reference never shows templates that would leave the Promise Stalled.
func checkPromiseExampleRenders(t *testing.T, doc []byte) {
	t.Helper()
	var promise v1.Promise
	if err := yaml.UnmarshalStrict(doc, &promise); err != nil {
		t.Errorf("decoding the Promise example: %v", err)
		return
	}
	if err := render.RenderExamples(&promise.Spec.PromiseContent, nil); err != nil {
		t.Errorf("the Promise example %q does not render: %v", promise.Name, err)
	}
}

// newAPIServer starts a kube-apiserver with the generated CRDs installed and
// returns a client of it (and a context bounded to two minutes), with the
// namespaces created.
func newAPIServer(t *testing.T, namespaces ...string) (context.Context, client.Client) {
	t.Helper()
	hub := testenv.NewHubWithCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, c
}
