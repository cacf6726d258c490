package rollout_test

import (
	"testing"

	"github.com/flotilla-dev/flotilla/internal/golden"
	"github.com/flotilla-dev/flotilla/internal/rollout/simulate"
)

// TestSequences plays every scenario in testdata/sequences over the fake
// fleet, checking the engine's invariants at every step, and compares the
// trace with the scenario's golden file (`go test ./internal/rollout -update`
// rewrites them).
func TestSequences(t *testing.T) {
	golden.Sequences(t, "testdata/sequences/*.yaml", func(script []byte) (string, error) {
		s, err := simulate.Parse(script)
		if err != nil {
			return "", err
		}
		res, err := simulate.Run(s, simulate.Options{Check: true})
		return res.Trace, err
	})
}
