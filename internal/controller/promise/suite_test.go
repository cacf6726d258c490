package promise_test

import (
	"os"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests share. Each test runs
// its own hub manager against it and uses names of its own.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

func startHub(tb testing.TB) (stop func()) {
	return promisetest.StartHub(tb, hubCP.RESTConfig, hub.Options{})
}

func newEnv(tb testing.TB) *promisetest.Env { return promisetest.NewEnv(tb, hubCP.RESTConfig) }
