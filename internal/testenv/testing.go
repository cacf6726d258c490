package testenv

import (
	"context"
	"testing"
)

// NewHub starts a hub control plane (etcd + kube-apiserver) for a test and
// stops it when the test ends. It fails the test if the hub cannot start.
func NewHub(t testing.TB) *ControlPlane {
	t.Helper()
	return newForTest(t, Options{Name: "hub", Role: RoleHub})
}

// NewMember starts a member control plane with DefaultNodes kwok nodes for a
// test and stops it when the test ends.
func NewMember(t testing.TB) *ControlPlane {
	t.Helper()
	return newForTest(t, Options{Name: "member", Role: RoleMember})
}

func newForTest(t testing.TB, opts Options) *ControlPlane {
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
