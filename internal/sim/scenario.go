package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
)

// Scenario plays a Promise change on a simulated fleet, the way a platform
// team would: a Fleet admitting a tenant namespace, a web Promise rendering
// one Deployment per instance, one instance, then a new image. It watches
// the Promise's Works through an informer, so counting them costs the hub
// nothing per look, even with ten thousand clusters.
type Scenario struct {
	// Prefix is the simulated fleet's name prefix (Options.Prefix).
	Prefix string
	// Promise, Namespace and Instance name the scenario's objects.
	Promise, Namespace, Instance string

	client client.Client
	works  cache.Cache
	stop   context.CancelFunc
}

// webGroup is the API group of the scenario's Promise.
const webGroup = "sim.flotilla.dev"

// NewScenario connects to the hub (admin config) and starts watching the
// Works of Promise sim-web.
func NewScenario(ctx context.Context, hub *rest.Config, prefix string) (*Scenario, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	scheme := kube.NewScheme()
	c, err := client.New(hub, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to the hub: %w", err)
	}
	s := &Scenario{Prefix: prefix, Promise: prefix + "-web", Namespace: prefix + "-team", Instance: "shop", client: c}
	works, err := cache.New(hub, cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&fleetv1alpha1.Work{}: {Label: labelsFor(fleetv1alpha1.LabelPromise, s.Promise)},
	}})
	if err != nil {
		return nil, fmt.Errorf("creating the work cache: %w", err)
	}
	if _, err := works.GetInformer(ctx, &fleetv1alpha1.Work{}); err != nil {
		return nil, fmt.Errorf("watching works: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() { _ = works.Start(ctx) }()
	if !works.WaitForCacheSync(ctx) {
		cancel()
		return nil, errors.New("the work cache did not sync")
	}
	s.works, s.stop = works, cancel
	return s, nil
}

// Close stops watching.
func (s *Scenario) Close() { s.stop() }

// Client is the scenario's hub client.
func (s *Scenario) Client() client.Client { return s.client }

// Kind is the instance kind of the scenario's Promise.
func (s *Scenario) Kind() schema.GroupVersionKind {
	kind := ""
	for _, part := range strings.Split(s.Promise, "-") {
		kind += strings.ToUpper(part[:1]) + part[1:]
	}
	return schema.GroupVersionKind{Group: webGroup, Version: "v1alpha1", Kind: kind}
}

// Setup creates the Fleet of the simulated clusters (tenant: the
// scenario's namespace), the namespace, strategy (when not nil, as
// RolloutStrategy <promise>) and the Promise running image with policy,
// waits until the Promise is Ready and requests the instance. It returns
// the Promise's first revision.
func (s *Scenario) Setup(ctx context.Context, image string, strategy *fleetv1alpha1.RolloutStrategySpec, policy fleetv1alpha1.UpdatePolicy) (string, error) {
	objs := []client.Object{
		&fleetv1alpha1.Fleet{
			ObjectMeta: metav1.ObjectMeta{Name: s.Prefix},
			Spec: fleetv1alpha1.FleetSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{LabelFleet: s.Prefix}},
				Tenants:  &fleetv1alpha1.Tenants{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelTenant: "true"}}},
			},
		},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace, Labels: map[string]string{LabelTenant: "true"}}},
	}
	var strategyRef *fleetv1alpha1.LocalObjectReference
	if strategy != nil {
		objs = append(objs, &fleetv1alpha1.RolloutStrategy{ObjectMeta: metav1.ObjectMeta{Name: s.Promise}, Spec: *strategy})
		strategyRef = &fleetv1alpha1.LocalObjectReference{Name: s.Promise}
	}
	schemaJSON, err := json.Marshal(map[string]any{"type": "object", "properties": map[string]any{}})
	if err != nil {
		return "", err
	}
	kind := s.Kind()
	objs = append(objs, &fleetv1alpha1.Promise{
		ObjectMeta: metav1.ObjectMeta{Name: s.Promise},
		Spec: fleetv1alpha1.PromiseSpec{
			PromiseContent: fleetv1alpha1.PromiseContent{
				API: fleetv1alpha1.PromiseAPI{Group: kind.Group, Kind: kind.Kind, Schema: runtime.RawExtension{Raw: schemaJSON}},
				Templates: &fleetv1alpha1.Templates{
					Engine:      fleetv1alpha1.TemplateEngineGoTemplate,
					GoTemplates: []fleetv1alpha1.GoTemplate{{Name: "deployment.yaml", Template: WebTemplate(image)}},
				},
				Output: WebOutput(),
			},
			StrategyRef:  strategyRef,
			UpdatePolicy: policy,
		},
	})
	for _, obj := range objs {
		if err := s.client.Create(ctx, obj); err != nil {
			return "", fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}

	var revision string
	err = poll(ctx, 2*time.Minute, "promise "+s.Promise+" ready", func() (bool, error) {
		p := &fleetv1alpha1.Promise{}
		if err := s.client.Get(ctx, client.ObjectKey{Name: s.Promise}, p); err != nil {
			return false, err
		}
		revision = p.Status.LatestRevision
		return p.Status.ObservedGeneration == p.Generation && meta.IsStatusConditionTrue(p.Status.Conditions, fleetv1alpha1.ConditionReady), nil
	})
	if err != nil {
		return "", err
	}
	inst := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{}}}
	inst.SetGroupVersionKind(kind)
	inst.SetNamespace(s.Namespace)
	inst.SetName(s.Instance)
	err = poll(ctx, time.Minute, "create instance", func() (bool, error) {
		err := s.client.Create(ctx, inst)
		// The Promise's CRD may not be served for a moment after Ready.
		if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	return revision, err
}

// ChangeImage edits the Promise to run image (a new revision) and returns
// the name of the Rollout the hub starts for it: <promise>-<generation>.
func (s *Scenario) ChangeImage(ctx context.Context, image string) (string, error) {
	var generation int64
	err := poll(ctx, 30*time.Second, "update promise "+s.Promise, func() (bool, error) {
		p := &fleetv1alpha1.Promise{}
		if err := s.client.Get(ctx, client.ObjectKey{Name: s.Promise}, p); err != nil {
			return false, err
		}
		p.Spec.Templates.GoTemplates[0].Template = WebTemplate(image)
		if err := s.client.Update(ctx, p); apierrors.IsConflict(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		generation = p.Generation
		return true, nil
	})
	return fmt.Sprintf("%s-%d", s.Promise, generation), err
}

// Rollout reads a Rollout; nil when it does not exist yet.
func (s *Scenario) Rollout(ctx context.Context, name string) (*fleetv1alpha1.Rollout, error) {
	ro := &fleetv1alpha1.Rollout{}
	err := s.client.Get(ctx, client.ObjectKey{Namespace: fleetv1alpha1.PlatformNamespace, Name: name}, ro)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return ro, err
}

// WaitRolloutTerminal waits until the Rollout reaches a terminal phase.
func (s *Scenario) WaitRolloutTerminal(ctx context.Context, name string, within time.Duration) (*fleetv1alpha1.Rollout, error) {
	var ro *fleetv1alpha1.Rollout
	err := poll(ctx, within, "rollout "+name+" to end", func() (bool, error) {
		var err error
		ro, err = s.Rollout(ctx, name)
		return ro != nil && ro.Status.Phase.IsTerminal(), err
	})
	return ro, err
}

// WorkCounts counts, from the watch, the scenario instance's Works: all of
// them, and those whose agent reports revision applied and Ready.
func (s *Scenario) WorkCounts(ctx context.Context, revision string) (total, ready int, err error) {
	list := &fleetv1alpha1.WorkList{}
	if err := s.works.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, 0, fmt.Errorf("listing works: %w", err)
	}
	for i := range list.Items {
		w := &list.Items[i]
		total++
		if WorkReadyAt(w, revision) {
			ready++
		}
	}
	return total, ready, nil
}

// ReadyClusters returns the clusters whose Work reports revision applied and Ready.
func (s *Scenario) ReadyClusters(ctx context.Context, revision string) (map[string]bool, error) {
	list := &fleetv1alpha1.WorkList{}
	if err := s.works.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing works: %w", err)
	}
	out := map[string]bool{}
	for i := range list.Items {
		if WorkReadyAt(&list.Items[i], revision) {
			out[list.Items[i].Spec.Cluster] = true
		}
	}
	return out, nil
}

// WaitWorksReady waits until want Works report revision applied and Ready;
// it returns how long that took.
func (s *Scenario) WaitWorksReady(ctx context.Context, revision string, want int, within time.Duration) (time.Duration, error) {
	start := time.Now()
	last := 0
	err := poll(ctx, within, fmt.Sprintf("%d works ready at %s", want, revision), func() (bool, error) {
		_, ready, err := s.WorkCounts(ctx, revision)
		last = ready
		return ready >= want, err
	})
	if err != nil {
		return 0, fmt.Errorf("%w (%d ready)", err, last)
	}
	return time.Since(start), nil
}

// WorkReadyAt reports whether the agent applied revision in full and the
// Work is Ready for its current generation.
func WorkReadyAt(w *fleetv1alpha1.Work, revision string) bool {
	return w.Spec.Revision == revision && w.Status.AppliedRevision == revision &&
		w.Status.ObservedGeneration == w.Generation &&
		meta.IsStatusConditionTrue(w.Status.Conditions, fleetv1alpha1.ConditionReady)
}

// WebOutput is the output WebTemplate's Promises declare: one Deployment.
func WebOutput() *fleetv1alpha1.PromiseOutput {
	return &fleetv1alpha1.PromiseOutput{Kinds: []fleetv1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}}}
}

// WebTemplate renders an instance as a one-replica Deployment running image:
// the Promise template of the simulator and of the end-to-end rollout stories.
func WebTemplate(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .instance.metadata.name | quote }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {{ .instance.metadata.name | quote }}
  template:
    metadata:
      labels:
        app: {{ .instance.metadata.name | quote }}
    spec:
      containers:
      - name: web
        image: ` + strconv.Quote(image) + "\n"
}

// poll calls cond every 250 ms until it is true, returns an error, or
// within passes.
func poll(ctx context.Context, within time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond()
		if ok && err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), lastErr)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func labelsFor(key, value string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{key: value})
}
