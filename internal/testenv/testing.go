package testenv

import (
	"context"
	"fmt"
	"os"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/flotilla-dev/flotilla/config/crd"
)

// TB is the part of testing.TB these helpers use. Naming it here keeps the
// testing package (and its flags) out of the flotilla binary, which starts
// control planes for the demo and dev fleets through this package.
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// TestingM is the part of *testing.M that MainWithHub uses.
type TestingM interface {
	Run() int
}

// NewHub starts a hub control plane (etcd + kube-apiserver) for a test and
// stops it when the test ends. It fails the test if the hub cannot start.
func NewHub(t TB) *ControlPlane {
	t.Helper()
	return newForTest(t, Options{Name: "hub", Role: RoleHub})
}

// NewHubWithCRDs is NewHub with Flotilla's CRDs installed and Established.
func NewHubWithCRDs(t TB) *ControlPlane {
	t.Helper()
	hub := NewHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := hub.installFlotillaCRDs(ctx); err != nil {
		t.Fatalf("testenv: installing CRDs: %v", err)
	}
	return hub
}

// installFlotillaCRDs installs Flotilla's CRDs and waits until they are Established.
func (c *ControlPlane) installFlotillaCRDs(ctx context.Context) error {
	crds, err := crd.CRDs()
	if err != nil {
		return err
	}
	return c.InstallCRDs(ctx, crds)
}

// NewMember starts a member control plane with DefaultNodes kwok nodes for a
// test and stops it when the test ends.
func NewMember(t TB) *ControlPlane {
	t.Helper()
	return newForTest(t, Options{Name: "member", Role: RoleMember})
}

func newForTest(t TB, opts Options) *ControlPlane {
	t.Helper()
	cp, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv %s logs:\n%s", cp.Name, cp.Logs(30))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("testenv: stopping %s: %v", cp.Name, err)
		}
	})
	return cp
}

// MainWithHub runs a package's tests against one hub, with Flotilla's CRDs
// installed, that all its tests share (a hub costs seconds to start). use
// receives the hub before the tests run. Call it from TestMain:
//
//	func TestMain(m TestingM) { os.Exit(testenv.MainWithHub(m, func(h *testenv.ControlPlane) { hub = h })) }
func MainWithHub(m TestingM, use func(*ControlPlane)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hub, err := Start(ctx, Options{Name: "hub"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: starting the hub:", err)
		return 1
	}
	defer func() { _ = hub.Stop() }()
	if err := hub.installFlotillaCRDs(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: installing CRDs:", err)
		return 1
	}
	use(hub)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "hub logs:\n%s", hub.Logs(30))
	}
	return code
}

// WaitAllowed waits until the API server allows the user of cfg (an
// impersonated one too) the action attrs describe. The RBAC authorizer reads
// roles and bindings from a cache that trails their creation by a moment, so
// a test that grants a role and acts at once may be refused.
func WaitAllowed(t TB, cfg *rest.Config, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		got, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			why := fmt.Sprint(err)
			if err == nil {
				why = fmt.Sprintf("refused (reason %q, evaluation error %q)", got.Status.Reason, got.Status.EvaluationError)
			}
			t.Fatalf("testenv: %s %s/%s %q in %q still not allowed after 30s: %s", attrs.Verb, attrs.Group, attrs.Resource, attrs.Name, attrs.Namespace, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RemoveNamespace deletes namespace ns (if it is not being deleted already)
// and does the namespace controller's part, which a test control plane does
// not run: it removes the namespace's finalizer and waits until it is gone.
// Whatever the namespace still holds is left in etcd, unreachable.
func (c *ControlPlane) RemoveNamespace(ctx context.Context, t TB, ns string) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if n.DeletionTimestamp == nil {
			// Retried, as the garbage collector retries: the admission policy
			// flotilla-cluster-namespaces lets a cluster's namespace go once
			// the API server has seen its Cluster go, a moment after.
			err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && !apierrors.IsForbidden(err) {
				return false, err
			}
			return false, nil
		}
		n.Spec.Finalizers = []corev1.FinalizerName{}
		if _, err := cs.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
			return false, err
		}
		return false, nil
	}); err != nil {
		t.Fatalf("removing namespace %s: %v", ns, err)
	}
}
