//go:build !agent

package cli

import (
	"strings"
	"testing"
	"time"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestRolloutFlags(t *testing.T) {
	long := strings.Repeat("x", maxMessageLength+1)
	t.Run("approve", func(t *testing.T) {
		checkFlags(t, &rolloutApproveOptions{}, []string{"--wave", "prod", "-m", "ok", "--kubeconfig", "hub.kubeconfig"}, "", func(o *rolloutApproveOptions) bool {
			return o.wave == "prod" && o.message == "ok" && o.kubeconfig == "hub.kubeconfig" && o.namespace == fleetv1alpha1.PlatformNamespace
		})
		checkFlags(t, &rolloutApproveOptions{}, []string{"-n", "team-a"}, "", func(o *rolloutApproveOptions) bool {
			return o.wave == "" && o.namespace == "team-a"
		})
		checkFlags(t, &rolloutApproveOptions{}, []string{"-m", long}, "--message is 1025 bytes, at most 1024", nil)
		checkFlags(t, &rolloutApproveOptions{}, []string{"--namespace", ""}, "--namespace must not be empty", nil)
	})
	t.Run("pause resume abort", func(t *testing.T) {
		checkFlags(t, &rolloutPauseOptions{}, []string{"-m", "lunch"}, "", func(o *rolloutPauseOptions) bool { return o.message == "lunch" })
		checkFlags(t, &rolloutResumeOptions{}, []string{"--message", "back", "-n", "team-a"}, "", func(o *rolloutResumeOptions) bool {
			return o.message == "back" && o.namespace == "team-a"
		})
		checkFlags(t, &rolloutAbortOptions{}, []string{"-m", long}, "--message is 1025 bytes", nil)
	})
	t.Run("rollback", func(t *testing.T) {
		checkFlags(t, &rolloutRollbackOptions{}, []string{"--to-revision", "app-r0", "-m", "broke"}, "", func(o *rolloutRollbackOptions) bool {
			return o.toRevision == "app-r0" && o.message == "broke"
		})
	})
	t.Run("immediate and force", func(t *testing.T) {
		checkFlags(t, &rolloutImmediateOptions{}, []string{"-m", "CVE-1"}, "", func(o *rolloutImmediateOptions) bool { return o.message == "CVE-1" })
		checkFlags(t, &rolloutImmediateOptions{}, []string{}, "-m REASON is required", nil)
		checkFlags(t, &rolloutForceOptions{}, []string{"-n", "team-a"}, "", func(o *rolloutForceOptions) bool { return o.namespace == "team-a" })
	})
	t.Run("status", func(t *testing.T) {
		checkFlags(t, &rolloutStatusOptions{}, []string{"-w", "-o", "json"}, "", func(o *rolloutStatusOptions) bool { return o.watch && o.output == "json" })
		checkFlags(t, &rolloutStatusOptions{}, []string{}, "", func(o *rolloutStatusOptions) bool { return !o.watch && o.output == "" })
		checkFlags(t, &rolloutStatusOptions{}, []string{"-o", "wide"}, `-o "wide": want yaml or json`, nil)
	})
	t.Run("history", func(t *testing.T) {
		checkFlags(t, &rolloutHistoryOptions{}, []string{"-n", "team-a"}, "", func(o *rolloutHistoryOptions) bool { return o.namespace == "team-a" })
	})
	t.Run("list", func(t *testing.T) {
		checkFlags(t, &rolloutListOptions{}, []string{"-A"}, "", func(o *rolloutListOptions) bool { return o.allNamespaces })
		checkFlags(t, &rolloutListOptions{}, []string{"-o", "yaml"}, "", func(o *rolloutListOptions) bool {
			return !o.allNamespaces && o.output == "yaml" && o.namespace == fleetv1alpha1.PlatformNamespace
		})
		checkFlags(t, &rolloutListOptions{}, []string{"-o", "table"}, "want yaml or json", nil)
	})
}

// Every rollout verb is under `flotilla rollout` and takes exactly one NAME
// (list none); the fleet verbs are at the top.
func TestRolloutCommandTree(t *testing.T) {
	root := newRootCommand()
	for _, verb := range []string{"approve", "pause", "resume", "abort", "rollback", "immediate", "force", "status", "history"} {
		cmd, _, err := root.Find([]string{"rollout", verb})
		if err != nil || cmd.Name() != verb {
			t.Fatalf("rollout %s: %v", verb, err)
		}
		if err := cmd.Args(cmd, nil); err == nil {
			t.Errorf("rollout %s accepts no NAME", verb)
		}
		if cmd.Flags().Lookup("namespace") == nil || cmd.Flags().ShorthandLookup("n") == nil || cmd.Flags().Lookup("kubeconfig") == nil {
			t.Errorf("rollout %s lacks -n/--namespace or --kubeconfig", verb)
		}
	}
	for _, path := range [][]string{{"rollout", "list"}, {"freeze"}, {"unfreeze"}, {"upgrade"}} {
		if cmd, _, err := root.Find(path); err != nil || cmd.Name() != path[len(path)-1] {
			t.Fatalf("%v: %v", path, err)
		}
	}
}

func TestFreezeFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
		check   func(*freezeOptions) bool
	}{
		{args: []string{"--reason", "incident 42"}, check: func(o *freezeOptions) bool {
			return o.name == "fleet-freeze" && o.action() == fleetv1alpha1.FreezeHalt && o.untilTime(time.Now()).IsZero()
		}},
		{args: []string{"--reason", "r", "--rollback-in-flight", "--until", "90m", "--name", "incident-42"}, check: func(o *freezeOptions) bool {
			t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
			return o.name == "incident-42" && o.action() == fleetv1alpha1.FreezeRollback && o.untilTime(t0).Equal(t0.Add(90*time.Minute))
		}},
		{args: []string{"--reason", "r", "--until", "2031-12-27T08:00:00Z"}, check: func(o *freezeOptions) bool {
			return o.untilTime(time.Now()).Equal(time.Date(2031, 12, 27, 8, 0, 0, 0, time.UTC))
		}},
		{args: []string{}, wantErr: "--reason is required"},
		{args: []string{"--reason", "  "}, wantErr: "--reason is required"},
		{args: []string{"--reason", strings.Repeat("x", 1025)}, wantErr: "--reason is 1025 bytes"},
		{args: []string{"--reason", "r", "--until", "tomorrow"}, wantErr: `--until "tomorrow": want a duration`},
		{args: []string{"--reason", "r", "--until", "-5m"}, wantErr: "the duration must be positive"},
		{args: []string{"--reason", "r", "--name", "Big_Freeze"}, wantErr: `--name "Big_Freeze"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			checkFlags(t, &freezeOptions{}, tt.args, tt.wantErr, tt.check)
		})
	}
}

func TestUnfreezeFlags(t *testing.T) {
	checkFlags(t, &unfreezeOptions{}, []string{"--all"}, "", func(o *unfreezeOptions) bool { return o.all && o.name == "" })
	checkFlags(t, &unfreezeOptions{name: "incident-42"}, []string{}, "", func(o *unfreezeOptions) bool { return !o.all })
	checkFlags(t, &unfreezeOptions{name: "incident-42"}, []string{"--all"}, "give NAME or --all, not both", nil)
}

func TestUpgradeFlags(t *testing.T) {
	tests := []struct {
		ref     string
		args    []string
		wantErr string
		check   func(*upgradeOptions) bool
	}{
		{ref: "postgres/orders", args: []string{"-n", "team-a"}, check: func(o *upgradeOptions) bool {
			return o.Kind == "postgres" && o.Name == "orders" && o.Namespace == "team-a" && o.ToRevision == ""
		}},
		{ref: "websites.platform.example.com/shop", args: []string{"--namespace", "web", "--to-revision", "website-3f2a9c01de"}, check: func(o *upgradeOptions) bool {
			return o.Kind == "websites.platform.example.com" && o.Name == "shop" && o.ToRevision == "website-3f2a9c01de"
		}},
		{ref: "postgres/orders", args: []string{}, wantErr: "--namespace is required"},
		{ref: "orders", args: []string{"-n", "a"}, wantErr: `"orders": want KIND/NAME`},
		{ref: "postgres/", args: []string{"-n", "a"}, wantErr: "want KIND/NAME"},
		{ref: "a/b/c", args: []string{"-n", "a"}, wantErr: "want KIND/NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.ref+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			checkFlags(t, &upgradeOptions{ref: tt.ref}, tt.args, tt.wantErr, tt.check)
		})
	}
}
