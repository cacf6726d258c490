package instanceplan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
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
	// Metadata is its fleet.flotilla.dev/instance-metadata annotation ("":
	// none, a revision made before the hub snapshotted them).
	Metadata string
}

// InstanceMetadata is what an instance revision snapshots of the
// instance's metadata for Go templates (.instance.metadata.labels and
// .annotations): its fleet.flotilla.dev/instance-metadata annotation.
type InstanceMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// DecodeInstanceMetadata decodes an instance revision's instance-metadata annotation.
func DecodeInstanceMetadata(raw string) (InstanceMetadata, error) {
	var m InstanceMetadata
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return m, fmt.Errorf("decoding instance metadata: %w", err)
	}
	return m, nil
}

// DescribeChange says what an instance Rollout from one revision to
// another changes, for the people who approve it: "the spec", "the team's
// Overrides (bigger added, old removed)", the instance's labels or
// annotations, any of them together, or "" when it cannot tell (a revision
// from before the snapshots) or nothing differs. metadataRead says whether
// the Promise's templates may read the labels and annotations
// (render.ReadsInstanceMetadata).
func DescribeChange(from, to RevisionContent, metadataRead bool) string {
	var parts []string
	if !bytes.Equal(from.Spec, to.Spec) {
		parts = append(parts, "the spec")
	}
	if from.Recorded && to.Recorded {
		if d := diffOverrides(from.TeamOverrides, to.TeamOverrides); d != "" {
			parts = append(parts, "the team's Overrides ("+d+")")
		}
	}
	// Labels and annotations are snapshotted whether the templates read
	// them or not: named where the templates read them, whatever else
	// changes (a change of a label they read, made with a harmless one of
	// the spec, is not the spec's alone), or when nothing else changed,
	// when a Promise that read them made the revision for them alone.
	metadataChanged := from.Recorded && to.Recorded && from.Metadata != "" && to.Metadata != "" && from.Metadata != to.Metadata
	if metadataChanged && (metadataRead || len(parts) == 0) {
		parts = append(parts, "the instance's labels or annotations, which the Promise's templates read")
	}
	return strings.Join(parts, " and ")
}

// TeamOverride is a team's Override as an instance revision snapshots it:
// the fleet.flotilla.dev/team-overrides annotation is a JSON list of them.
type TeamOverride struct {
	Name string                     `json:"name"`
	Spec fleetv1alpha1.OverrideSpec `json:"spec"`
}

// SnapshotOverride is team Override o as an instance revision snapshots it:
// its name and spec, the patch's object keys sorted (numbers kept as
// written), so equal Overrides give equal bytes.
func SnapshotOverride(o *fleetv1alpha1.Override) (TeamOverride, error) {
	spec := *o.Spec.DeepCopy()
	patch, err := CanonicalJSON(spec.Patch.Raw)
	if err != nil {
		return TeamOverride{}, fmt.Errorf("encoding override %s/%s: %w", o.Namespace, o.Name, err)
	}
	spec.Patch.Raw = patch
	return TeamOverride{Name: o.Name, Spec: spec}, nil
}

// CanonicalJSON re-encodes a JSON document with its object keys sorted,
// numbers kept as written.
func CanonicalJSON(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// RendersEarlierSpec reports whether an instance revision whose snapshot of
// the team's Overrides is snapshot renders an earlier spec of live (the
// Override now): it snapshotted live's name with another spec. A revision
// from before the snapshots (not recorded) renders the Overrides as they
// are, and one that does not decode renders nothing: neither is earlier.
func RendersEarlierSpec(live TeamOverride, snapshot string, recorded bool) bool {
	if !recorded {
		return false
	}
	team, err := DecodeTeamOverrides(snapshot)
	if err != nil {
		return false
	}
	for _, t := range team {
		if t.Name == live.Name {
			return !sameSpec(t.Spec, live.Spec)
		}
	}
	return false
}

// sameSpec compares two Override specs as an instance revision stores them.
func sameSpec(a, b fleetv1alpha1.OverrideSpec) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// DecodeTeamOverrides decodes an instance revision's team-overrides annotation.
func DecodeTeamOverrides(raw string) ([]TeamOverride, error) {
	var team []TeamOverride
	if raw == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(raw), &team); err != nil {
		return nil, fmt.Errorf("decoding team overrides: %w", err)
	}
	return team, nil
}

// diffOverrides lists by name the Overrides added, changed and removed
// between two snapshots ("" if none, or if either does not decode).
func diffOverrides(from, to string) string {
	before, err := DecodeTeamOverrides(from)
	if err != nil {
		return ""
	}
	after, err := DecodeTeamOverrides(to)
	if err != nil {
		return ""
	}
	old := make(map[string]fleetv1alpha1.OverrideSpec, len(before))
	for _, o := range before {
		old[o.Name] = o.Spec
	}
	var changes []string
	for _, o := range after {
		switch spec, ok := old[o.Name]; {
		case !ok:
			changes = append(changes, o.Name+" added")
		case !reflect.DeepEqual(spec, o.Spec):
			changes = append(changes, o.Name+" changed")
		}
		delete(old, o.Name)
	}
	for name := range old {
		changes = append(changes, name+" removed")
	}
	sort.Strings(changes)
	return strings.Join(changes, ", ")
}
