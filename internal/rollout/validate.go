package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// maxWaveClusters is the API's bound on status.waves[].clusters.
const maxWaveClusters = 10000

// maxTargetSetStatusBytes bounds what a target set may cost the Rollout's
// status (targetSetStatusBytes), leaving room for the rest of it (history,
// failures, check details, conditions) under the 1.5 MiB etcd stores in one
// object: a status past that is refused at every write, so the Rollout
// would stop where it stood, its verdict stale, a freeze never acted on.
// 10,000 clusters with names of 46 characters and 16 checks take 670 kB.
const maxTargetSetStatusBytes = 1 << 20

// Defaults the API server would fill in; Plan applies them to inline or
// hand-written strategies that lack them.
var (
	defaultConcurrency          = intstr.FromString("100%")
	defaultMaxFailures          = intstr.FromInt32(0)
	defaultImmediateMaxFailures = intstr.FromString("10%")
)

const defaultProgressDeadline = 10 * time.Minute

// validate rejects input Plan cannot act on, and indexes the observations
// by cluster name. The API server enforces most of these rules; Plan checks
// them again because inline strategies, tests and future callers may not
// have gone through it.
func validate(in Input) (map[string]*ClusterObservation, error) {
	if in.Now.IsZero() {
		return nil, errors.New("invalid input: now is not set")
	}
	if err := validateSpec(in.Spec); err != nil {
		return nil, fmt.Errorf("invalid rollout spec: %w", err)
	}
	if err := validateStrategy(in.Strategy); err != nil {
		return nil, fmt.Errorf("invalid strategy: %w", err)
	}
	if f := in.Freeze; f != nil && f.Action != "" &&
		f.Action != fleetv1alpha1.FreezeHalt && f.Action != fleetv1alpha1.FreezeRollback {
		return nil, fmt.Errorf("invalid freeze %s: unknown action %q", f.Name, f.Action)
	}
	obs, err := indexClusters(in.Clusters)
	if err != nil {
		return nil, fmt.Errorf("invalid observations: %w", err)
	}
	return obs, nil
}

func validateSpec(s fleetv1alpha1.RolloutSpec) error {
	if s.TargetRevision == "" {
		return errors.New("targetRevision is empty")
	}
	if s.FromRevision == s.TargetRevision {
		return fmt.Errorf("fromRevision and targetRevision are both %q", s.TargetRevision)
	}
	if s.Rollback != nil && s.Rollback.ToRevision == s.TargetRevision {
		return fmt.Errorf("rollback.toRevision is the target revision %q", s.TargetRevision)
	}
	switch s.UpdatePolicy.Mode {
	case "", fleetv1alpha1.UpdateModeProgressive, fleetv1alpha1.UpdateModeImmediate:
	case fleetv1alpha1.UpdateModeDeadline:
		if s.UpdatePolicy.Deadline == nil {
			return errors.New("updatePolicy.deadline is required in Deadline mode")
		}
	default:
		return fmt.Errorf("unknown updatePolicy.mode %q", s.UpdatePolicy.Mode)
	}
	switch s.DesiredState {
	case "", fleetv1alpha1.RolloutRunning, fleetv1alpha1.RolloutPaused, fleetv1alpha1.RolloutAborted:
	default:
		return fmt.Errorf("unknown desiredState %q", s.DesiredState)
	}
	return nil
}

func validateStrategy(s fleetv1alpha1.RolloutStrategySpec) error {
	if len(s.Waves) == 0 {
		return errors.New("no waves")
	}
	switch s.OnFailure {
	case "", fleetv1alpha1.FailureHalt, fleetv1alpha1.FailureRollback:
	default:
		return fmt.Errorf("unknown onFailure %q", s.OnFailure)
	}
	switch s.OfflinePolicy {
	case "", fleetv1alpha1.OfflineWait, fleetv1alpha1.OfflineSkip, fleetv1alpha1.OfflineCountAsFailure:
	default:
		return fmt.Errorf("unknown offlinePolicy %q", s.OfflinePolicy)
	}
	seen := make(map[string]bool, len(s.Waves))
	for i, w := range s.Waves {
		if err := validateWave(w, seen); err != nil {
			return fmt.Errorf("wave %d (%s): %w", i, w.Name, err)
		}
	}
	if im := s.Immediate; im != nil {
		if _, err := concurrencyLimit(im.MaxConcurrency, 100); err != nil {
			return fmt.Errorf("immediate: %w", err)
		}
		if _, err := failureBudget(im.MaxFailures, defaultImmediateMaxFailures, 100); err != nil {
			return fmt.Errorf("immediate: %w", err)
		}
		if err := validateDuration("progressDeadline", im.ProgressDeadline); err != nil {
			return fmt.Errorf("immediate: %w", err)
		}
	}
	return nil
}

func validateWave(w fleetv1alpha1.Wave, seen map[string]bool) error {
	switch {
	case w.Name == "":
		return errors.New("name is empty")
	case w.Name == fleetv1alpha1.ImplicitWaveName:
		return fmt.Errorf("name %q is reserved for the implicit last wave", w.Name)
	case seen[w.Name]:
		return errors.New("duplicate name")
	}
	seen[w.Name] = true
	if _, err := concurrencyLimit(w.MaxConcurrency, 100); err != nil {
		return err
	}
	if _, err := failureBudget(w.MaxFailures, defaultMaxFailures, 100); err != nil {
		return err
	}
	if err := validateDuration("bakeTime", w.BakeTime); err != nil {
		return err
	}
	if err := validateDuration("progressDeadline", w.ProgressDeadline); err != nil {
		return err
	}
	switch w.Approval {
	case "", fleetv1alpha1.ApprovalNone, fleetv1alpha1.ApprovalRequired:
	default:
		return fmt.Errorf("unknown approval %q", w.Approval)
	}
	return nil
}

func validateDuration(field string, d *metav1.Duration) error {
	if d != nil && d.Duration < 0 {
		return fmt.Errorf("%s %s is negative", field, d.Duration)
	}
	return nil
}

// indexClusters maps names to observations, rejecting unnamed and
// duplicate ones.
func indexClusters(cs []ClusterObservation) (map[string]*ClusterObservation, error) {
	obs := make(map[string]*ClusterObservation, len(cs))
	for i := range cs {
		name := cs[i].Name
		if name == "" {
			return nil, fmt.Errorf("cluster %d has no name", i)
		}
		if _, dup := obs[name]; dup {
			return nil, fmt.Errorf("cluster %s observed twice", name)
		}
		obs[name] = &cs[i]
	}
	return obs, nil
}

// concurrencyLimit resolves maxConcurrency for a wave of size clusters: a
// count, or a percentage rounded up; at least 1.
func concurrencyLimit(v *intstr.IntOrString, size int) (int, error) {
	if v == nil {
		v = &defaultConcurrency
	}
	n, err := scaled(v, size, true)
	if err != nil {
		return 0, fmt.Errorf("maxConcurrency: %w", err)
	}
	if v.Type == intstr.Int && n < 1 {
		return 0, fmt.Errorf("maxConcurrency: %d is less than 1", n)
	}
	return max(n, 1), nil
}

// failureBudget resolves maxFailures for a wave of size clusters: a count,
// or a percentage rounded down.
func failureBudget(v *intstr.IntOrString, def intstr.IntOrString, size int) (int, error) {
	if v == nil {
		v = &def
	}
	n, err := scaled(v, size, false)
	if err != nil {
		return 0, fmt.Errorf("maxFailures: %w", err)
	}
	if n < 0 {
		return 0, fmt.Errorf("maxFailures: %d is negative", n)
	}
	return n, nil
}

// scaled reads a count or an "N%" of size, with integer arithmetic so
// rounding is exact.
func scaled(v *intstr.IntOrString, size int, roundUp bool) (int, error) {
	if v.Type == intstr.Int {
		return int(v.IntVal), nil
	}
	digits, ok := strings.CutSuffix(v.StrVal, "%")
	pct, err := strconv.Atoi(digits)
	if !ok || err != nil || pct < 0 || pct > 100 {
		return 0, fmt.Errorf("%q is neither a count nor a percentage from 0%% to 100%%", v.StrVal)
	}
	if roundUp {
		return (pct*size + 99) / 100, nil
	}
	return pct * size / 100, nil
}

// duration reads an optional duration, with a default when unset.
func duration(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
