//go:build !agent

package cli

import (
	"errors"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryLimitRatio is the share of its container's memory limit the hub's Go
// runtime keeps itself under; the rest is for what the runtime does not
// count, above all the binary's own pages.
const memoryLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to memoryLimitRatio
// of the limit provider reports (the container's cgroup), unless GOMEMLIMIT
// is set or AUTOMEMLIMIT=off. Go derives GOMAXPROCS from a container's CPU
// limit but nothing from its memory limit: without one, the heap grows to
// twice its live data (GOGC=100) in a burst, such as a rollout's Works
// rendered, written and decoded at once across 10,000 clusters, and the
// kernel kills the hub over its container's limit although its live data
// fits. It returns the limit in force, 0 for none.
func setMemoryLimit(provider memlimit.Provider) (int64, error) {
	limit, err := memlimit.Set(memlimit.WithProvider(provider), memlimit.WithRatio(memoryLimitRatio))
	switch {
	case errors.Is(err, memlimit.ErrNoLimit):
		return 0, nil
	case err != nil:
		return 0, err
	case limit == math.MaxInt64:
		return 0, nil
	}
	return limit, nil
}
