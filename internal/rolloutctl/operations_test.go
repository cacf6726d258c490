package rolloutctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

const ns = fleetv1alpha1.PlatformNamespace

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func TestApprove(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, warnings := newClient(t, admin, clock.RealClock{})
	start := time.Now()

	givenRollout(t, ctx, admin, "approve-waiting", threeWaves(fleetv1alpha1.RolloutPhaseWaitingForApproval, "canary"))
	res, err := c.Approve(ctx, ns, "approve-waiting", ApproveOptions{Message: "looks good"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || !strings.Contains(res.Summary, "wave canary of rollout approve-waiting approved by admin") {
		t.Fatalf("result %+v", res)
	}
	r := get(t, ctx, admin, "approve-waiting")
	if len(r.Spec.Approvals) != 1 || r.Spec.Approvals[0].Wave != "canary" {
		t.Fatalf("approvals %+v", r.Spec.Approvals)
	}
	recentRecord(t, r.Spec.Approvals[0].ChangeRecord, start, "looks good")

	// Approving it again changes nothing and says so.
	res, err = c.Approve(ctx, ns, "approve-waiting", ApproveOptions{Wave: "canary", Message: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || !strings.Contains(res.Summary, "already approved (by admin at ") {
		t.Fatalf("result %+v", res)
	}
	// A later wave ahead of time; a wave the rollout does not have.
	if res, err = c.Approve(ctx, ns, "approve-waiting", ApproveOptions{Wave: "prod"}); err != nil || !strings.Contains(res.Summary, "ahead of time") {
		t.Fatalf("approving prod: %+v, %v", res, err)
	}
	_, err = c.Approve(ctx, ns, "approve-waiting", ApproveOptions{Wave: "prd"})
	wantErr(t, err, `rollout approve-waiting has no wave "prd"; its waves are: canary, prod, remaining`)
	if r := get(t, ctx, admin, "approve-waiting"); len(r.Spec.Approvals) != 2 || r.Spec.Approvals[1].Wave != "prod" || r.Spec.Approvals[0].Message != "looks good" {
		t.Fatalf("approvals %+v", r.Spec.Approvals)
	}

	// Without a wave, the rollout must be waiting for one.
	givenRollout(t, ctx, admin, "approve-progressing", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"))
	_, err = c.Approve(ctx, ns, "approve-progressing", ApproveOptions{})
	wantErr(t, err, "rollout approve-progressing is not waiting for an approval (phase Progressing, current wave canary)", "--wave")

	// Paused while its current wave waits: the wave is still the one.
	st := threeWaves(fleetv1alpha1.RolloutPhaseWaitingForApproval, "prod")
	st.Phase = fleetv1alpha1.RolloutPhasePaused
	givenRollout(t, ctx, admin, "approve-paused", st)
	if res, err = c.Approve(ctx, ns, "approve-paused", ApproveOptions{}); err != nil || res.Rollout.Spec.Approvals[0].Wave != "prod" {
		t.Fatalf("approving paused: %+v, %v", res, err)
	}

	// Before the start there are no waves to check against.
	givenRollout(t, ctx, admin, "approve-pending", fleetv1alpha1.RolloutStatus{})
	if _, err = c.Approve(ctx, ns, "approve-pending", ApproveOptions{Wave: "anything"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Approve(ctx, ns, "approve-pending", ApproveOptions{})
	wantErr(t, err, "is not waiting for an approval (phase not started)")

	// Terminal rollouts act no more.
	givenRollout(t, ctx, admin, "approve-done", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseSucceeded})
	_, err = c.Approve(ctx, ns, "approve-done", ApproveOptions{Wave: "prod"})
	wantErr(t, err, "rollout approve-done is Succeeded and will not act again")

	_, err = c.Approve(ctx, ns, "nope", ApproveOptions{})
	wantErr(t, err, "rollout nope not found in namespace flotilla-system")
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("%v is not a NotFoundError", err)
	}
	if len(*warnings) != 0 {
		t.Fatalf("warnings %q", *warnings)
	}
}

// Operators approving at the same moment never lose each other's approvals:
// every edit is a patch with optimistic concurrency, retried on conflict.
func TestConcurrentApprovalsAreAllKept(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	st := fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing, CurrentWave: "w0"}
	const n = 8
	for i := range n {
		st.Waves = append(st.Waves, fleetv1alpha1.WaveStatus{Name: fmt.Sprintf("w%d", i), Phase: fleetv1alpha1.WavePhasePending})
	}
	givenRollout(t, ctx, admin, "approve-concurrent", st)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			c, _ := newClient(t, admin, clock.RealClock{})
			_, errs[i] = c.Approve(ctx, ns, "approve-concurrent", ApproveOptions{Wave: fmt.Sprintf("w%d", i)})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := get(t, ctx, admin, "approve-concurrent").Spec.Approvals; len(got) != n {
		t.Fatalf("%d approvals kept of %d: %+v", len(got), n, got)
	}
}

func TestPauseResumeAbort(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})
	start := time.Now()
	givenRollout(t, ctx, admin, "pra", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"))

	res, err := c.Pause(ctx, ns, "pra", "lunch")
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, ctx, admin, "pra")
	if !res.Changed || r.Spec.DesiredState != fleetv1alpha1.RolloutPaused || r.Spec.StateChange == nil {
		t.Fatalf("after pause: %+v, spec %+v", res, r.Spec)
	}
	recentRecord(t, *r.Spec.StateChange, start, "lunch")
	if res, err = c.Pause(ctx, ns, "pra", ""); err != nil || res.Changed || !strings.Contains(res.Summary, "already paused (by admin") {
		t.Fatalf("pausing twice: %+v, %v", res, err)
	}

	if res, err = c.Resume(ctx, ns, "pra", "back"); err != nil || !res.Changed {
		t.Fatalf("resuming: %+v, %v", res, err)
	}
	r = get(t, ctx, admin, "pra")
	if r.Spec.DesiredState != fleetv1alpha1.RolloutRunning {
		t.Fatalf("after resume: %+v", r.Spec)
	}
	recentRecord(t, *r.Spec.StateChange, start, "back")
	if res, err = c.Resume(ctx, ns, "pra", ""); err != nil || res.Changed || !strings.Contains(res.Summary, "neither paused nor halted (phase Progressing)") {
		t.Fatalf("resuming a running rollout: %+v, %v", res, err)
	}

	if res, err = c.Abort(ctx, ns, "pra", "wrong target"); err != nil || !res.Changed ||
		!strings.Contains(res.Summary, "clusters already admitted stay on app-r2 and the others on app-r1") {
		t.Fatalf("aborting: %+v, %v", res, err)
	}
	if r = get(t, ctx, admin, "pra"); r.Spec.DesiredState != fleetv1alpha1.RolloutAborted || r.Spec.StateChange.Message != "wrong target" {
		t.Fatalf("after abort: %+v", r.Spec)
	}
	if res, err = c.Abort(ctx, ns, "pra", ""); err != nil || res.Changed {
		t.Fatalf("aborting twice: %+v, %v", res, err)
	}
	_, err = c.Resume(ctx, ns, "pra", "")
	wantErr(t, err, "rollout pra was aborted (by admin at ", "an aborted rollout cannot be resumed")
	_, err = c.Pause(ctx, ns, "pra", "")
	wantErr(t, err, "an aborted rollout cannot be paused")

	// Terminal phases refuse pause, resume and abort.
	givenRollout(t, ctx, admin, "pra-done", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseRolledBack})
	for _, op := range []func(context.Context, string, string, string) (*Result, error){c.Pause, c.Resume, c.Abort} {
		_, err = op(ctx, ns, "pra-done", "")
		wantErr(t, err, "rollout pra-done is RolledBack and will not act again")
	}

	// A rollback under way wins over an abort: said so.
	givenRollout(t, ctx, admin, "pra-rollingback", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseRollingBack})
	if res, err = c.Abort(ctx, ns, "pra-rollingback", ""); err != nil || !res.Changed || !strings.Contains(res.Summary, "a rollback wins over an abort") {
		t.Fatalf("aborting a rollback: %+v, %v", res, err)
	}

	// A freeze that holds the rollout is pointed out.
	st := threeWaves(fleetv1alpha1.RolloutPhasePaused, "canary")
	st.Conditions = []metav1.Condition{{Type: fleetv1alpha1.ConditionFrozen, Status: metav1.ConditionTrue, Reason: fleetv1alpha1.ReasonFleetFrozen,
		Message: "held by FleetFreeze incident-42: bad node image", LastTransitionTime: metav1.Now()}}
	givenRollout(t, ctx, admin, "pra-frozen", st, func(r *fleetv1alpha1.Rollout) { r.Spec.DesiredState = fleetv1alpha1.RolloutPaused })
	if res, err = c.Resume(ctx, ns, "pra-frozen", ""); err != nil || !res.Changed || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "incident-42") {
		t.Fatalf("resuming a paused and frozen rollout: %+v, %v", res, err)
	}
	// Once resumed, only the freeze holds it: nothing to resume.
	if res, err = c.Resume(ctx, ns, "pra-frozen", ""); err != nil || res.Changed ||
		!strings.Contains(res.Summary, "is held by a fleet freeze (held by FleetFreeze incident-42: bad node image), not paused") {
		t.Fatalf("resuming a frozen rollout: %+v, %v", res, err)
	}
}

// When the rollout is aborted between the read and the write, the API's CEL
// rule refuses the change, and the error says what it means.
func TestAbortedMeanwhileIsExplained(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	givenRollout(t, ctx, admin, "aborted-meanwhile", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"),
		func(r *fleetv1alpha1.Rollout) { r.Spec.DesiredState = fleetv1alpha1.RolloutAborted })
	stale := interceptor.NewClient(admin, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			err := c.Get(ctx, key, obj, opts...)
			if r, ok := obj.(*fleetv1alpha1.Rollout); ok {
				r.Spec.DesiredState = fleetv1alpha1.RolloutRunning // as read just before the abort
			}
			return err
		},
	})
	c, _ := newClient(t, stale, clock.RealClock{})
	_, err := c.Pause(ctx, ns, "aborted-meanwhile", "")
	wantErr(t, err, "pausing rollout flotilla-system/aborted-meanwhile: it was aborted, and an aborted rollout cannot be resumed or paused")
}

func TestRollback(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})
	start := time.Now()

	// The Promise's revisions, and another Promise's: a rollback may name only the former.
	for i, name := range []string{"app-r0", "app-r1", "app-r2", "other-r1"} {
		promise := strings.Split(name, "-")[0]
		create(t, ctx, admin, &fleetv1alpha1.PromiseRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: fleetv1alpha1.PromiseRevisionSpec{Promise: promise, Revision: int64(i + 1), ContentHash: strings.Repeat("0123456789abcdef", 4),
				Content: testPromise(promise, "platform.example.com", "App").Spec.PromiseContent},
		})
	}

	givenRollout(t, ctx, admin, "rb", threeWaves(fleetv1alpha1.RolloutPhaseHalted, "canary"))
	_, err := c.Rollback(ctx, ns, "rb", RollbackOptions{ToRevision: "nonsense"})
	wantErr(t, err, "nonsense is not a revision of Promise app; roll back to one of: ", "app-r1", "app-r0")
	_, err = c.Rollback(ctx, ns, "rb", RollbackOptions{ToRevision: "other-r1"})
	wantErr(t, err, "other-r1 is not a revision of Promise app")
	if r := get(t, ctx, admin, "rb"); r.Spec.Rollback != nil {
		t.Fatalf("a refused rollback was written: %+v", r.Spec.Rollback)
	}
	_, err = c.Rollback(ctx, ns, "rb", RollbackOptions{ToRevision: "app-r2"})
	wantErr(t, err, "rollout rb targets app-r2: the rollback revision must be another one")
	res, err := c.Rollback(ctx, ns, "rb", RollbackOptions{Message: "canary broke"})
	if err != nil || !res.Changed || !strings.Contains(res.Summary, "rollback of rollout rb to app-r1 requested by admin") {
		t.Fatalf("rolling back: %+v, %v", res, err)
	}
	r := get(t, ctx, admin, "rb")
	if r.Spec.Rollback == nil || r.Spec.Rollback.ToRevision != "" {
		t.Fatalf("rollback %+v", r.Spec.Rollback)
	}
	recentRecord(t, r.Spec.Rollback.ChangeRecord, start, "canary broke")
	_, err = c.Rollback(ctx, ns, "rb", RollbackOptions{ToRevision: "app-r0"})
	wantErr(t, err, "rollout rb already has a rollback requested (to app-r1, by admin at ", "cannot be withdrawn")

	givenRollout(t, ctx, admin, "rb-first", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"),
		func(r *fleetv1alpha1.Rollout) { r.Spec.FromRevision = "" })
	_, err = c.Rollback(ctx, ns, "rb-first", RollbackOptions{})
	wantErr(t, err, "rollout rb-first is a first rollout (no fromRevision): there is nothing to roll back to")
	if res, err = c.Rollback(ctx, ns, "rb-first", RollbackOptions{ToRevision: "app-r0"}); err != nil || get(t, ctx, admin, "rb-first").Spec.Rollback.ToRevision != "app-r0" {
		t.Fatalf("rolling back to a named revision: %+v, %v", res, err)
	}

	givenRollout(t, ctx, admin, "rb-done", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseAborted})
	_, err = c.Rollback(ctx, ns, "rb-done", RollbackOptions{})
	wantErr(t, err, "rollout rb-done is Aborted and will not act again")

	// A request that names a revision the subject does not have (written
	// around the CLI) stalls the rollout: it may be replaced, or aborted.
	stuck := func(name string) {
		givenRollout(t, ctx, admin, name, threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"), func(r *fleetv1alpha1.Rollout) {
			r.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "app-r9", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "admin"}}
		})
	}
	stuck("rb-stuck")
	if res, err = c.Rollback(ctx, ns, "rb-stuck", RollbackOptions{ToRevision: "app-r0"}); err != nil || !res.Changed ||
		!strings.Contains(res.Summary, "replacing the request to app-r9, which is not a revision of Promise app") ||
		get(t, ctx, admin, "rb-stuck").Spec.Rollback.ToRevision != "app-r0" {
		t.Fatalf("replacing a stalled rollback: %+v, %v", res, err)
	}
	stuck("rb-stuck-abort")
	if res, err = c.Abort(ctx, ns, "rb-stuck-abort", "typo"); err != nil || !res.Changed ||
		!strings.Contains(res.Summary, "the rollback it asks for, to app-r9, cannot proceed (not a revision of Promise app), so the abort ends it") {
		t.Fatalf("aborting a stalled rollback: %+v, %v", res, err)
	}

	// A request the hub refused (an instance revision the fleet never ran
	// in full) may be replaced too.
	refused := threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary")
	refused.Conditions = append(refused.Conditions, metav1.Condition{Type: fleetv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
		Reason: fleetv1alpha1.ReasonInvalidSpec, Message: "the rollback cannot proceed", LastTransitionTime: metav1.Now()})
	givenRollout(t, ctx, admin, "rb-refused", refused, func(r *fleetv1alpha1.Rollout) {
		r.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "app-r0", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "admin"}}
	})
	if res, err = c.Rollback(ctx, ns, "rb-refused", RollbackOptions{}); err != nil || !res.Changed ||
		!strings.Contains(res.Summary, "replacing the request to app-r0, which the hub refused") {
		t.Fatalf("replacing a refused rollback: %+v, %v", res, err)
	}

	givenRollout(t, ctx, admin, "rb-auto", fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseRollingBack, RollbackRevision: "app-r1"})
	if res, err = c.Rollback(ctx, ns, "rb-auto", RollbackOptions{}); err != nil || res.Changed || !strings.Contains(res.Summary, "already rolling back to app-r1") {
		t.Fatalf("rolling back a rollback: %+v, %v", res, err)
	}
}

// An identity the hub cannot tell is recorded as "unknown" with a warning;
// the operation goes through.
func TestIdentityFallsBackToUnknown(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	givenRollout(t, ctx, admin, "who", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"))
	noReview := interceptor.NewClient(admin, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*authenticationv1.SelfSubjectReview); ok {
				return errors.New("the server could not find the requested resource")
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	c, warnings := newClient(t, noReview, clock.RealClock{})
	if _, err := c.Pause(ctx, ns, "who", ""); err != nil {
		t.Fatal(err)
	}
	if by := get(t, ctx, admin, "who").Spec.StateChange.By; by != UnknownActor {
		t.Fatalf("by = %q", by)
	}
	if len(*warnings) != 1 || !strings.Contains((*warnings)[0], `SelfSubjectReview`) || !strings.Contains((*warnings)[0], `as made by "unknown"`) {
		t.Fatalf("warnings %q", *warnings)
	}

	id, err := NewForClient(admin, clock.RealClock{}, nil).Identity(ctx)
	if err != nil || id != adminUser {
		t.Fatalf("identity %q, %v", id, err)
	}
}

func TestListAndWatch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	admin := adminClient(t)
	c, _ := newClient(t, admin, clock.RealClock{})
	ensureNamespace(t, ctx, admin, "team-watch")
	r := givenRollout(t, ctx, admin, "watched", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"),
		func(r *fleetv1alpha1.Rollout) { r.Namespace = "team-watch" })

	items, err := c.List(ctx, "team-watch")
	if err != nil || len(items) != 1 || items[0].Name != "watched" {
		t.Fatalf("list: %+v, %v", items, err)
	}

	var (
		mu     sync.Mutex
		phases []fleetv1alpha1.RolloutPhase
	)
	seen := func() []fleetv1alpha1.RolloutPhase {
		mu.Lock()
		defer mu.Unlock()
		return append([]fleetv1alpha1.RolloutPhase(nil), phases...)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, "team-watch", "watched", func(r *fleetv1alpha1.Rollout) error {
			mu.Lock()
			defer mu.Unlock()
			phases = append(phases, r.Status.Phase)
			return nil
		})
	}()
	waitFor(t, func() bool { return len(seen()) == 1 })
	for _, phase := range []fleetv1alpha1.RolloutPhase{fleetv1alpha1.RolloutPhaseBaking, fleetv1alpha1.RolloutPhaseSucceeded} {
		st := r.Status.DeepCopy()
		st.Phase = phase
		setStatus(t, ctx, admin, r, *st)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Watch did not return after the rollout succeeded")
	}
	want := "[Progressing Baking Succeeded]"
	if got := fmt.Sprint(seen()); got != want {
		t.Fatalf("phases seen %s, want %s", got, want)
	}

	// A watch of a running rollout ends with its context.
	givenRollout(t, ctx, admin, "watched-2", threeWaves(fleetv1alpha1.RolloutPhaseProgressing, "canary"))
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.Watch(wctx, ns, "watched-2", func(*fleetv1alpha1.Rollout) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch ended with %v", err)
	}
	err = c.Watch(ctx, ns, "nope", func(*fleetv1alpha1.Rollout) error { return nil })
	wantErr(t, err, "rollout nope not found in namespace flotilla-system")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
