package rollout

import (
	"fmt"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// DefaultStrategyName names the RolloutStrategy used by Promises that name none.
const DefaultStrategyName = "default"

// AllAtOnce is the strategy of a Promise that names none when no
// RolloutStrategy "default" exists: one wave, every cluster at once, no
// failure allowed.
func AllAtOnce() fleetv1alpha1.RolloutStrategySpec {
	return fleetv1alpha1.RolloutStrategySpec{Waves: []fleetv1alpha1.Wave{{Name: "all"}}}
}

// StrategyLookup reads the RolloutStrategy name: nil and no error when
// there is none; an error when it could not be read.
type StrategyLookup func(name string) (*fleetv1alpha1.RolloutStrategy, error)

// StrategyNotFoundError says a RolloutStrategy that a Rollout or its
// Promise names does not exist: the Rollout cannot go on.
type StrategyNotFoundError struct{ Name string }

func (e *StrategyNotFoundError) Error() string {
	return fmt.Sprintf("RolloutStrategy %s not found", e.Name)
}

// ResolveStrategy is the strategy Rollout ro follows: its inline strategy,
// else the RolloutStrategy it names, else the one its Promise p names
// (either missing: a *StrategyNotFoundError), else the RolloutStrategy
// "default", else AllAtOnce. The Rollout controller plans with it and the
// instance controller copies its checks onto Works (WorkChecksFor): both
// resolve it here, so they never disagree. p may be nil (no Promise: no
// strategyRef of its own).
func ResolveStrategy(ro *fleetv1alpha1.Rollout, p *fleetv1alpha1.Promise, lookup StrategyLookup) (fleetv1alpha1.RolloutStrategySpec, error) {
	if ro.Spec.Strategy != nil {
		return *ro.Spec.Strategy, nil
	}
	ref, required := ro.Spec.StrategyRef, true
	if ref == nil && p != nil {
		ref = p.Spec.StrategyRef
	}
	if ref == nil {
		ref, required = &fleetv1alpha1.LocalObjectReference{Name: DefaultStrategyName}, false
	}
	s, err := lookup(ref.Name)
	if err != nil {
		return fleetv1alpha1.RolloutStrategySpec{}, fmt.Errorf("reading RolloutStrategy %s: %w", ref.Name, err)
	}
	if s == nil {
		if required {
			return fleetv1alpha1.RolloutStrategySpec{}, &StrategyNotFoundError{Name: ref.Name}
		}
		return AllAtOnce(), nil
	}
	return s.Spec, nil
}

// StrategyName is the name of the RolloutStrategy ResolveStrategy reads for
// ro ("" for an inline strategy): for watches of RolloutStrategies.
func StrategyName(ro *fleetv1alpha1.Rollout, p *fleetv1alpha1.Promise) string {
	switch {
	case ro.Spec.Strategy != nil:
		return ""
	case ro.Spec.StrategyRef != nil:
		return ro.Spec.StrategyRef.Name
	case p != nil && p.Spec.StrategyRef != nil:
		return p.Spec.StrategyRef.Name
	}
	return DefaultStrategyName
}
