package instanceplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// RevisionContent is what an instance revision snapshots, as stored: the
// spec (the ControllerRevision's data) and the team's Overrides (its
// fleet.flotilla.dev/team-overrides annotation, a JSON list of {name,
// spec}).
type RevisionContent struct {
	Spec          []byte
	TeamOverrides string
	// Recorded is false for a revision made before the hub snapshotted
	// team Overrides (no annotation): it renders them as they are now.
	Recorded bool
}

// DescribeChange says what an instance Rollout from one revision to
// another changes, for the people who approve it: "the spec", "the team's
// Overrides (bigger added, old removed)", both, or "" when it cannot tell
// (a revision from before the snapshots) or nothing differs.
func DescribeChange(from, to RevisionContent) string {
	var parts []string
	if !bytes.Equal(from.Spec, to.Spec) {
		parts = append(parts, "the spec")
	}
	if from.Recorded && to.Recorded {
		if d := diffOverrides(from.TeamOverrides, to.TeamOverrides); d != "" {
			parts = append(parts, "the team's Overrides ("+d+")")
		}
	}
	return strings.Join(parts, " and ")
}

// diffOverrides lists by name the Overrides added, changed and removed
// between two snapshots ("" if none, or if either does not decode).
func diffOverrides(from, to string) string {
	before, err := overridesByName(from)
	if err != nil {
		return ""
	}
	after, err := overridesByName(to)
	if err != nil {
		return ""
	}
	var changes []string
	for name, spec := range after {
		switch old, ok := before[name]; {
		case !ok:
			changes = append(changes, name+" added")
		case !bytes.Equal(old, spec):
			changes = append(changes, name+" changed")
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changes = append(changes, name+" removed")
		}
	}
	sort.Strings(changes)
	return strings.Join(changes, ", ")
}

func overridesByName(snapshot string) (map[string]json.RawMessage, error) {
	var list []struct {
		Name string          `json:"name"`
		Spec json.RawMessage `json:"spec"`
	}
	if snapshot != "" {
		if err := json.Unmarshal([]byte(snapshot), &list); err != nil {
			return nil, fmt.Errorf("decoding team overrides: %w", err)
		}
	}
	out := make(map[string]json.RawMessage, len(list))
	for _, o := range list {
		out[o.Name] = o.Spec
	}
	return out, nil
}
