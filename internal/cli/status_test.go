//go:build !agent

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/fleetview"
)

func TestStatusFlags(t *testing.T) {
	checkFlags(t, &statusOptions{}, []string{"-n", "team-a", "-o", "json", "-w"}, "", func(o *statusOptions) bool {
		return o.namespace == "team-a" && o.output == "json" && o.watch
	})
	checkFlags(t, &statusOptions{}, []string{"-o", "wide"}, `-o "wide": want yaml or json`, nil)
}

func terminalOf(isTerminal bool, width, height int) terminalInfo {
	return func(io.Writer) (bool, int, int) { return isTerminal, width, height }
}

// views returns a read function that hands out vs one after the other, each
// generated a second after the one before, then ends the watch by cancelling.
func views(cancel context.CancelFunc, vs ...fleetview.View) func(context.Context) (fleetview.View, error) {
	i := 0
	return func(context.Context) (fleetview.View, error) {
		if i == len(vs) {
			cancel()
			return fleetview.View{}, context.Canceled
		}
		v := vs[i]
		v.GeneratedAt = now.Add(time.Duration(i) * time.Second)
		i++
		return v, nil
	}
}

func TestStatusWatch(t *testing.T) {
	quiet := fleetview.View{Clusters: fleetview.ClusterCounts{Total: 2, Available: 2}}
	failing := fleetview.View{Clusters: fleetview.ClusterCounts{Total: 2, Available: 1, Offline: 1},
		Offline: []fleetview.Offline{{Cluster: "eu-1"}}}

	t.Run("piped: a snapshot whenever the fleet changed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o := &statusOptions{watch: true, terminal: terminalOf(false, 0, 0), interval: time.Millisecond}
		var out, stderr bytes.Buffer
		if err := o.show(ctx, &out, &stderr, "flotilla", views(cancel, quiet, quiet, failing, failing)); err != nil {
			t.Fatal(err)
		}
		want := "Clusters: 2 total, 2 available, 0 offline, 0 unknown\n" +
			"\nPromises: none\n\nRollouts in flight: none\n\nFailing: none\n" +
			"\n--- 2031-01-02T12:00:02Z ---\n" +
			"Clusters: 2 total, 1 available, 1 offline, 0 unknown\n" +
			"\nPromises: none\n\nRollouts in flight: none\n\nFailing: none\n" +
			"\nOffline: 1 cluster\n  CLUSTER  LAST HEARTBEAT  REASON\n  eu-1     never           -\n"
		if out.String() != want {
			t.Errorf("got:\n%q\nwant:\n%q", out.String(), want)
		}
		if strings.Contains(out.String(), "\x1b[") {
			t.Error("piped output has terminal escapes")
		}
	})

	t.Run("terminal: redrawn in place on every read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o := &statusOptions{watch: true, terminal: terminalOf(true, 80, 40), interval: time.Millisecond}
		var out, stderr bytes.Buffer
		if err := o.show(ctx, &out, &stderr, "flotilla", views(cancel, quiet, quiet, failing)); err != nil {
			t.Fatal(err)
		}
		frames := strings.Split(out.String(), "\r\x1b[J")
		if len(frames) != 4 || frames[0] != "" {
			t.Fatalf("want 3 frames, got %q", out.String())
		}
		// A frame is 9 lines of the quiet fleet: the next one moves up over them.
		if !strings.HasSuffix(frames[1], "\x1b[9A") || !strings.HasSuffix(frames[2], "\x1b[9A") {
			t.Errorf("frames do not move up over the one before: %q", out.String())
		}
		if !strings.HasPrefix(frames[1], "Every 1ms: flotilla status    12:00:00\n\nClusters: 2 total, 2 available") ||
			!strings.HasPrefix(frames[3], "Every 1ms: flotilla status    12:00:02\n\nClusters: 2 total, 1 available") {
			t.Errorf("unexpected frames: %q", frames)
		}
	})

	t.Run("json: the view whenever it changed", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o := &statusOptions{watch: true, output: "json", terminal: terminalOf(true, 80, 40), interval: time.Millisecond}
		var out, stderr bytes.Buffer
		if err := o.show(ctx, &out, &stderr, "flotilla", views(cancel, quiet, quiet, failing)); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out.String(), `"generatedAt"`); n != 2 {
			t.Errorf("want 2 views, got %d:\n%s", n, out.String())
		}
	})

	t.Run("a failed read after the first is a warning", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		read := func(context.Context) (fleetview.View, error) {
			calls++
			switch calls {
			case 1:
				return quiet, nil
			case 2:
				return fleetview.View{}, errors.New("reading the fleet: connection refused")
			}
			cancel()
			return fleetview.View{}, context.Canceled
		}
		o := &statusOptions{watch: true, terminal: terminalOf(false, 0, 0), interval: time.Millisecond}
		var out, stderr bytes.Buffer
		if err := o.show(ctx, &out, &stderr, "flotilla", read); err != nil {
			t.Fatal(err)
		}
		if want := "warning: reading the fleet: connection refused; trying again in 1ms\n"; stderr.String() != want {
			t.Errorf("stderr = %q, want %q", stderr.String(), want)
		}
	})

	t.Run("the first read's error ends it", func(t *testing.T) {
		o := &statusOptions{watch: true, terminal: terminalOf(false, 0, 0), interval: time.Millisecond}
		read := func(context.Context) (fleetview.View, error) { return fleetview.View{}, errors.New("forbidden") }
		if err := o.show(context.Background(), io.Discard, io.Discard, "flotilla", read); err == nil || err.Error() != "forbidden" {
			t.Errorf("error = %v, want forbidden", err)
		}
	})
}

func TestFrameWriter(t *testing.T) {
	if f := newFrameWriter(io.Discard, terminalOf(false, 0, 0)); f != nil {
		t.Error("a frame writer for a writer that is no terminal")
	}
	var b bytes.Buffer
	width := 80
	f := newFrameWriter(&b, func(io.Writer) (bool, int, int) { return true, width, 5 })
	if err := f.draw("one\ntwo\n"); err != nil {
		t.Fatal(err)
	}
	width = 10 // resized
	// Cut to the width, and to the height less one row for the cursor.
	if err := f.draw("a line longer than ten\n2\n3\n4\n5\n6\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.draw("short\n"); err != nil {
		t.Fatal(err)
	}
	want := "\r\x1b[Jone\ntwo\n" +
		"\x1b[2A\r\x1b[Ja line lo…\n2\n3\n… 3 more …\n" +
		"\x1b[4A\r\x1b[Jshort\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func TestRolloutStatusWatcher(t *testing.T) {
	r := baseRollout()
	r.Status.Phase, r.Status.CurrentWave = fleetv1alpha1.RolloutPhaseProgressing, "canary"
	r.Status.Counts = fleetv1alpha1.RolloutCounts{Total: 5, Healthy: 1, Failed: 1}
	r.Status.PercentOnTarget = 20
	r.Status.Waves = []fleetv1alpha1.WaveStatus{{Name: "canary", Phase: fleetv1alpha1.WavePhaseProgressing}}
	conditionsOnly := r.DeepCopy()
	conditionsOnly.Status.Conditions = []metav1.Condition{{Type: "Ready", Message: "changed"}}
	waiting := r.DeepCopy()
	waiting.Status.Phase = fleetv1alpha1.RolloutPhaseWaitingForApproval
	waiting.Status.Waves[0].Phase = fleetv1alpha1.WavePhaseWaitingForApproval
	waiting.Status.Counts.Healthy = 4
	waiting.Status.PercentOnTarget = 80
	done := waiting.DeepCopy()
	done.Status.Phase, done.Status.CurrentWave = fleetv1alpha1.RolloutPhaseSucceeded, ""
	done.Status.Waves[0].Phase = fleetv1alpha1.WavePhaseSucceeded
	done.Status.Counts.Healthy, done.Status.PercentOnTarget = 5, 100
	tick := 0
	clock := func() time.Time { tick++; return now.Add(time.Duration(tick) * time.Second) }

	t.Run("piped: a line per change of progress", func(t *testing.T) {
		tick = 0
		var out bytes.Buffer
		o := &rolloutStatusOptions{terminal: terminalOf(false, 0, 0)}
		o.namespace = "team-a"
		watch := o.watcher(&out, "flotilla", clock)
		for _, r := range []*fleetv1alpha1.Rollout{r, conditionsOnly, waiting, done} {
			if err := watch(r); err != nil {
				t.Fatal(err)
			}
		}
		want := `rollout flotilla-system/postgres-abcdef0123: promise postgres, postgres-0123456789 → postgres-abcdef0123
2031-01-02T12:00:01Z  Progressing  wave canary  1/5 healthy  20% on target  1 failed
2031-01-02T12:00:03Z  WaitingForApproval  wave canary  4/5 healthy  80% on target  1 failed  approve wave canary with: flotilla rollout approve postgres-abcdef0123 --wave canary
2031-01-02T12:00:04Z  Succeeded  5/5 healthy  100% on target  1 failed
`
		if out.String() != want {
			t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
		}
	})

	t.Run("terminal: the roll-up redrawn in place", func(t *testing.T) {
		var out bytes.Buffer
		o := &rolloutStatusOptions{terminal: terminalOf(true, 200, 100)}
		watch := o.watcher(&out, "flotilla", clock)
		for _, r := range []*fleetv1alpha1.Rollout{r, done} {
			if err := watch(r); err != nil {
				t.Fatal(err)
			}
		}
		frames := strings.Split(out.String(), "\r\x1b[J")
		if len(frames) != 3 || !strings.HasPrefix(frames[1], "Rollout:") || !strings.Contains(frames[2], "Phase:     Succeeded") {
			t.Fatalf("unexpected frames: %q", frames)
		}
		content := frames[1][:strings.LastIndex(frames[1], "\x1b[")]
		if up := fmt.Sprintf("\x1b[%dA", strings.Count(content, "\n")); !strings.HasSuffix(frames[1], up) {
			t.Errorf("second frame does not move up over the first (%q): %q", up, frames[1])
		}
	})

	t.Run("yaml: one document per change, whatever the writer", func(t *testing.T) {
		var out bytes.Buffer
		o := &rolloutStatusOptions{output: "yaml", terminal: terminalOf(true, 80, 40)}
		watch := o.watcher(&out, "flotilla", clock)
		for _, r := range []*fleetv1alpha1.Rollout{r, done} {
			if err := watch(r); err != nil {
				t.Fatal(err)
			}
		}
		if n := strings.Count(out.String(), "kind: Rollout\n"); n != 2 || !strings.Contains(out.String(), "\n---\n") || strings.Contains(out.String(), "\x1b[") {
			t.Errorf("want 2 yaml documents, got:\n%s", out.String())
		}
	})
}

func TestNameAfter(t *testing.T) {
	for _, tt := range []struct {
		arg0, display, example string
	}{
		{"/usr/local/bin/flotilla", "flotilla", "  flotilla get clusters -o wide"},
		{"/home/me/bin/kubectl-flotilla", "kubectl flotilla", "  kubectl flotilla get clusters -o wide"},
	} {
		root := newRootCommand()
		nameAfter(root, tt.arg0)
		get, _, err := root.Find([]string{"get"})
		if err != nil {
			t.Fatal(err)
		}
		if got := root.DisplayName(); got != tt.display {
			t.Errorf("%s: display name %q, want %q", tt.arg0, got, tt.display)
		}
		if !strings.HasPrefix(get.UseLine(), tt.display+" get ") || !strings.HasPrefix(get.Example, tt.example) {
			t.Errorf("%s: usage %q, example %q", tt.arg0, get.UseLine(), get.Example)
		}
	}
}
