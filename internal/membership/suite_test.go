package membership

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/config/crd"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hub is one real control plane (etcd + kube-apiserver) shared by the
// package's tests; each test joins clusters of its own names.
var hub *testenv.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	hub, err = testenv.Start(ctx, testenv.Options{Name: "hub"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the hub:", err)
		return 1
	}
	defer func() { _ = hub.Stop() }()
	crds, err := crd.CRDs()
	if err == nil {
		err = hub.InstallCRDs(ctx, crds)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "installing CRDs:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "hub logs:\n%s", hub.Logs(30))
	}
	return code
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
