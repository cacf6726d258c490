package plan_test

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/plan"
	"github.com/flotilla-dev/flotilla/internal/golden"
)

const (
	never     = fleetv1alpha1.AdoptionNever
	ifUnowned = fleetv1alpha1.AdoptionIfUnowned
	correct   = fleetv1alpha1.DriftPolicyCorrect
	report    = fleetv1alpha1.DriftPolicyReport
)

func TestClaimOf(t *testing.T) {
	tests := []struct {
		name           string
		recorded, uid  types.UID
		label          string
		controller     string
		recordedBy     string
		adoption       fleetv1alpha1.AdoptionPolicy
		want           plan.Claim
		messageContain string
	}{
		{"the UID recorded", "u1", "u1", "w", "", "", never, plan.Owned, ""},
		{"the UID recorded, label removed since", "u1", "u1", "", "", "", never, plan.Owned, ""},
		{"no UID recorded, the Work's label", "", "u1", "w", "", "", never, plan.Owned, ""},
		{"no UID recorded, unlabelled", "", "u1", "", "", "", never, plan.Conflict, "not created by Flotilla: it existed before"},
		{"no UID recorded, unlabelled, adoption unset", "", "u1", "", "", "", "", plan.Conflict, "adoption policy is Never"},
		{"no UID recorded, another Work's", "", "u1", "other", "", "", never, plan.Conflict, "owned by Work other"},
		{"adoption IfUnowned, unlabelled", "", "u1", "", "", "", ifUnowned, plan.Adopted, "adopted"},
		{"adoption IfUnowned, another Work's", "", "u1", "other", "", "", ifUnowned, plan.Conflict, "owned by Work other"},
		{"replaced by someone, the Work's label copied", "u1", "u2", "w", "", "", ifUnowned, plan.Conflict, "was replaced by another"},
		{"replaced by someone, unlabelled", "u1", "u2", "", "", "", never, plan.Conflict, "not created by Flotilla"},
		{"replaced by someone, unlabelled, IfUnowned", "u1", "u2", "", "", "", ifUnowned, plan.Adopted, "adopted"},
		{"replaced by another Work's", "u1", "u2", "other", "", "", ifUnowned, plan.Conflict, "owned by Work other"},
		// A controller's object is never adopted: the Work would fight
		// the controller, and its prune delete what the controller made.
		{"adoption IfUnowned, a controller's", "", "u1", "", "ReplicaSet web-5d8f", "", ifUnowned, plan.Conflict, "controlled by ReplicaSet web-5d8f"},
		{"adoption Never, a controller's", "", "u1", "", "ReplicaSet web-5d8f", "", never, plan.Conflict, "controlled by ReplicaSet web-5d8f"},
		{"replaced by a controller's, IfUnowned", "u1", "u2", "", "Certificate tls", "", ifUnowned, plan.Conflict, "controlled by Certificate tls"},
		{"the Work's own, a controller added since", "u1", "u1", "w", "Certificate tls", "", never, plan.Owned, ""},
		// Another Work's inventory records the object: its labels (this
		// Work's copied on, or none, for it to be adopted) count for nothing.
		{"hostile: another Work records it, this Work's label copied on", "", "u1", "w", "", "platform", never, plan.Conflict, "owned by Work platform"},
		{"hostile: another Work records it, label taken off, IfUnowned", "", "u1", "", "", "platform", ifUnowned, plan.Conflict, "owned by Work platform"},
		{"no UID recorded, the Work's label, a controller's", "", "u1", "w", "Certificate tls", "", never, plan.Owned, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := plan.ClaimOf("w", tt.recorded, tt.uid, tt.label, tt.controller, tt.recordedBy, tt.adoption)
			if got != tt.want || !strings.Contains(msg, tt.messageContain) {
				t.Errorf("ClaimOf = %s %q, want %s containing %q", got, msg, tt.want, tt.messageContain)
			}
		})
	}
}

// applyCases are manifests of Work "w" meeting the member. Hostile ones: a
// manifest that carries another Work's label (the agent overwrites it, so
// only the live object's label counts), an object another Work owns, an
// object replaced under the Work's name with the Work's label copied.
var applyCases = []struct {
	name string
	look plan.ApplyLook
	want plan.Step
}{
	{"manifest turns reconcile off", plan.ApplyLook{ManifestReconcileDisabled: true, Read: true, Live: &plan.Live{UID: "x", WorkLabel: "other"}}, plan.Skip},
	{"not read yet", plan.ApplyLook{WorkLabel: "w"}, plan.Read},
	{"new object", plan.ApplyLook{WorkLabel: "w", Read: true}, plan.ApplyIt},
	{"own object deleted by someone: created again, its stale UID forgotten first", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", Read: true}, plan.ApplyIt},
	{"own object by recorded UID", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w"}}, plan.ApplyIt},
	{"own object by its label, no UID recorded (lost store)", plan.ApplyLook{WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w"}}, plan.ApplyIt},
	{"hostile: another Work's object (the manifest spoofing label w counts for nothing)", plan.ApplyLook{WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u9", WorkLabel: "other"}}, plan.LeaveConflict},
	{"hostile: another Work's object, adoption IfUnowned", plan.ApplyLook{WorkLabel: "w", Adoption: ifUnowned, Read: true, Live: &plan.Live{UID: "u9", WorkLabel: "other"}}, plan.LeaveConflict},
	{"hostile: replaced under the Work's name with the Work's label copied", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", Read: true, Live: &plan.Live{UID: "u2", WorkLabel: "w"}}, plan.LeaveConflict},
	{"pre-existing, unowned, adoption Never", plan.ApplyLook{WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u5"}}, plan.LeaveConflict},
	{"hostile: another Work records it, this Work's label copied on", plan.ApplyLook{WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u9", WorkLabel: "w", RecordedBy: "platform"}}, plan.LeaveConflict},
	{"pre-existing, unowned, adoption IfUnowned", plan.ApplyLook{WorkLabel: "w", Adoption: ifUnowned, Read: true, Live: &plan.Live{UID: "u5"}}, plan.ApplyIt},
	{"hostile: a controller's object named by the Work, adoption IfUnowned", plan.ApplyLook{WorkLabel: "w", Adoption: ifUnowned, Read: true, Live: &plan.Live{UID: "u6", Controller: "ReplicaSet web-5d8f"}}, plan.LeaveConflict},
	{"live object turns reconcile off", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", ReconcileDisabled: true}}, plan.SkipLive},
	{"another Work's object turning reconcile off is still a conflict", plan.ApplyLook{WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u9", WorkLabel: "other", ReconcileDisabled: true}}, plan.LeaveConflict},
	{"same spec applied before, Report policy: judged only", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", InSync: true, Policy: report, Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w"}}, plan.Judge},
	{"same spec, Report, deleted by someone: judged, not created again", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", InSync: true, Policy: report, Read: true}, plan.Judge},
	{"same spec, Correct policy: applied (a correction)", plan.ApplyLook{WorkLabel: "w", RecordedUID: "u1", InSync: true, Policy: correct, Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w"}}, plan.ApplyIt},
}

func TestApplyObject(t *testing.T) {
	for _, tt := range applyCases {
		t.Run(tt.name, func(t *testing.T) {
			d := plan.ApplyObject(tt.look)
			if d.Step != tt.want {
				t.Fatalf("ApplyObject = %+v, want step %s", d, tt.want)
			}
			checkApply(t, tt.look, d)
		})
	}
}

// checkApply checks what must hold of every apply decision.
func checkApply(t *testing.T, l plan.ApplyLook, d plan.ApplyDecision) {
	t.Helper()
	mine := l.Live != nil && (l.RecordedUID != "" && l.Live.UID == l.RecordedUID || l.RecordedUID == "" && l.Live.WorkLabel == l.WorkLabel)
	adoptable := l.Live != nil && l.Live.WorkLabel == "" && l.Adoption == ifUnowned
	if d.Step == plan.ApplyIt && l.Live != nil && !mine && !adoptable {
		t.Errorf("applies an object that is not the Work's: %+v -> %+v", l, d)
	}
	if d.RecordLiveUID && !mine {
		t.Errorf("records the UID of an object that is not the Work's: %+v -> %+v", l, d)
	}
	if d.RecordNewUID && d.Step != plan.ApplyIt {
		t.Errorf("records a new UID without applying: %+v -> %+v", l, d)
	}
	if d.ForgetUID && l.Live != nil {
		t.Errorf("forgets the UID of an object that exists: %+v -> %+v", l, d)
	}
	if (d.Step == plan.ApplyIt || d.Step == plan.Judge) && l.ManifestReconcileDisabled {
		t.Errorf("touches a manifest that turns reconcile off: %+v -> %+v", l, d)
	}
}

var mine = &plan.Live{UID: "u1", WorkLabel: "w"}

// pruneCases are objects that left Work "w". Hostile ones: the object was
// replaced (its UID changed) by someone, with or without the Work's label;
// the Work's label moved to another Work; no UID recorded.
var pruneCases = []struct {
	name string
	look plan.PruneLook
	want plan.Step
}{
	{"orphan: not even read", plan.PruneLook{Orphan: true, RecordedUID: "u1", WorkLabel: "w"}, plan.Keep},
	{"not read yet", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w"}, plan.Read},
	{"gone", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true}, plan.Gone},
	{"the Work's", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: mine}, plan.Delete},
	{"hostile: UID changed, the Work's label copied", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u2", WorkLabel: "w"}}, plan.Keep},
	{"hostile: UID changed, unlabelled", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u2"}}, plan.Keep},
	{"hostile: no UID recorded, the Work's label", plan.PruneLook{WorkLabel: "w", Read: true, Live: mine}, plan.Keep},
	{"hostile: now another Work's", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "other"}}, plan.Keep},
	{"label removed", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1"}}, plan.Keep},
	{"hostile: another Work records it too", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", RecordedBy: "platform"}}, plan.Keep},
	{"prune disabled", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", PruneDisabled: true}}, plan.Keep},
	{"reconcile disabled", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", ReconcileDisabled: true}}, plan.Keep},
	{"being deleted", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", Deleting: true}}, plan.Gone},
	{"namespace: what it holds not listed yet", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Container: true, Read: true, Live: mine}, plan.CheckForeign},
	{"namespace holding others' objects", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Container: true, Read: true, Live: mine, ForeignChecked: true, Foreign: []string{"ConfigMap/ns/theirs"}}, plan.Keep},
	{"namespace holding only the Work's", plan.PruneLook{RecordedUID: "u1", WorkLabel: "w", Container: true, Read: true, Live: mine, ForeignChecked: true}, plan.Delete},
}

func TestPruneObject(t *testing.T) {
	for _, tt := range pruneCases {
		t.Run(tt.name, func(t *testing.T) {
			got, msg := plan.PruneObject(tt.look)
			if got != tt.want {
				t.Fatalf("PruneObject = %s %q, want %s", got, msg, tt.want)
			}
			checkPrune(t, tt.look, got)
		})
	}
}

func checkPrune(t *testing.T, l plan.PruneLook, s plan.Step) {
	t.Helper()
	if s != plan.Delete {
		return
	}
	switch {
	case l.Orphan:
		t.Errorf("deletes under prunePolicy Orphan: %+v", l)
	case l.Live == nil || l.RecordedUID == "" || l.Live.UID != l.RecordedUID:
		t.Errorf("deletes an object whose UID is not the recorded one: %+v", l)
	case l.Live.WorkLabel != l.WorkLabel:
		t.Errorf("deletes an object without the Work's label: %+v", l)
	case l.Live.PruneDisabled || l.Live.ReconcileDisabled:
		t.Errorf("deletes an object that opts out: %+v", l)
	case l.Container && (!l.ForeignChecked || len(l.Foreign) > 0):
		t.Errorf("deletes a container that may hold others' objects: %+v", l)
	}
}

var asApplied = plan.Applied{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Healthy: true, Fingerprint: "f1"}

// checkCases are objects a check looks at again.
var checkCases = []struct {
	name string
	look plan.CheckLook
	want plan.Step
}{
	{"failed in the last pass: not looked at", plan.CheckLook{Applied: plan.Applied{Result: fleetv1alpha1.ApplyResultFailed}}, plan.Leave},
	{"in conflict: not looked at", plan.CheckLook{Applied: plan.Applied{Result: fleetv1alpha1.ApplyResultConflict}}, plan.Leave},
	{"applied: read", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true}, plan.Read},
	{"read failed", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, ReadFailed: true}, plan.Unknown},
	{"hostile: replaced (UID changed)", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, Live: &plan.Live{UID: "u2", WorkLabel: "w"}}, plan.Reapply},
	{"skipped in the last pass, replaced: health only", plan.CheckLook{Applied: plan.Applied{Result: fleetv1alpha1.ApplyResultSkipped, UID: "u1"}, CanJudge: true, Desired: true, Read: true, Live: &plan.Live{UID: "u2"}}, plan.Leave},
	{"member cannot judge drift: health only", plan.CheckLook{Applied: asApplied, Desired: true, Read: true, Live: mine}, plan.Leave},
	{"reconcile turned off on the live object", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, Live: &plan.Live{UID: "u1", WorkLabel: "w", ReconcileDisabled: true}}, plan.SkipLive},
	{"fingerprint unchanged: no dry run", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, Live: mine, LiveFingerprint: "f1"}, plan.Leave},
	{"fingerprint changed: judge", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, Live: mine, LiveFingerprint: "f2"}, plan.Judge},
	{"drift recorded before: judge even with the same fingerprint", plan.CheckLook{Applied: plan.Applied{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Drifted: true, Fingerprint: "f1"}, CanJudge: true, Desired: true, Read: true, Live: mine, LiveFingerprint: "f1"}, plan.Judge},
	{"deleted: judge", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true}, plan.Judge},
	{"no drift", plan.CheckLook{Applied: asApplied, CanJudge: true, Desired: true, Read: true, Live: mine, Judged: true}, plan.Leave},
	{"drift, Report", plan.CheckLook{Applied: asApplied, Policy: report, CanJudge: true, Desired: true, Read: true, Live: mine, Judged: true, Drift: true}, plan.Leave},
	{"drift, Correct", plan.CheckLook{Applied: asApplied, Policy: correct, CanJudge: true, Desired: true, Read: true, Live: mine, Judged: true, Drift: true}, plan.Correct},
	{"deleted, Correct: the full apply creates it", plan.CheckLook{Applied: asApplied, Policy: correct, CanJudge: true, Desired: true, Read: true, Judged: true, Drift: true}, plan.Reapply},
}

func TestCheckObject(t *testing.T) {
	for _, tt := range checkCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := plan.CheckObject(tt.look); got != tt.want {
				t.Fatalf("CheckObject = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMaySkipRead(t *testing.T) {
	if !plan.MaySkipRead(asApplied) {
		t.Error("a healthy object as applied may skip its read")
	}
	for _, a := range []plan.Applied{
		{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Healthy: false, Fingerprint: "f1"},
		{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Healthy: true, Drifted: true, Fingerprint: "f1"},
		{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Healthy: true, Accepted: true, Fingerprint: "f1"},
		{Result: fleetv1alpha1.ApplyResultApplied, UID: "u1", Healthy: true},
		{Result: fleetv1alpha1.ApplyResultSkipped, UID: "u1", Healthy: true, Fingerprint: "f1"},
	} {
		if plan.MaySkipRead(a) {
			t.Errorf("MaySkipRead(%+v) = true", a)
		}
	}
}

// TestObjectDecisionsGolden renders every object decision above, messages
// included, and compares them with testdata/objects.golden (-update
// rewrites it): a change of what the agent does with an object, or says
// about it, shows in review.
func TestObjectDecisionsGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString("# apply: Work w meets an object on the member\n")
	for _, tt := range applyCases {
		d := plan.ApplyObject(tt.look)
		fmt.Fprintf(&b, "%s\n  -> %s", tt.name, d.Step)
		for _, f := range []struct {
			on   bool
			what string
		}{{d.RecordLiveUID, "record-live-uid"}, {d.ForgetUID, "forget-uid"}, {d.RecordNewUID, "record-new-uid"}} {
			if f.on {
				b.WriteString(" " + f.what)
			}
		}
		if d.Message != "" {
			fmt.Fprintf(&b, " %q", d.Message)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n# check: an object the last pass handled\n")
	for _, tt := range checkCases {
		fmt.Fprintf(&b, "%s\n  -> %s\n", tt.name, plan.CheckObject(tt.look))
	}
	b.WriteString("\n# prune: an object that left Work w\n")
	for _, tt := range pruneCases {
		s, msg := plan.PruneObject(tt.look)
		fmt.Fprintf(&b, "%s\n  -> %s", tt.name, s)
		if msg != "" {
			fmt.Fprintf(&b, " %q", msg)
		}
		b.WriteString("\n")
	}
	golden.Check(t, "testdata/objects.golden", b.String())
}

func TestTakenAlong(t *testing.T) {
	const prune, reconcile = fleetv1alpha1.AnnotationPrune, fleetv1alpha1.AnnotationReconcile
	work := map[string]string{fleetv1alpha1.LabelWork: "w"}
	tests := []struct {
		name        string
		labels, ann map[string]string
		want        bool
	}{
		{"the Work's own", work, nil, false},
		{"unlabelled", nil, nil, true},
		{"another Work's", map[string]string{fleetv1alpha1.LabelWork: "other"}, nil, true},
		{"the Work's, prune disabled", work, map[string]string{prune: fleetv1alpha1.PruneDisabled}, true},
		{"the Work's, reconcile disabled", work, map[string]string{reconcile: fleetv1alpha1.ReconcileDisabled}, true},
	}
	for _, tt := range tests {
		if got := plan.TakenAlong("w", tt.labels, tt.ann); got != tt.want {
			t.Errorf("%s: TakenAlong = %v, want %v", tt.name, got, tt.want)
		}
	}
}
