//go:build !agent

package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// now is when every printed rollout is looked at.
var now = time.Date(2031, time.January, 2, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(now.Add(-d))
	return &t
}

func baseRollout() *fleetv1alpha1.Rollout {
	return &fleetv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres-abcdef0123", Namespace: "flotilla-system", CreationTimestamp: *at(3 * time.Hour)},
		Spec: fleetv1alpha1.RolloutSpec{
			Subject:        fleetv1alpha1.RolloutSubject{Promise: "postgres"},
			FromRevision:   "postgres-0123456789",
			TargetRevision: "postgres-abcdef0123",
			UpdatePolicy:   fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeProgressive},
			DesiredState:   fleetv1alpha1.RolloutRunning,
		},
	}
}

func TestPrintRolloutStatus(t *testing.T) {
	tests := []struct {
		name string
		edit func(*fleetv1alpha1.Rollout)
		want string
	}{{
		name: "not started",
		edit: func(*fleetv1alpha1.Rollout) {},
		want: `Rollout:   flotilla-system/postgres-abcdef0123
Subject:   promise postgres (every instance)
Revisions: postgres-0123456789 → postgres-abcdef0123
Mode:      Progressive
Phase:     Pending (not started)
Progress:  0% on target (0 of 0 clusters healthy)
Clusters:  total 0, admitted 0, healthy 0, failed 0, pending 0, offline 0
`,
	}, {
		name: "waiting for approval, paused, with failures and history",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Spec.DesiredState = fleetv1alpha1.RolloutPaused
			r.Spec.StateChange = &fleetv1alpha1.ChangeRecord{By: "bob", At: at(10 * time.Minute), Message: "lunch"}
			r.Spec.Approvals = []fleetv1alpha1.Approval{
				{Wave: "canary", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: at(2 * time.Hour)}},
				{Wave: "remaining", ChangeRecord: fleetv1alpha1.ChangeRecord{By: "carol", At: at(5 * time.Minute)}},
			}
			st := &r.Status
			st.Phase, st.CurrentWave = fleetv1alpha1.RolloutPhasePaused, "prod"
			st.Counts = fleetv1alpha1.RolloutCounts{Total: 20, Admitted: 5, Healthy: 3, Failed: 12, Pending: 4, Offline: 1}
			st.PercentOnTarget = 15
			st.StartedAt = at(2*time.Hour + 30*time.Minute)
			st.Waves = []fleetv1alpha1.WaveStatus{
				{Name: "canary", Phase: fleetv1alpha1.WavePhaseSucceeded, Clusters: []string{"c-1", "c-2", "c-3"},
					Counts:        fleetv1alpha1.RolloutCounts{Total: 3, Admitted: 3, Healthy: 3},
					BakeStartedAt: at(time.Hour), Approval: &fleetv1alpha1.ChangeRecord{By: "alice", At: at(2 * time.Hour)}},
				{Name: "prod", Phase: fleetv1alpha1.WavePhaseWaitingForApproval, Clusters: make([]string, 16),
					Counts: fleetv1alpha1.RolloutCounts{Total: 16, Failed: 12, Pending: 3, Offline: 1}},
				{Name: "remaining", Phase: fleetv1alpha1.WavePhasePending, Clusters: []string{"x"}, Counts: fleetv1alpha1.RolloutCounts{Total: 1, Pending: 1}},
			}
			for i := range 12 {
				st.Failures = append(st.Failures, fleetv1alpha1.ClusterFailure{Cluster: fmt.Sprintf("p-%02d", i), Wave: "prod",
					Reason: "ApplyFailed", Message: "Deployment app:\nadmission webhook denied", Time: *at(time.Duration(i+1) * time.Minute)})
			}
			st.FailureCount = 14
			st.Conditions = []metav1.Condition{
				{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Paused", Message: "paused: lunch"},
				{Type: "Frozen", Status: metav1.ConditionTrue, Reason: "FleetFrozen", Message: "held by FleetFreeze incident-42: " + strings.Repeat("x", 200)},
			}
			for i := range 7 {
				st.History = append(st.History, fleetv1alpha1.HistoryEntry{Time: *at(time.Duration(7-i) * time.Minute),
					From: fleetv1alpha1.RolloutPhaseProgressing, To: fleetv1alpha1.RolloutPhaseBaking, Wave: "canary", Actor: "hub", Message: fmt.Sprintf("step %d", i)})
			}
		},
		want: `Rollout:    flotilla-system/postgres-abcdef0123
Subject:    promise postgres (every instance)
Revisions:  postgres-0123456789 → postgres-abcdef0123
Mode:       Progressive
Phase:      Paused, wave prod
Requested:  paused by bob at 2031-01-02T11:50:00Z: lunch
Progress:   15% on target (3 of 20 clusters healthy)
Clusters:   total 20, admitted 5, healthy 3, failed 12, pending 4, offline 1
Failed:     14
Started:    2031-01-02T09:30:00Z (150m ago)
Conditions: Ready=False Paused: paused: lunch
            Frozen=True FleetFrozen: held by FleetFreeze incident-42: ` + strings.Repeat("x", 86) + `…

Waves:
  WAVE       PHASE               CLUSTERS  HEALTHY  FAILED  PENDING  OFFLINE  APPROVAL              BAKE STARTED
  canary     Succeeded           3         3        0       0        0        alice, 120m ago       60m ago
  prod       WaitingForApproval  16        0        12      3        1        waiting               -
  remaining  Pending             1         0        0       1        0        given: carol, 5m ago  -

Failed clusters (newest first):
  CLUSTER  WAVE  REASON       SINCE  MESSAGE
  p-00     prod  ApplyFailed  60s    Deployment app: admission webhook denied
  p-01     prod  ApplyFailed  2m     Deployment app: admission webhook denied
  p-02     prod  ApplyFailed  3m     Deployment app: admission webhook denied
  p-03     prod  ApplyFailed  4m     Deployment app: admission webhook denied
  p-04     prod  ApplyFailed  5m     Deployment app: admission webhook denied
  p-05     prod  ApplyFailed  6m     Deployment app: admission webhook denied
  p-06     prod  ApplyFailed  7m     Deployment app: admission webhook denied
  p-07     prod  ApplyFailed  8m     Deployment app: admission webhook denied
  p-08     prod  ApplyFailed  9m     Deployment app: admission webhook denied
  p-09     prod  ApplyFailed  10m    Deployment app: admission webhook denied
  and 4 more

Recent history (5 of 7; all with ` + "`flotilla rollout history`" + `):
  TIME                  FROM → TO             WAVE    ACTOR  MESSAGE
  2031-01-02T11:55:00Z  Progressing → Baking  canary  hub    step 2
  2031-01-02T11:56:00Z  Progressing → Baking  canary  hub    step 3
  2031-01-02T11:57:00Z  Progressing → Baking  canary  hub    step 4
  2031-01-02T11:58:00Z  Progressing → Baking  canary  hub    step 5
  2031-01-02T11:59:00Z  Progressing → Baking  canary  hub    step 6
`,
	}, {
		name: "deadline mode, adoption open, instance subject",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Namespace = "team-a"
			r.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "orders"}
			r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline, Deadline: at(-26 * time.Hour)}
			r.Status.Phase = fleetv1alpha1.RolloutPhaseProgressing
			r.Status.Adoption = &fleetv1alpha1.AdoptionStatus{Instances: 10, Adopted: 3}
		},
		want: `Rollout:   team-a/postgres-abcdef0123
Subject:   promise postgres, instance orders
Revisions: postgres-0123456789 → postgres-abcdef0123
Mode:      Deadline, 3 of 10 instances adopted, deadline 2031-01-03T14:00:00Z (26h left)
Phase:     Progressing
Progress:  0% on target (0 of 0 clusters healthy)
Clusters:  total 0, admitted 0, healthy 0, failed 0, pending 0, offline 0
`,
	}, {
		name: "deadline passed and forced",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeDeadline, Deadline: at(time.Hour)}
			r.Status.Phase, r.Status.CurrentWave = fleetv1alpha1.RolloutPhaseBaking, "canary"
			r.Status.Adoption = &fleetv1alpha1.AdoptionStatus{Instances: 10, Adopted: 3, ForcedAt: at(time.Hour)}
		},
		want: `Rollout:   flotilla-system/postgres-abcdef0123
Subject:   promise postgres (every instance)
Revisions: postgres-0123456789 → postgres-abcdef0123
Mode:      Deadline, 3 of 10 instances adopted, deadline 2031-01-02T11:00:00Z passed: the rest forced through the waves since 2031-01-02T11:00:00Z (60m ago)
Phase:     Baking, wave canary
Progress:  0% on target (0 of 0 clusters healthy)
Clusters:  total 0, admitted 0, healthy 0, failed 0, pending 0, offline 0
`,
	}, {
		name: "immediate, rolled back on request, first rollout",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Spec.FromRevision = ""
			r.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{Mode: fleetv1alpha1.UpdateModeImmediate, Reason: "CVE-2031-0001"}
			r.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ToRevision: "postgres-0000000000",
				ChangeRecord: fleetv1alpha1.ChangeRecord{By: "alice", At: at(time.Minute), Message: "broke checkout"}}
			r.Status.Phase, r.Status.RollbackRevision = fleetv1alpha1.RolloutPhaseRolledBack, "postgres-0000000000"
			r.Status.CompletedAt = at(30 * time.Second)
			r.Status.Counts.Total, r.Status.PercentOnTarget = 4, 0
		},
		want: `Rollout:   flotilla-system/postgres-abcdef0123
Subject:   promise postgres (every instance)
Revisions: (none) → postgres-abcdef0123
Mode:      Immediate (reason: CVE-2031-0001)
Phase:     RolledBack
Rollback:  to postgres-0000000000, requested by alice at 2031-01-02T11:59:00Z: broke checkout
Progress:  0% on target (0 of 4 clusters healthy)
Clusters:  total 4, admitted 0, healthy 0, failed 0, pending 0, offline 0
Completed: 2031-01-02T11:59:30Z (30s ago)
`,
	}, {
		name: "checks: one failed a cluster, one holds the wave",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Status.Phase, r.Status.CurrentWave = fleetv1alpha1.RolloutPhaseBaking, "canary"
			r.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WavePhaseBaking, Clusters: []string{"eu-1", "eu-2"},
				Checks: []fleetv1alpha1.WaveCheckStatus{{
					Name: "error-rate", Scope: fleetv1alpha1.CheckEachCluster, Verdict: fleetv1alpha1.CheckFailed, Marks: "+F", LastMeasuredAt: at(2 * time.Second),
					Counts:  fleetv1alpha1.CheckCounts{Passing: 1, Failed: 1},
					Message: "cluster eu-2: check error-rate failed: [0.31] does not satisfy result[0] < 0.05 (at 2031-01-02T11:59:58Z; 1 of 3 measurements failed, 0 allowed)",
				}, {
					Name: "latency", Scope: fleetv1alpha1.CheckWholeWave, Verdict: fleetv1alpha1.CheckInconclusive, Run: 1, LastMeasuredAt: at(time.Second),
					Message: "check latency is inconclusive: connection refused (at 2031-01-02T11:59:59Z; 3 in a row, 2 allowed); re-run it or skip it for this wave",
				}}}}
		},
		want: `Rollout:   flotilla-system/postgres-abcdef0123
Subject:   promise postgres (every instance)
Revisions: postgres-0123456789 → postgres-abcdef0123
Mode:      Progressive
Phase:     Baking, wave canary
Progress:  0% on target (0 of 0 clusters healthy)
Clusters:  total 0, admitted 0, healthy 0, failed 0, pending 0, offline 0

Waves:
  WAVE    PHASE   CLUSTERS  HEALTHY  FAILED  PENDING  OFFLINE  APPROVAL  BAKE STARTED
  canary  Baking  2         0        0       0        0        -         -

Checks:
  WAVE    CHECK       VERDICT               CLUSTERS                                                  MEASURED  MESSAGE
  canary  error-rate  Failed                0 passed, 1 passing, 0 pending, 1 failed, 0 inconclusive  2s ago    cluster eu-2: check error-rate failed: [0.31] does not satisfy result[0] < 0.05 (at 2031-01-02T11:59:58Z; 1 of 3 measur…
  canary  latency     Inconclusive (run 1)  whole wave                                                1s ago    check latency is inconclusive: connection refused (at 2031-01-02T11:59:59Z; 3 in a row, 2 allowed); re-run it or skip i…
  an inconclusive check holds its wave: flotilla rollout rerun-check NAME --check CHECK, or skip-check with -m REASON
`,
	}, {
		name: "superseded after an automatic rollback",
		edit: func(r *fleetv1alpha1.Rollout) {
			r.Status.Phase, r.Status.SupersededBy, r.Status.RollbackRevision = fleetv1alpha1.RolloutPhaseSuperseded, "postgres-fedcba9876", "postgres-0123456789"
		},
		want: `Rollout:    flotilla-system/postgres-abcdef0123
Subject:    promise postgres (every instance)
Revisions:  postgres-0123456789 → postgres-abcdef0123
Mode:       Progressive
Phase:      Superseded
Rollback:   to postgres-0123456789
Superseded: by rollout postgres-fedcba9876
Progress:   0% on target (0 of 0 clusters healthy)
Clusters:   total 0, admitted 0, healthy 0, failed 0, pending 0, offline 0
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseRollout()
			tt.edit(r)
			var b strings.Builder
			printRolloutStatus(&b, r, now)
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestPrintRolloutHistory(t *testing.T) {
	r := baseRollout()
	var b strings.Builder
	printRolloutHistory(&b, r)
	if got, want := b.String(), "rollout postgres-abcdef0123 has no history yet\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r.Status.History = []fleetv1alpha1.HistoryEntry{
		{Time: *at(time.Hour), To: fleetv1alpha1.RolloutPhaseProgressing, Wave: "canary", Actor: "hub",
			Message: "started postgres-0123456789 → postgres-abcdef0123 in Progressive mode over canary (3), prod (16)"},
		{Time: *at(30 * time.Minute), From: fleetv1alpha1.RolloutPhaseProgressing, To: fleetv1alpha1.RolloutPhaseHalted, Wave: "canary",
			Actor: "hub", Message: "wave canary: 2 of 3 clusters failed,\nmore than its budget of 0: " + strings.Repeat("c-1 (ApplyFailed), ", 10)},
		{Time: *at(time.Minute), From: fleetv1alpha1.RolloutPhaseHalted, To: fleetv1alpha1.RolloutPhaseProgressing, Wave: "canary", Actor: "alice"},
	}
	b.Reset()
	printRolloutHistory(&b, r)
	want := `TIME                  FROM → TO             WAVE    ACTOR  MESSAGE
2031-01-02T11:00:00Z  - → Progressing       canary  hub    started postgres-0123456789 → postgres-abcdef0123 in Progressive mode over canary (3), prod (16)
2031-01-02T11:30:00Z  Progressing → Halted  canary  hub    wave canary: 2 of 3 clusters failed, more than its budget of 0: ` + strings.TrimSpace(strings.Repeat("c-1 (ApplyFailed), ", 10)) + `
2031-01-02T11:59:00Z  Halted → Progressing  canary  alice  -
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintRolloutList(t *testing.T) {
	a := baseRollout()
	a.Status = fleetv1alpha1.RolloutStatus{Phase: fleetv1alpha1.RolloutPhaseProgressing, CurrentWave: "canary", PercentOnTarget: 40,
		Counts: fleetv1alpha1.RolloutCounts{Failed: 1}, FailureCount: 2}
	b := baseRollout()
	b.Name, b.Namespace = "orders-7d9f", "team-a"
	b.Spec.Subject.Instance = &fleetv1alpha1.LocalObjectReference{Name: "orders"}
	b.Spec.TargetRevision = "orders-2"
	b.Spec.UpdatePolicy = fleetv1alpha1.UpdatePolicy{}
	b.CreationTimestamp = *at(5 * 24 * time.Hour)
	items := []fleetv1alpha1.Rollout{*a, *b}

	var out strings.Builder
	printRolloutList(&out, items, false, now)
	// FAILED is counts.failed, the figure kubectl get and the dashboard show
	// (failureCount may keep older failures, e.g. those that led to a rollback).
	want := `NAME                 SUBJECT          TARGET               MODE         PHASE        WAVE    PROGRESS  FAILED  AGE
postgres-abcdef0123  postgres         postgres-abcdef0123  Progressive  Progressing  canary  40%       1       3h
orders-7d9f          postgres/orders  orders-2             Progressive  Pending      -       0%        0       5d
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	out.Reset()
	printRolloutList(&out, items[1:], true, now)
	want = `NAMESPACE  NAME         SUBJECT          TARGET    MODE         PHASE    WAVE  PROGRESS  FAILED  AGE
team-a     orders-7d9f  postgres/orders  orders-2  Progressive  Pending  -     0%        0       5d
`
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintObject(t *testing.T) {
	r := baseRollout()
	r.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	var b strings.Builder
	if err := printObject(&b, forOutput(r), "yaml"); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "apiVersion: fleet.flotilla.dev/v1alpha1\nkind: Rollout\n") || strings.Contains(got, "managedFields") {
		t.Errorf("yaml:\n%s", got)
	}
	b.Reset()
	if err := printObject(&b, forOutput(r), "json"); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.HasPrefix(got, "{\n  \"kind\": \"Rollout\",\n  \"apiVersion\": \"fleet.flotilla.dev/v1alpha1\",") {
		t.Errorf("json:\n%s", got)
	}
	if r.ManagedFields == nil {
		t.Error("forOutput changed its argument")
	}
}

func TestPrintFreezeAndUnfreeze(t *testing.T) {
	f := &fleetv1alpha1.FleetFreeze{ObjectMeta: metav1.ObjectMeta{Name: "incident-42"}, Spec: fleetv1alpha1.FleetFreezeSpec{
		Reason: "bad node image", Action: fleetv1alpha1.FreezeRollback, FrozenBy: "alice", Until: at(-90 * time.Minute)}}
	var b strings.Builder
	if err := printFreeze(&b, f, now); err != nil {
		t.Fatal(err)
	}
	want := `fleet frozen by alice (FleetFreeze incident-42, action Rollback): no Rollout admits any cluster except to roll it back
every Rollout in flight rolls back: the clusters it admitted return to its fromRevision at once, and it ends RolledBack, even if the freeze is lifted meanwhile
Rollouts that admitted no cluster yet, first rollouts (no fromRevision) and reverts are held as with Halt
the freeze ends at 2031-01-02T13:30:00Z (in 90m)
lift it with: flotilla unfreeze incident-42
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	if err := printUnfreeze(&b, []fleetv1alpha1.FleetFreeze{*f}, false); err != nil {
		t.Fatal(err)
	}
	want = `FleetFreeze incident-42 removed (Rollback, by alice: bad node image)
the Rollouts it held resume by themselves once no freeze is left (halted ones stay halted)
the rollbacks it started carry on until RolledBack
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	if err := printUnfreeze(&b, nil, true); err != nil || b.String() != "no FleetFreeze to remove: the fleet is not frozen\n" {
		t.Errorf("got %q, %v", b.String(), err)
	}
}

// TestRolloutPrintersKeepReportedTextInert is the attack of a team that
// writes its instance Rollout's pause message, and of a member's agent that
// writes its Work's message (a cluster failure), to forge what `flotilla
// rollout status` and `rollout history` show: a newline adds a field, an
// escape sequence moves the cursor up and erases the row above (another
// cluster's failure, or the hub's entry), then writes a row of its own.
func TestRolloutPrintersKeepReportedTextInert(t *testing.T) {
	const (
		forgedField = "lunch\nApproved:   wave prod by cto@example.com"
		erase       = "\x1b[1A\x1b[2K\r"
		forgedRow   = erase + "2031-01-02T11:58:00Z  Halted → Succeeded  prod  cto@example.com  approved"
	)
	r := baseRollout()
	r.Spec.DesiredState = fleetv1alpha1.RolloutPaused
	r.Spec.StateChange = &fleetv1alpha1.ChangeRecord{By: "mallory", At: at(time.Minute), Message: forgedField}
	r.Spec.Rollback = &fleetv1alpha1.RollbackRequest{ChangeRecord: fleetv1alpha1.ChangeRecord{By: "mallory", Message: forgedField}}
	st := &r.Status
	st.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Paused", Message: "paused: " + forgedRow}}
	st.Failures = []fleetv1alpha1.ClusterFailure{
		{Cluster: "c-1", Wave: "prod", Reason: "ApplyFailed", Message: "quota exceeded", Time: *at(2 * time.Minute)},
		{Cluster: "c-2", Wave: "prod", Reason: "ApplyFailed", Message: erase + "c-1  prod  Healthy", Time: *at(time.Minute)},
	}
	st.FailureCount = 2
	st.UnattributedFailures = []fleetv1alpha1.ClusterFailure{{Cluster: "c-3", Wave: "prod", Reason: "Unhealthy", Message: erase, Time: *at(time.Minute)}}
	st.UnattributedFailureCount = 1
	st.History = []fleetv1alpha1.HistoryEntry{
		{Time: *at(3 * time.Minute), From: fleetv1alpha1.RolloutPhaseProgressing, To: fleetv1alpha1.RolloutPhaseHalted, Wave: "prod", Actor: "hub",
			Message: "wave prod: 2 of 2 clusters failed"},
		{Time: *at(2 * time.Minute), From: fleetv1alpha1.RolloutPhaseHalted, To: fleetv1alpha1.RolloutPhasePaused, Wave: "prod", Actor: "mallory",
			Message: "paused: " + forgedRow},
	}

	for name, print := range map[string]func(*strings.Builder){
		"status":  func(b *strings.Builder) { printRolloutStatus(b, r, now) },
		"history": func(b *strings.Builder) { printRolloutHistory(b, r) },
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			print(&b)
			out := b.String()
			if strings.ContainsAny(out, "\x1b\r") {
				t.Errorf("a control character reached the terminal:\n%q", out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "Approved") {
					t.Errorf("a message forged a line of its own: %q", line)
				}
			}
		})
	}
}
