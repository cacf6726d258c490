package plan_test

import (
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
)

func TestClip(t *testing.T) {
	if got := plan.Clip("héllo", 4); got != "h..." {
		t.Errorf("clip = %q", got)
	}
	if got := plan.Clip("éééé", 6); got != "é..." {
		t.Errorf("clip on rune boundary = %q", got)
	}
	if got := plan.Clip("abc", 2); got != "ab" {
		t.Errorf("clip tiny = %q", got)
	}
}

func TestInWords(t *testing.T) {
	for in, want := range map[string]string{
		"Available: 1/2": "1 of 2 replicas available",
		"Updated: 0/3; Pod web-1 container app waiting: ContainerCreating": "0 of 3 replicas updated; Pod web-1 container app waiting: ContainerCreating",
		"Pending termination: 1":            "1 old replicas terminating",
		"Deployment generation is 3, but …": "Deployment generation is 3, but …",
	} {
		if got := plan.InWords(in); got != want {
			t.Errorf("plan.InWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConditionReason(t *testing.T) {
	for in, want := range map[string]string{
		"ImagePullBackOff": "ImagePullBackOff", "": fleetv1alpha1.ReasonUnhealthy, "9 lives": "lives",
		"Odd-reason.v2": "Oddreasonv2", "---": fleetv1alpha1.ReasonUnhealthy, strings.Repeat("A", 300): strings.Repeat("A", 128),
	} {
		if got := plan.ConditionReason(in); got != want {
			t.Errorf("plan.ConditionReason(%q) = %q, want %q", in, got, want)
		}
	}
}
