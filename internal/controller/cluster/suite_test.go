package cluster_test

import (
	"context"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/hub/hubtest"
	"github.com/flotilla-dev/flotilla/internal/kube"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests share. Each test runs its
// own hub manager against it (one at a time) and uses cluster names of its own.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithHub(m, func(h *testenv.ControlPlane) { hubCP = h }))
}

// startHub runs the hub manager, as `flotilla hub` does, until the test ends.
func startHub(t *testing.T, opts hub.Options) {
	t.Helper()
	hubtest.Start(t, hubCP.RESTConfig, opts)
}

func adminClient(t *testing.T) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(hubCP.RESTConfig, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
