package instance_test

import (
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flotilla-dev/flotilla/internal/controller/promise/promisetest"
	"github.com/flotilla-dev/flotilla/internal/hub"
	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// hubCP is the hub control plane the package's tests (and the benchmark)
// share. Each test runs its own hub manager against it and uses names of its own.
var hubCP *testenv.ControlPlane

func TestMain(m *testing.M) { os.Exit(promisetest.Main(m, &hubCP)) }

func startHub(tb testing.TB, opts hub.Options) (stop func()) {
	return promisetest.StartHub(tb, hubCP.RESTConfig, opts)
}

func newEnv(tb testing.TB) *promisetest.Env { return promisetest.NewEnv(tb, hubCP.RESTConfig) }

func adminClient(tb testing.TB) client.Client { return promisetest.AdminClient(tb, hubCP.RESTConfig) }

// Shorter names for the helpers the stories use most.
var (
	configMapPromise = promisetest.ConfigMapPromise
	instance         = promisetest.Instance
	eventually       = promisetest.Eventually
	conditionIs      = promisetest.ConditionIs
	conditionReason  = promisetest.ConditionReason
	manifestData     = promisetest.ManifestData
)
