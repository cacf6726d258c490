package hubread

import (
	"context"
	"slices"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Read on a real hub, as the admin and as a team member whose RBAC lets them
// list Rollouts in their own namespace only: they get those, and the rest is
// named in Hidden instead of failing the read.
func TestReadWithTheCallersCredentials(t *testing.T) {
	hub := testenv.NewHubWithCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := newClient(t, hub.RESTConfig)
	create := func(obj client.Object) {
		t.Helper()
		if err := admin.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
	for _, ns := range []string{fleetv1alpha1.PlatformNamespace, "team-a", "team-b", fleetv1alpha1.ClusterNamespace("eu-1")} {
		create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	create(&fleetv1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "eu-1"}})
	create(&fleetv1alpha1.Work{
		ObjectMeta: metav1.ObjectMeta{Namespace: fleetv1alpha1.ClusterNamespace("eu-1"), Name: "web-shop"},
		Spec: fleetv1alpha1.WorkSpec{Cluster: "eu-1", Revision: "web-1",
			Subject: fleetv1alpha1.WorkSubject{Promise: "web", Instance: &fleetv1alpha1.InstanceReference{Namespace: "team-a", Name: "shop"}},
			Scope:   &fleetv1alpha1.WorkScope{Namespaces: []string{"team-a"}, Kinds: []fleetv1alpha1.OutputKind{{Group: "apps", Kind: "Deployment"}}}},
	})
	for _, ns := range []string{fleetv1alpha1.PlatformNamespace, "team-a", "team-b"} {
		create(&fleetv1alpha1.Rollout{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-2"},
			Spec:       fleetv1alpha1.RolloutSpec{Subject: fleetv1alpha1.RolloutSubject{Promise: "web"}, TargetRevision: "web-2"},
		})
	}
	for _, ns := range []string{"team-a", "team-b"} {
		create(&fleetv1alpha1.DriftException{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hotfix"},
			Spec: fleetv1alpha1.DriftExceptionSpec{Owner: "alice", Reason: "incident", ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
				Resources: []fleetv1alpha1.ResourceSelector{{Kind: "ConfigMap"}}},
		})
	}
	create(&rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "rollout-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{fleetv1alpha1.GroupVersion.Group},
			Resources: []string{"rollouts", "driftexceptions"}, Verbs: []string{"get", "list"}}},
	})
	create(&rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alice"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rollout-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}},
	})
	aliceConfig := rest.CopyConfig(hub.RESTConfig)
	aliceConfig.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	alice := newClient(t, aliceConfig)
	// The authorizer's RBAC cache trails the binding just created.
	testenv.WaitAllowed(t, aliceConfig, authorizationv1.ResourceAttributes{Group: fleetv1alpha1.Group, Resource: "driftexceptions", Verb: "list", Namespace: "team-a"})

	now := time.Now()
	tests := []struct {
		name           string
		reader         client.Reader
		opts           Options
		wantRollouts   []string
		wantExceptions []string
		wantHidden     []string
		wantClusters   int
	}{{
		name: "admin", reader: admin, wantClusters: 1,
		wantRollouts:   []string{"flotilla-system/web-2", "team-a/web-2", "team-b/web-2"},
		wantExceptions: []string{"team-a/hotfix", "team-b/hotfix"},
	}, {
		name: "admin, for the counts only", reader: admin, opts: Options{SkipDriftExceptions: true}, wantClusters: 1,
		wantRollouts: []string{"flotilla-system/web-2", "team-a/web-2", "team-b/web-2"},
	}, {
		name: "team member with their namespace", reader: alice, opts: Options{Namespace: "team-a"},
		wantRollouts:   []string{"team-a/web-2"},
		wantExceptions: []string{"team-a/hotfix"},
		wantHidden: []string{"clusters", "driftexceptions outside namespace team-a", "fleetfreezes", "promises",
			"rollouts outside namespace team-a", "works"},
	}, {
		name: "team member without a namespace", reader: alice,
		wantHidden: []string{"clusters", "driftexceptions", "fleetfreezes", "promises", "rollouts", "works"},
	}, {
		name: "team member with a namespace they may not read", reader: alice, opts: Options{Namespace: "team-b"},
		wantHidden: []string{"clusters", "driftexceptions", "fleetfreezes", "promises", "rollouts", "works"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Read(ctx, tt.reader, now, tt.opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var rollouts []string
			for _, r := range s.Rollouts {
				rollouts = append(rollouts, r.Namespace+"/"+r.Name)
			}
			slices.Sort(rollouts)
			var exceptions []string
			for _, e := range s.DriftExceptions {
				exceptions = append(exceptions, e.Namespace+"/"+e.Name)
			}
			slices.Sort(exceptions)
			if !slices.Equal(exceptions, tt.wantExceptions) {
				t.Errorf("drift exceptions %v, want %v", exceptions, tt.wantExceptions)
			}
			hidden := slices.Sorted(slices.Values(s.Hidden))
			if !slices.Equal(rollouts, tt.wantRollouts) || !slices.Equal(hidden, tt.wantHidden) || len(s.Clusters) != tt.wantClusters || !s.Now.Equal(now) {
				t.Errorf("rollouts %v, hidden %v, %d clusters; want %v, %v, %d", rollouts, hidden, len(s.Clusters), tt.wantRollouts, tt.wantHidden, tt.wantClusters)
			}
			if tt.wantClusters > 0 && len(s.Works) != 1 {
				t.Errorf("works %v, want the one", s.Works)
			}
		})
	}
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
