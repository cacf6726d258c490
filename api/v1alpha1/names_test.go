package v1alpha1

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestClusterNamespaceRoundTrip(t *testing.T) {
	ns := ClusterNamespace("edge-1")
	if ns != "flotilla-cluster-edge-1" {
		t.Fatalf("ClusterNamespace = %q", ns)
	}
	name, ok := ClusterNameFromNamespace(ns)
	if !ok || name != "edge-1" {
		t.Fatalf("ClusterNameFromNamespace(%q) = %q, %v", ns, name, ok)
	}
	for _, ns := range []string{"flotilla-system", "flotilla-cluster-", "default", ""} {
		if name, ok := ClusterNameFromNamespace(ns); ok {
			t.Errorf("ClusterNameFromNamespace(%q) = %q, true; want false", ns, name)
		}
	}
}

// The Cluster CRD's CEL rule hard-codes 46; keep it in step with the prefix.
func TestMaxClusterNameLength(t *testing.T) {
	if MaxClusterNameLength != 46 {
		t.Fatalf("MaxClusterNameLength = %d; update the Cluster XValidation rule and WorkSpec.Cluster MaxLength", MaxClusterNameLength)
	}
	if n := len(ClusterNamespace(strings.Repeat("a", MaxClusterNameLength))); n != 63 {
		t.Fatalf("longest cluster namespace is %d characters, want 63", n)
	}
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestWorkName(t *testing.T) {
	long := strings.Repeat("x", 253)
	cases := []struct{ promise, ns, name string }{
		{"postgres", "team-a", "orders"},
		{"postgres", "team-a", ""},
		{"postgres", "a-b", "c"},
		{"postgres", "a", "b-c"},
		{"postgres", "team-a", "db.v2"},
		{long, "team-a", long},
		{long, "team-a", ""},
		{"p", "ns", "-x-"},
	}
	seen := map[string]int{}
	for i, c := range cases {
		got := WorkName(c.promise, c.ns, c.name)
		if len(got) > 63 || !dnsLabel.MatchString(got) {
			t.Errorf("WorkName(%q, %q, %q) = %q: not a DNS label of ≤ 63 characters", c.promise, c.ns, c.name, got)
		}
		if again := WorkName(c.promise, c.ns, c.name); again != got {
			t.Errorf("WorkName is not deterministic: %q then %q", got, again)
		}
		if j, dup := seen[got]; dup {
			t.Errorf("cases %d and %d collide on %q", j, i, got)
		}
		seen[got] = i
	}
}

// The attack: a team names an instance so that its Work name equals another
// team's on the clusters both are placed on; the hub cannot create the second
// Work, so the victim's instance never lands there. Instance names are
// truncated in Work names, so two teams' instances that share a long enough
// prefix differ only in the hash, and a search over the attacker's name
// suffix finds a match in about 16^digits tries. Here it finds one for 4
// digits in moments; the Work name keeps 16 (2^64 tries).
func TestWorkNamesOfTwoTeamsCannotBeMadeToCollide(t *testing.T) {
	prefix := strings.Repeat("orders-", 5) // longer than the part of the name kept
	victim := WorkName("postgres", "team-a", prefix+"main")
	hashOf := func(name string) string { return name[strings.LastIndex(name, "-")+1:] }
	const searched = 4
	found := ""
	for i := 0; i < 1<<22 && found == ""; i++ {
		attacker := WorkName("postgres", "team-b", fmt.Sprintf("%s%x", prefix, i))
		if strings.TrimSuffix(attacker, hashOf(attacker)) != strings.TrimSuffix(victim, hashOf(victim)) {
			t.Fatalf("the attacker's name %q does not share the victim's prefix %q", attacker, victim)
		}
		if hashOf(attacker)[:searched] == hashOf(victim)[:searched] {
			found = attacker
		}
	}
	if found == "" {
		t.Fatalf("no name matching %d hex digits of %q found", searched, victim)
	}
	if digits := len(hashOf(victim)); digits < 16 {
		t.Errorf("the Work name's hash is %d hex digits (%d bits): %q is within a brute-force search", digits, 4*digits, victim)
	}
}

func TestRolloutPhaseIsTerminal(t *testing.T) {
	terminal := map[RolloutPhase]bool{
		RolloutPhaseSucceeded: true, RolloutPhaseFailed: true, RolloutPhaseAborted: true,
		RolloutPhaseRolledBack: true, RolloutPhaseSuperseded: true,
	}
	for _, p := range []RolloutPhase{RolloutPhasePending, RolloutPhaseProgressing, RolloutPhasePaused,
		RolloutPhaseWaitingForApproval, RolloutPhaseBaking, RolloutPhaseHalted, RolloutPhaseRollingBack,
		RolloutPhaseRolledBack, RolloutPhaseSucceeded, RolloutPhaseFailed, RolloutPhaseAborted, RolloutPhaseSuperseded} {
		if got := p.IsTerminal(); got != terminal[p] {
			t.Errorf("%s.IsTerminal() = %v, want %v", p, got, terminal[p])
		}
	}
}

func TestPromiseRevisionName(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	if got := PromiseRevisionName("postgres", hash); got != "postgres-ababababab" {
		t.Fatalf("PromiseRevisionName = %q", got)
	}
	longest := PromiseRevisionName(strings.Repeat("p", MaxPromiseNameLength), hash)
	if len(longest) != 63 {
		t.Fatalf("longest revision name has %d characters, want 63 (a label value)", len(longest))
	}
	if MaxPromiseNameLength != 52 {
		t.Fatalf("MaxPromiseNameLength = %d; update the Promise XValidation rule", MaxPromiseNameLength)
	}
}

func TestWorkLabelValueFitsALabel(t *testing.T) {
	short := "postgres-orders-abc123"
	if got := WorkLabelValue(short); got != short {
		t.Errorf("short name changed: %q", got)
	}
	long := strings.Repeat("a", 200)
	got := WorkLabelValue(long)
	if len(got) > 63 {
		t.Errorf("label value %q is %d characters", got, len(got))
	}
	if got == WorkLabelValue(long+"b") {
		t.Error("two long names map to the same label value")
	}
}
