package verify

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// play records one measurement per outcome letter (P, F, I), every interval
// from t0, and returns the State.
func play(p Policy, outcomes string) State {
	s := Start(t0)
	for i, o := range outcomes {
		m := Measurement{At: t0.Add(time.Duration(i) * p.Interval), Value: string(o)}
		switch o {
		case 'P':
			m.Outcome = Passed
		case 'F':
			m.Outcome = Failed
		default:
			m.Outcome, m.Message = Inconclusive, "connection refused"
		}
		s = Record(p, s, m)
	}
	return s
}

func TestAssess(t *testing.T) {
	p := Policy{Interval: 30 * time.Second, FailureLimit: 1, InconclusiveLimit: 2}
	bakeEnd := t0.Add(2 * time.Minute) // measurements at 0, 30, 60, 90, 120 s
	for _, tc := range []struct {
		outcomes string
		end      time.Time
		want     Verdict
		due      time.Duration // after t0; -1 for never
	}{
		{"", bakeEnd, VerdictPending, 0},
		{"P", bakeEnd, VerdictPassing, 30 * time.Second},
		{"PPPP", bakeEnd, VerdictPassing, 120 * time.Second},
		{"PPPPP", bakeEnd, VerdictPassed, -1},
		// Measured through the window, but the last one failed (within the limit): not yet.
		{"PPPPF", bakeEnd, VerdictPassing, 150 * time.Second},
		{"PPPPFP", bakeEnd, VerdictPassed, -1},
		{"PFPF", bakeEnd, VerdictFailed, -1},
		// Inconclusive ones are tolerated in a row up to the limit, and never count as passed.
		{"PPPPI", bakeEnd, VerdictPassing, 150 * time.Second},
		{"IIP", bakeEnd, VerdictPassing, 90 * time.Second},
		{"IIIP", bakeEnd, VerdictInconclusive, -1},
		{"IIPII", bakeEnd, VerdictPassing, 150 * time.Second},
		// Settled verdicts stick.
		{"FFPPPPPP", bakeEnd, VerdictFailed, -1},
		{"IIIPPPPP", bakeEnd, VerdictInconclusive, -1},
		// An open window (while clusters progress) is never passed.
		{"PPPPPPP", time.Time{}, VerdictPassing, 210 * time.Second},
	} {
		s := play(p, tc.outcomes)
		if got := Assess(p, s, tc.end); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.outcomes, got, tc.want)
		}
		due := Due(p, s, tc.end)
		switch {
		case tc.due < 0 && !due.IsZero():
			t.Errorf("%q: due at %s, want never", tc.outcomes, due)
		case tc.due >= 0 && !due.Equal(t0.Add(tc.due)):
			t.Errorf("%q: due at %s, want %s", tc.outcomes, due.Sub(t0), tc.due)
		}
	}
}

// A window that does not fall on an interval is measured at its end.
func TestDueAtTheWindowsEnd(t *testing.T) {
	p := Policy{Interval: time.Minute}
	s := play(p, "PP") // at 0 and 60 s
	end := t0.Add(100 * time.Second)
	if due := Due(p, s, end); !due.Equal(end) {
		t.Errorf("due at %s, want the window's end", due.Sub(t0))
	}
	s = Record(p, s, Measurement{At: end, Outcome: Passed})
	if got := Assess(p, s, end); got != VerdictPassed {
		t.Errorf("after a passing measurement at the end: %s", got)
	}
}

func TestExplain(t *testing.T) {
	p := Policy{Interval: 30 * time.Second}
	s := play(p, "PF")
	want := "check error-rate failed: F does not satisfy result[0] < 0.05 (at 2026-12-05T12:00:30Z; 1 of 2 measurements failed, 0 allowed)"
	if got := Explain("error-rate", "result[0] < 0.05", p, s, time.Time{}); got != want {
		t.Errorf("Explain:\n got %s\nwant %s", got, want)
	}
	s = play(p, "I")
	want = "check error-rate is inconclusive: connection refused (at 2026-12-05T12:00:00Z; 1 in a row, 0 allowed); re-run it or skip it for this wave"
	if got := Explain("error-rate", "result[0] < 0.05", p, s, time.Time{}); got != want {
		t.Errorf("Explain:\n got %s\nwant %s", got, want)
	}
}

// FuzzAssess checks the invariants the engine relies on, over any sequence
// of outcomes and limits.
func FuzzAssess(f *testing.F) {
	f.Add("PPPPP", uint8(0), uint8(0), uint8(4))
	f.Add("IIPFFIP", uint8(1), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, outcomes string, failureLimit, inconclusiveLimit, endAt uint8) {
		if len(outcomes) > 64 {
			return
		}
		p := Policy{Interval: time.Second, FailureLimit: int32(failureLimit % 8), InconclusiveLimit: int32(inconclusiveLimit % 8)}
		end := t0.Add(time.Duration(endAt%70) * time.Second)
		s := Start(t0)
		settled := Verdict("")
		for i, o := range outcomes {
			m := Measurement{At: t0.Add(time.Duration(i) * time.Second), Outcome: Inconclusive, Message: "x"}
			switch o % 3 {
			case 0:
				m.Outcome = Passed
			case 1:
				m.Outcome = Failed
			}
			s = Record(p, s, m)
			v := Assess(p, s, end)
			if settled != "" && v != settled {
				t.Fatalf("after %d: a settled %s became %s", i, settled, v)
			}
			if v == VerdictFailed || v == VerdictInconclusive {
				settled = v
				if s.Decisive == nil {
					t.Fatalf("a %s verdict without its evidence", v)
				}
			}
			if v == VerdictPassed && (s.Last.Outcome != Passed || s.Last.At.Before(end) || s.Failures > p.FailureLimit) {
				t.Fatalf("Passed on %+v", s)
			}
			if due := Due(p, s, end); due.IsZero() != (v == VerdictPassed || settled != "") {
				t.Fatalf("due %v with verdict %s", due, v)
			} else if !due.IsZero() && due.Before(s.Last.At) {
				t.Fatalf("due %v before the last measurement %v", due, s.Last.At)
			}
		}
	})
}
