package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// memberKinds is the member's kinds, discovered lazily with plain REST
// calls to /api and /apis decoded into metav1 types, and a meta.RESTMapper
// built from them. It does what client-go's discovery client, its memory
// cache and restmapper.DeferredDiscoveryRESTMapper did for the agent, without
// their dependency on k8s.io/client-go/kubernetes/scheme: registering every
// built-in API group at start-up cost an idle agent about 8 MiB of resident
// memory (docs/benchmarks.md).
//
// Discovery is read on first use, in two requests on any API server that
// serves aggregated discovery (Kubernetes 1.30 and later; older ones are
// asked per group version), and kept until reset.
type memberKinds struct {
	client rest.Interface // unversioned: /api, /apis, /version, /readyz

	mu    sync.Mutex
	known *discovered // nil until first use and after reset
}

// discovered is one reading of the member's discovery.
type discovered struct {
	// groups are the API groups, the core group ("", from /api) first.
	groups []metav1.APIGroup
	// resources are the resources of each group version read.
	resources map[schema.GroupVersion][]metav1.APIResource
	// failed are the group versions that could not be read (stale in
	// aggregated discovery, or an error).
	failed map[schema.GroupVersion]error

	// mappers are the REST mappers of the groups asked for so far: a
	// group's kinds map to its own resources alone, so one built from all
	// groups (as client-go builds it) maps them the same, and would hold
	// every kind of the member in memory.
	mu      sync.Mutex
	mappers map[string]meta.RESTMapper
}

// newMemberKinds creates the discovery client of a member: config with no
// group or API path, decoding nothing but errors (metav1.Status).
func newMemberKinds(config *rest.Config) (*memberKinds, error) {
	config = rest.CopyConfig(config)
	config.APIPath, config.GroupVersion = "", nil
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	config.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if config.UserAgent == "" {
		config.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.UnversionedRESTClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("creating member discovery client: %w", err)
	}
	return &memberKinds{client: client}, nil
}

// reset forgets what was discovered: the next mapping reads it again.
func (k *memberKinds) reset() {
	k.mu.Lock()
	k.known = nil
	k.mu.Unlock()
}

// get returns what was discovered, reading it first if need be. While
// discovery fails nothing is kept, so the next call tries again.
func (k *memberKinds) get(ctx context.Context) (*discovered, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.known != nil {
		return k.known, nil
	}
	d, err := k.discover(ctx)
	if err != nil {
		return nil, err
	}
	k.known = d
	return d, nil
}

// RESTMapping maps a kind at one of versions (any version, the preferred
// first, when none is given). An unknown kind is an error for which
// meta.IsNoMatchError is true. Group versions that failed discovery are left
// out of the mapping, as client-go's DeferredDiscoveryRESTMapper did.
func (k *memberKinds) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	d, err := k.get(context.Background())
	if err != nil {
		return nil, err
	}
	return d.mapper(gk.Group).RESTMapping(gk, versions...)
}

// mapper returns the REST mapper of group, building it on first use.
func (d *discovered) mapper(group string) meta.RESTMapper {
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.mappers[group]
	if !ok {
		m = newRESTMapper(d, group)
		d.mappers[group] = m
	}
	return m
}

// preferredNamespacedResources lists the namespaced resources (no
// subresources) of each group at its preferred version, or at another one
// for a resource the preferred version does not serve, as client-go's
// ServerPreferredNamespacedResources does. Group versions that failed
// discovery are an error, after one more reading: a partial list could hide
// objects.
func (k *memberKinds) preferredNamespacedResources(ctx context.Context) ([]*metav1.APIResourceList, error) {
	d, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	if len(d.failed) > 0 {
		k.reset()
		if d, err = k.get(ctx); err != nil {
			return nil, err
		}
		if len(d.failed) > 0 {
			return nil, failedDiscoveryError(d.failed)
		}
	}
	type choice struct {
		version  string
		resource *metav1.APIResource
	}
	chosen := map[schema.GroupResource]choice{}
	lists := map[schema.GroupVersion]*metav1.APIResourceList{}
	var out []*metav1.APIResourceList
	for _, g := range d.groups {
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			resources, ok := d.resources[gv]
			if !ok {
				continue
			}
			list := &metav1.APIResourceList{GroupVersion: gv.String()}
			lists[gv] = list
			out = append(out, list)
			for i := range resources {
				r := &resources[i]
				if strings.Contains(r.Name, "/") {
					continue // a subresource
				}
				gr := schema.GroupResource{Group: g.Name, Resource: r.Name}
				if _, seen := chosen[gr]; seen && v.Version != g.PreferredVersion.Version {
					continue // only the preferred version overrides another
				}
				chosen[gr] = choice{v.Version, r}
			}
		}
	}
	for gr, c := range chosen {
		if c.resource.Namespaced {
			list := lists[schema.GroupVersion{Group: gr.Group, Version: c.version}]
			list.APIResources = append(list.APIResources, *c.resource)
		}
	}
	filtered := out[:0]
	for _, list := range out {
		if len(list.APIResources) > 0 {
			sort.Slice(list.APIResources, func(i, j int) bool { return list.APIResources[i].Name < list.APIResources[j].Name })
			filtered = append(filtered, list)
		}
	}
	return filtered, nil
}

// failedDiscoveryError says which group versions could not be discovered.
func failedDiscoveryError(failed map[schema.GroupVersion]error) error {
	var groups []string
	for gv, err := range failed {
		groups = append(groups, fmt.Sprintf("%s: %v", gv, err))
	}
	sort.Strings(groups)
	return fmt.Errorf("unable to retrieve the complete list of server APIs: %s", strings.Join(groups, ", "))
}

// Discovery media types: aggregated discovery (apidiscovery.k8s.io/v2, GA
// since Kubernetes 1.30) when the server serves it, plain JSON otherwise.
const (
	acceptAggregated = runtime.ContentTypeJSON + ";g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
	acceptDiscovery  = acceptAggregated + "," + runtime.ContentTypeJSON
)

// discover reads the member's groups and resources: /api (the core group)
// and /apis, each either aggregated (groups and resources in one response)
// or not (then every group version is read on its own).
func (k *memberKinds) discover(ctx context.Context) (*discovered, error) {
	d := &discovered{resources: map[schema.GroupVersion][]metav1.APIResource{}, failed: map[schema.GroupVersion]error{}, mappers: map[string]meta.RESTMapper{}}
	aggregated := true
	for _, path := range []string{"/api", "/apis"} {
		var contentType string
		body, err := k.client.Get().AbsPath(path).SetHeader("Accept", acceptDiscovery).Do(ctx).ContentType(&contentType).Raw()
		if path == "/api" && apierrors.IsNotFound(err) {
			continue // aggregated API servers may serve no core group
		}
		if err != nil {
			return nil, fmt.Errorf("discovering the member's kinds: %w", err)
		}
		if isAggregated(contentType) {
			var list aggregatedGroupList
			if err := json.Unmarshal(body, &list); err != nil {
				return nil, fmt.Errorf("decoding the member's %s: %w", path, err)
			}
			list.addTo(d)
			continue
		}
		aggregated = false
		if path == "/api" {
			var v metav1.APIVersions
			if err := json.Unmarshal(body, &v); err != nil {
				return nil, fmt.Errorf("decoding the member's %s: %w", path, err)
			}
			if len(v.Versions) > 0 {
				g := metav1.APIGroup{}
				for _, version := range v.Versions {
					g.Versions = append(g.Versions, metav1.GroupVersionForDiscovery{GroupVersion: version, Version: version})
				}
				g.PreferredVersion = g.Versions[0]
				d.groups = append(d.groups, g)
			}
			continue
		}
		var groups metav1.APIGroupList
		if err := json.Unmarshal(body, &groups); err != nil {
			return nil, fmt.Errorf("decoding the member's %s: %w", path, err)
		}
		d.groups = append(d.groups, groups.Groups...)
	}
	if !aggregated {
		// As client-go: resources only when both answers carried them.
		clear(d.resources)
		clear(d.failed)
		k.readGroupVersions(ctx, d)
	}
	return d, nil
}

// isAggregated reports whether a discovery response is aggregated discovery
// (apidiscovery.k8s.io/v2), whatever the order of the media type's
// parameters.
func isAggregated(contentType string) bool {
	base, params, err := mime.ParseMediaType(contentType)
	return err == nil && base == runtime.ContentTypeJSON &&
		params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList"
}

// readGroupVersions reads the resources of every group version of d's
// groups, in parallel, from a server without aggregated discovery.
func (k *memberKinds) readGroupVersions(ctx context.Context, d *discovered) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, g := range d.groups {
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			wg.Go(func() {
				path := "/apis/" + gv.String()
				if gv.Group == "" {
					path = "/api/" + gv.Version
				}
				list := &metav1.APIResourceList{}
				body, err := k.client.Get().AbsPath(path).Do(ctx).Raw()
				if err == nil {
					err = json.Unmarshal(body, list)
				}
				if gv.Group == "" && gv.Version == "v1" && apierrors.IsNotFound(err) {
					err = nil // as client-go: an empty core group
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					d.failed[gv] = err
					return
				}
				d.resources[gv] = list.APIResources
			})
		}
	}
	wg.Wait()
}

// aggregatedGroupList is the part of an apidiscovery.k8s.io/v2
// APIGroupDiscoveryList the agent reads. Subresources are left out: no
// mapping is made for them.
type aggregatedGroupList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Versions []struct {
			Version   string `json:"version"`
			Freshness string `json:"freshness"`
			Resources []struct {
				Resource     string                   `json:"resource"`
				ResponseKind *metav1.GroupVersionKind `json:"responseKind"`
				Scope        string                   `json:"scope"`
				Singular     string                   `json:"singularResource"`
				Verbs        []string                 `json:"verbs"`
				ShortNames   []string                 `json:"shortNames"`
				Categories   []string                 `json:"categories"`
			} `json:"resources"`
		} `json:"versions"`
	} `json:"items"`
}

// addTo adds the groups and resources of an aggregated discovery response to
// d, as client-go's discovery.SplitGroupsAndResources converts them: a stale
// group version failed, the first version that is not stale is preferred,
// and a resource without a kind is left out.
func (l *aggregatedGroupList) addTo(d *discovered) {
	for _, item := range l.Items {
		g := metav1.APIGroup{Name: item.Metadata.Name}
		for _, v := range item.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			if v.Freshness == "Stale" {
				d.failed[gv] = fmt.Errorf("stale GroupVersion discovery: %v", gv)
				continue
			}
			version := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: v.Version}
			g.Versions = append(g.Versions, version)
			if g.PreferredVersion == (metav1.GroupVersionForDiscovery{}) {
				g.PreferredVersion = version
			}
			resources := []metav1.APIResource{}
			for _, r := range v.Resources {
				if r.ResponseKind == nil || *r.ResponseKind == (metav1.GroupVersionKind{}) {
					continue
				}
				resources = append(resources, metav1.APIResource{
					Name: r.Resource, SingularName: r.Singular, Namespaced: r.Scope == "Namespaced",
					Group: r.ResponseKind.Group, Version: r.ResponseKind.Version, Kind: r.ResponseKind.Kind,
					Verbs: r.Verbs, ShortNames: r.ShortNames, Categories: r.Categories,
				})
			}
			d.resources[gv] = resources
		}
		d.groups = append(d.groups, g)
	}
}

// newRESTMapper maps the kinds of group to resources as client-go's
// restmapper.NewDiscoveryRESTMapper does (core v1 first, then the group's
// preferred version, then its other versions), from what was discovered.
func newRESTMapper(d *discovered, group string) meta.RESTMapper {
	union := meta.MultiRESTMapper{}
	var groupPriority []string
	resourcePriority := []schema.GroupVersionResource{{Group: "", Version: "v1", Resource: meta.AnyResource}}
	kindPriority := []schema.GroupVersionKind{{Group: "", Version: "v1", Kind: meta.AnyKind}}
	for _, g := range d.groups {
		if g.Name != group {
			continue
		}
		groupPriority = append(groupPriority, g.Name)
		if preferred := g.PreferredVersion.Version; preferred != "" {
			if _, ok := d.resources[schema.GroupVersion{Group: g.Name, Version: preferred}]; ok {
				resourcePriority = append(resourcePriority, schema.GroupVersionResource{Group: g.Name, Version: preferred, Resource: meta.AnyResource})
				kindPriority = append(kindPriority, schema.GroupVersionKind{Group: g.Name, Version: preferred, Kind: meta.AnyKind})
			}
		}
		for _, v := range g.Versions {
			gv := schema.GroupVersion{Group: g.Name, Version: v.Version}
			resources, ok := d.resources[gv]
			if !ok {
				continue
			}
			if v.Version != g.PreferredVersion.Version {
				resourcePriority = append(resourcePriority, schema.GroupVersionResource{Group: g.Name, Version: v.Version, Resource: meta.AnyResource})
				kindPriority = append(kindPriority, schema.GroupVersionKind{Group: g.Name, Version: v.Version, Kind: meta.AnyKind})
			}
			versionMapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{gv})
			for _, r := range resources {
				if strings.Contains(r.Name, "/") {
					continue // a subresource
				}
				scope := meta.RESTScopeNamespace
				if !r.Namespaced {
					scope = meta.RESTScopeRoot
				}
				plural, singular := gv.WithResource(r.Name), gv.WithResource(r.SingularName)
				if r.SingularName == "" {
					_, singular = meta.UnsafeGuessKindToResource(gv.WithKind(r.Kind))
				}
				versionMapper.AddSpecific(gv.WithKind(strings.ToLower(r.Kind)), plural, singular, scope)
				versionMapper.AddSpecific(gv.WithKind(r.Kind), plural, singular, scope)
				versionMapper.Add(gv.WithKind(r.Kind+"List"), scope)
			}
			versionMapper.Add(gv.WithKind("List"), meta.RESTScopeRoot)
			union = append(union, versionMapper)
		}
	}
	for _, group := range groupPriority {
		resourcePriority = append(resourcePriority, schema.GroupVersionResource{Group: group, Version: meta.AnyVersion, Resource: meta.AnyResource})
		kindPriority = append(kindPriority, schema.GroupVersionKind{Group: group, Version: meta.AnyVersion, Kind: meta.AnyKind})
	}
	return meta.PriorityRESTMapper{Delegate: union, ResourcePriority: resourcePriority, KindPriority: kindPriority}
}
