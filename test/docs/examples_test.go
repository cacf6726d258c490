package docs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/instanceapi"
	"github.com/flotilla-dev/flotilla/internal/render"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// example is one object of a YAML block of a page.
type example struct {
	page string
	obj  *unstructured.Unstructured
	raw  []byte
}

// TestExamples creates every object of every YAML block in
// docs/reference/*.md, docs/howto/*.md and docs/concepts.md on a real
// kube-apiserver with Flotilla's CRDs, so no page shows an object the API
// server would refuse. Each page stands alone: what it created is deleted
// before the next page (namespaces stay). A Promise's own examples must
// render, and its instance kind is installed (as the hub would) so the
// page's instances are checked against their generated schema. A status in
// an example is written too, so it is checked against the status schema.
// After the per-team how-to's objects exist, its RBAC claims are checked.
func TestExamples(t *testing.T) {
	pages := examplePages(t)
	hub := testenv.NewHubWithCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(hub.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range pages {
		t.Run(strings.TrimSuffix(filepath.Base(page), ".md"), func(t *testing.T) {
			examples := parseExamples(t, page)
			created := createAll(ctx, t, hub, c, examples)
			if filepath.Base(page) == "per-team-setup.md" {
				checkTeamRBAC(ctx, t, c)
				if n := checkCanILines(ctx, t, c, page); n < 10 {
					t.Errorf("checked %d kubectl auth can-i lines of %s; the parser missed some", n, page)
				}
			}
			for i := len(created) - 1; i >= 0; i-- {
				// With its UID, as the hub deletes: flotilla-rollout-deletion
				// refuses a Rollout deleted by hand.
				uid := created[i].GetUID()
				if err := c.Delete(ctx, created[i], client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
					t.Errorf("deleting %s %s: %v", created[i].GetObjectKind().GroupVersionKind().Kind, created[i].GetName(), err)
				}
			}
		})
	}
}

// examplePages are the pages whose YAML blocks must all be valid objects.
func examplePages(t *testing.T) []string {
	t.Helper()
	var pages []string
	for _, pattern := range []string{"reference/*.md", "howto/*.md", "concepts.md"} {
		m, err := filepath.Glob(filepath.Join(docsDir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, m...)
	}
	if len(pages) < 16 {
		t.Fatalf("found %d pages with examples; the globs are wrong", len(pages))
	}
	return pages
}

// parseExamples decodes every object of every YAML block of page.
func parseExamples(t *testing.T, page string) []example {
	t.Helper()
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, block := range yamlBlock.FindAllSubmatch(doc, -1) {
		for _, part := range regexp.MustCompile(`(?m)^---$`).Split(string(block[1]), -1) {
			if strings.TrimSpace(stripComments(part)) == "" {
				continue
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(part), &u.Object); err != nil {
				t.Errorf("%s: decoding an example: %v\n%s", page, err, part)
				continue
			}
			if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
				t.Errorf("%s: every YAML example must be a complete object (apiVersion, kind, metadata.name):\n%s", page, part)
				continue
			}
			out = append(out, example{page: page, obj: u, raw: []byte(part)})
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// createAll creates the examples, Namespaces first, and returns what it
// created (Namespaces and CRDs aside) in creation order.
func createAll(ctx context.Context, t *testing.T, hub *testenv.ControlPlane, c client.Client, examples []example) []client.Object {
	t.Helper()
	slices.SortStableFunc(examples, func(a, b example) int {
		return boolRank(a.obj.GetKind() != "Namespace") - boolRank(b.obj.GetKind() != "Namespace")
	})
	var created []client.Object
	for _, ex := range examples {
		u := ex.obj
		what := fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
		status, hasStatus := u.Object["status"]
		if u.GetKind() == "Namespace" {
			if err := c.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Errorf("creating %s: %v", what, err)
			}
			continue
		}
		if ns := u.GetNamespace(); ns != "" {
			// Pages take the platform namespace, cluster namespaces and team
			// namespaces for granted, as a running hub has them.
			nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			if err := c.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Errorf("creating namespace %s: %v", ns, err)
			}
		}
		err := createSeeingNewKinds(ctx, t, hub, c, u)
		if apierrors.IsAlreadyExists(err) && shownBefore(examples, ex) {
			// A page that shows an object before and after a change (an
			// executable how-to's edit of a file it saved) is checked as
			// that update.
			err = updateExample(ctx, c, u)
			if err != nil {
				t.Errorf("updating the example %s to its second version: %v", what, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("creating the example %s: %v", what, err)
			continue
		}
		created = append(created, u)
		if hasStatus {
			u.Object["status"] = status
			if err := c.Status().Update(ctx, u); err != nil {
				t.Errorf("writing the status of the example %s: %v", what, err)
			}
		}
		if u.GetKind() == "Promise" && u.GetAPIVersion() == fleetv1alpha1.GroupVersion.String() {
			installInstanceAPI(ctx, t, hub, ex.raw)
		}
	}
	return created
}

// createSeeingNewKinds creates u, and for up to 10 s again with a fresh
// client while the API server's discovery does not list u's kind yet: an
// instance CRD installed just before is Established a moment before its
// kind is discovered, and a client's mapper that looked at the group then
// does not look again.
func createSeeingNewKinds(ctx context.Context, t *testing.T, hub *testenv.ControlPlane, c client.Client, u *unstructured.Unstructured) error {
	t.Helper()
	err := c.Create(ctx, u)
	for deadline := time.Now().Add(10 * time.Second); meta.IsNoMatchError(err) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		fresh, cerr := client.New(hub.RESTConfig, client.Options{Scheme: c.Scheme()})
		if cerr != nil {
			return cerr
		}
		err = fresh.Create(ctx, u)
	}
	return err
}

// shownBefore reports whether an example earlier on the page names the same
// object as ex.
func shownBefore(examples []example, ex example) bool {
	for _, other := range examples {
		if other.obj == ex.obj {
			return false
		}
		if other.obj.GroupVersionKind() == ex.obj.GroupVersionKind() &&
			other.obj.GetNamespace() == ex.obj.GetNamespace() && other.obj.GetName() == ex.obj.GetName() {
			return true
		}
	}
	return false
}

// updateExample replaces the object u names with u.
func updateExample(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(u.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), current); err != nil {
		return err
	}
	u.SetResourceVersion(current.GetResourceVersion())
	return c.Update(ctx, u)
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// installInstanceAPI checks that a documented Promise renders its own
// examples (else the hub would leave it Stalled) and installs the CRD the
// hub would generate for it.
func installInstanceAPI(ctx context.Context, t *testing.T, hub *testenv.ControlPlane, raw []byte) {
	t.Helper()
	var p fleetv1alpha1.Promise
	if err := yaml.UnmarshalStrict(raw, &p); err != nil {
		t.Errorf("decoding the Promise example strictly: %v", err)
		return
	}
	if err := render.RenderExamples(&p.Spec.PromiseContent, nil); err != nil {
		t.Errorf("the Promise example %s does not render its examples: %v", p.Name, err)
	}
	gen, err := instanceapi.GenerateCRD(p.Name, &p.Spec.API)
	if err != nil {
		t.Errorf("generating the instance CRD of the Promise example %s: %v", p.Name, err)
		return
	}
	if err := hub.InstallCRDs(ctx, []*apiextensionsv1.CustomResourceDefinition{gen}); err != nil {
		t.Errorf("installing the instance CRD of the Promise example %s: %v", p.Name, err)
	}
}

// checkTeamRBAC asks the API server's RBAC authorizer whether the roles of
// docs/howto/per-team-setup.md do what the page says: a member of team-a
// (user alice in group team-a) requests and operates team-a's instances and
// their Rollouts, reads Promises and the platform's Rollouts, and can touch
// nothing of team-b's nor the platform's.
func checkTeamRBAC(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	type check struct {
		verb, group, resource, namespace string
		want                             bool
	}
	const fleet = fleetv1alpha1.Group
	checks := []check{
		{"create", "platform.example.com", "databases", "team-a", true},
		// Status is the hub's (RBAC's "*" would include it).
		{"update", "platform.example.com", "databases/status", "team-a", false},
		{"patch", "platform.example.com", "databases/status", "team-a", false},
		{"update", fleet, "rollouts/status", "team-a", false},
		{"patch", fleet, "overrides/status", "team-a", false},
		{"patch", fleet, "driftexceptions/status", "team-a", false},
		{"patch", "platform.example.com", "databases", "team-a", true},
		{"delete", "platform.example.com", "databases", "team-a", true},
		{"create", "platform.example.com", "databases", "team-b", false},
		{"get", "platform.example.com", "databases", "team-b", false},
		{"patch", fleet, "rollouts", "team-a", true},
		{"watch", fleet, "rollouts", "team-a", true},
		{"patch", fleet, "rollouts", "team-b", false},
		{"get", fleet, "rollouts", "team-b", false},
		{"list", fleet, "rollouts", fleetv1alpha1.PlatformNamespace, true},
		{"patch", fleet, "rollouts", fleetv1alpha1.PlatformNamespace, false},
		{"create", fleet, "overrides", "team-a", true},
		{"create", fleet, "overrides", fleetv1alpha1.PlatformNamespace, false},
		{"create", fleet, "driftexceptions", "team-a", true},
		{"list", fleet, "promises", "", true},
		{"update", fleet, "promises", "", false},
		{"list", fleet, "clusters", "", true},
		{"list", fleet, "fleets", "", true},
		{"create", fleet, "fleetfreezes", "", false},
		{"delete", fleet, "fleetfreezes", "", false},
		{"list", fleet, "works", "flotilla-cluster-store-0042", false},
		{"create", "authentication.k8s.io", "selfsubjectreviews", "", true},
		{"list", "apps", "controllerrevisions", "team-a", true},
		{"list", "", "secrets", "team-a", false},
	}
	for _, ch := range checks {
		// The authorizer reads RBAC from a cache that trails the objects
		// just created by a moment: a grant may take that moment to show.
		var allowed bool
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var err error
			allowed, err = allowedFor(ctx, c, "alice", []string{"team-a", "system:authenticated"}, ch.verb, ch.group, ch.resource, ch.namespace)
			if err != nil {
				t.Fatal(err)
			}
			if allowed || !ch.want || time.Now().After(deadline) {
				break
			}
		}
		if allowed != ch.want {
			t.Errorf("alice (team-a) %s %s.%s in %q: allowed=%v, the how-to says %v", ch.verb, ch.resource, ch.group, ch.namespace, allowed, ch.want)
		}
	}
}

// allowedFor asks the API server whether user in groups may do verb on a
// resource ("databases", or "databases/status" for a subresource).
func allowedFor(ctx context.Context, c client.Client, user string, groups []string, verb, group, resource, namespace string) (bool, error) {
	resource, subresource, _ := strings.Cut(resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Subresource: subresource, Namespace: namespace},
	}}
	if err := c.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("reviewing %s %s.%s: %w", verb, resource, group, err)
	}
	return sar.Status.Allowed, nil
}
