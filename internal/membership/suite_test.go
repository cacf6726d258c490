package membership

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hub is one real control plane (etcd + kube-apiserver) shared by the
// package's tests; each test joins clusters of its own names.
var hub *testenv.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(testenv.MainWithHub(m, func(h *testenv.ControlPlane) { hub = h }))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
