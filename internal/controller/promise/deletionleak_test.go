package promise_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	pt "github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Every team reads Promises (the per-team how-to's flotilla-catalog-reader).
// A Promise whose deletion waits for instances named up to three of them,
// of any team, namespace/name, and, once force-deleted, the finalizers that
// hold them: team leak-b read team leak-a's instance names (and the
// finalizers of its tooling) off the Promise's Ready condition. The
// condition now counts them and says how to list them; the names are the
// platform's, in the hub's Event on the Promise (in `default`, which teams
// do not read) and its log.
func TestAPromisesDeletionNamesNoTeamsInstances(t *testing.T) {
	e := newEnv(t)
	stopHub := startHub(t)
	const group, kind, plural, name = "leak.example.com", "LeakDb", "leakdbs", "leak-db"
	e.Cluster("leak-c1", map[string]string{"story": "leak"})
	e.Fleet("leak", map[string]string{"story": "leak"}, "leak-a", "leak-b")
	e.Namespace("leak-a", nil)
	e.Namespace("leak-b", nil)
	e.Create(pt.ConfigMapPromise(name, group, kind, "leak"))
	e.PromiseReady(name)
	secret := pt.Instance(group, kind, "leak-a", "acquisition-zeta", map[string]any{"size": "small"})
	e.Create(secret)
	e.Create(pt.Instance(group, kind, "leak-b", "orders", map[string]any{"size": "small"}))
	e.WaitWork(name, "leak-a", "acquisition-zeta", "leak-c1", func(*fleetv1alpha1.Work) (bool, string) { return true, "" })

	// Team leak-b, with the how-to's read access to the catalog.
	e.Create(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "leak-catalog-reader"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{fleetv1alpha1.Group}, Resources: []string{"promises", "promiserevisions", "fleets", "clusters"}, Verbs: []string{"get", "list", "watch"}},
	}})
	e.Create(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "leak-catalog-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "leak-catalog-reader"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: "leak-b"}}})
	cfg := rest.CopyConfig(hubCP.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "mallory", Groups: []string{"leak-b", "system:authenticated"}}
	testenv.WaitAllowed(t, cfg, authorizationv1.ResourceAttributes{Verb: "get", Group: fleetv1alpha1.Group, Resource: "promises"})
	mallory, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	readAsTeamB := func(what string, reason string, want ...string) {
		t.Helper()
		pt.Eventually(t, time.Minute, what, func() (bool, string) {
			p := &fleetv1alpha1.Promise{}
			if err := mallory.Get(e.Ctx, client.ObjectKey{Name: name}, p); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(p.Status.Conditions, fleetv1alpha1.ConditionReady)
			if c == nil || c.Reason != fleetv1alpha1.ReasonInstancesPresent || !strings.Contains(c.Message, reason) {
				return false, fmt.Sprintf("%+v", c)
			}
			for _, leaked := range []string{"acquisition-zeta", "leak-a/", "leak.example.com/keep-zeta"} {
				if strings.Contains(c.Message, leaked) {
					t.Fatalf("team leak-b reads %q on the Promise: %s", leaked, c.Message)
				}
			}
			for _, w := range want {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message %q does not say %q", c.Message, w)
				}
			}
			return true, ""
		})
	}

	// The deletion waits while the instances exist.
	deleteWhileTheHubIsDown(e, stopHub, name)
	readAsTeamB("the refused deletion", "instances exist", "2 "+kind, "kubectl get "+plural+"."+group+" -A", fleetv1alpha1.AnnotationForceDelete)
	platformEvent(t, e, name, "leak-a/acquisition-zeta")

	// Team leak-a holds its instance with a finalizer of its own; the
	// platform force-deletes.
	const hold = "leak.example.com/keep-zeta"
	e.UpdateInstance(secret, func(u *unstructured.Unstructured) { u.SetFinalizers(append(u.GetFinalizers(), hold)) })
	pt.Eventually(t, 30*time.Second, "annotate", func() (bool, string) {
		p := getPromise(e, name)
		p.Annotations = map[string]string{fleetv1alpha1.AnnotationForceDelete: fleetv1alpha1.ForceDeleteValue}
		err := e.C.Update(e.Ctx, p)
		return err == nil, fmt.Sprint(err)
	})
	readAsTeamB("the deletion held by a finalizer", "held by finalizers", "1 "+kind, "kubectl get "+plural+"."+group+" -A")
	platformEvent(t, e, name, "leak-a/acquisition-zeta ("+hold+")")

	if err := e.C.Patch(e.Ctx, secret, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))); err != nil {
		t.Fatal(err)
	}
}

// platformEvent waits for an Event on Promise name, in the namespace where
// the hub records those of cluster-scoped objects (`default`), that says want.
func platformEvent(t *testing.T, e *pt.Env, name, want string) {
	t.Helper()
	pt.Eventually(t, time.Minute, "the platform's Event naming "+want, func() (bool, string) {
		events := &eventsv1.EventList{}
		if err := e.C.List(e.Ctx, events, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return false, err.Error()
		}
		var notes []string
		for _, ev := range events.Items {
			if ev.Regarding.Name == name && ev.Reason == fleetv1alpha1.ReasonInstancesPresent {
				if strings.Contains(ev.Note, want) {
					return true, ""
				}
				notes = append(notes, ev.Note)
			}
		}
		return false, strings.Join(notes, " | ")
	})
}
