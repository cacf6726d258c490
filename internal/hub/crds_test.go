package hub

import (
	"context"
	"sync"
	"testing"

	"github.com/flotilla-dev/flotilla/internal/testenv"
)

// Hub replicas that start together (a Deployment with two replicas on a
// fresh hub) install the CRDs at once; none of them fails for it.
func TestReplicasInstallCRDsTogether(t *testing.T) {
	cp := testenv.NewHub(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = installCRDs(context.Background(), cp.RESTConfig)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}
