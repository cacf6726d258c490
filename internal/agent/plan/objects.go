package plan

import (
	"strings"

	"k8s.io/apimachinery/pkg/types"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// Live is what a decision needs of an object read from the member.
type Live struct {
	UID types.UID
	// WorkLabel is its fleet.flotilla.dev/work label ("" when none).
	WorkLabel string
	// Controller names the owner reference with controller: true, as
	// "<kind> <name>" ("" when none): a controller keeps it.
	Controller string
	// ReconcileDisabled and PruneDisabled are its opt-out annotations.
	ReconcileDisabled, PruneDisabled bool
	// Deleting: it has a deletion timestamp.
	Deleting bool
	// RecordedBy names another Work whose inventory records its UID ("" when
	// none): it is that Work's, whatever its labels say.
	RecordedBy string
}

// Claim is what a Work may do with an object that exists on the member.
type Claim int

const (
	// Owned: the Work created it (or adopted it before): apply.
	Owned Claim = iota
	// Adopted: the Work did not create it, nobody owns it, and the Work's
	// adoption policy lets it take it over: apply, and from then on it is
	// the Work's.
	Adopted
	// Conflict: not the Work's to change; left untouched.
	Conflict
)

func (c Claim) String() string {
	switch c {
	case Owned:
		return "Owned"
	case Adopted:
		return "Adopted"
	default:
		return "Conflict"
	}
}

// ClaimOf decides whether a live object is a Work's to apply. workLabel is
// the Work's fleet.flotilla.dev/work label value; recorded is the UID its
// inventory records for the object (empty when none); uid and label are the
// live object's UID and fleet.flotilla.dev/work label.
//
// The object is the Work's when its UID is the one recorded, or, when no UID
// is recorded (a store from before UIDs were recorded, a lost store, a crash
// between creating the object and recording its UID), when it carries the
// Work's label: the agent sets that label itself on everything it applies
// and overwrites whatever a manifest says, so no other Work can have put it
// there. An object whose UID another Work's inventory records (recordedBy)
// is that Work's, whatever its labels: anyone who may update it on the
// member can write this Work's label on it, or take the label off for it to
// be adopted. Otherwise an object without any Work label may be adopted under
// AdoptionIfUnowned, unless a controller keeps it (controller, the live
// object's controller owner reference: applying over it would fight the
// controller, and a prune would delete what the controller made); anything
// else is a conflict, and the message names its owner.
func ClaimOf(workLabel string, recorded, uid types.UID, label, controller, recordedBy string, adoption fleetv1alpha1.AdoptionPolicy) (Claim, string) {
	switch {
	case recorded != "" && uid == recorded:
		return Owned, ""
	case recordedBy != "":
		return Conflict, "owned by Work " + recordedBy + " (its inventory records this object, whatever its labels say); left untouched"
	case recorded == "" && label == workLabel:
		return Owned, ""
	case label == "" && controller != "":
		return Conflict, "controlled by " + controller + " (its controller owner reference): not the Work's to change; left untouched"
	case label == "" && adoption == fleetv1alpha1.AdoptionIfUnowned:
		return Adopted, "adopted: it existed before and no Work or controller owned it (adoption IfUnowned)"
	case label == workLabel:
		// A UID is recorded and the live object is another one carrying
		// this Work's label: someone deleted the Work's object and created
		// this one in its place.
		return Conflict, "not created by this Work: the object it created was replaced by another (uid " +
			string(uid) + ", not " + string(recorded) + "); left untouched"
	case label != "":
		return Conflict, "owned by Work " + label + "; left untouched"
	default:
		return Conflict, "not created by Flotilla: it existed before; left untouched (the Work's adoption policy is " +
			string(orNever(adoption)) + ")"
	}
}

func orNever(p fleetv1alpha1.AdoptionPolicy) fleetv1alpha1.AdoptionPolicy {
	if p == "" {
		return fleetv1alpha1.AdoptionNever
	}
	return p
}

// Step is what to do next with one object.
type Step string

const (
	// Read: read the live object, then decide again.
	Read Step = "Read"
	// CheckForeign: list what deleting the object would take along that
	// the Work did not create, then decide again.
	CheckForeign Step = "CheckForeign"
	// Skip: leave it alone (reconcile disabled on the manifest).
	Skip Step = "Skip"
	// SkipLive: leave it alone (reconcile disabled on the live object): no
	// apply, no correction, no prune; a check judges and reports its drift,
	// since whoever may write the annotation may change the object too.
	SkipLive Step = "SkipLive"
	// LeaveConflict: the object conflicts (it is not the Work's): leave it
	// untouched and drop it from the Work's inventory, so the Work never
	// prunes it.
	LeaveConflict Step = "Conflict"
	// Judge: applied before with this very spec under the Report drift
	// policy: judge its drift, never touch it.
	Judge Step = "Judge"
	// Apply an object (server-side apply; fields a DriftException accepts
	// left out).
	ApplyIt Step = "Apply"
	// Delete it, on the condition that its UID is still the recorded one.
	Delete Step = "Delete"
	// Keep it: it left the Work but is not deleted (Message says why).
	Keep Step = "Keep"
	// Gone: nothing to delete (already gone, or being deleted).
	Gone Step = "Gone"
	// Leave the object as it is; for a check, what it found is recorded.
	Leave Step = "Leave"
	// Reapply: the check found the applied object deleted or replaced:
	// only a full apply creates objects (recording their UIDs) and judges
	// who owns them.
	Reapply Step = "Reapply"
	// Correct: apply it again to undo drift (Correct policy).
	Correct Step = "Correct"
	// Unknown: the live object could not be read; its health is Unknown.
	Unknown Step = "Unknown"
)

// ApplyLook is what the agent knows of one manifest while applying it.
type ApplyLook struct {
	// ManifestReconcileDisabled: the manifest turns reconciliation off.
	ManifestReconcileDisabled bool
	// WorkLabel is the Work's label value, RecordedUID the UID its
	// inventory records for the object, Adoption the Work's policy.
	WorkLabel   string
	RecordedUID types.UID
	Adoption    fleetv1alpha1.AdoptionPolicy
	// InSync: an earlier pass of the same spec applied it, so a change now
	// is drift; Policy is the Work's drift policy.
	InSync bool
	Policy fleetv1alpha1.DriftPolicy
	// Read: the live object was read; Live is nil when it does not exist.
	Read bool
	Live *Live
}

// ApplyDecision is what to do with one manifest.
type ApplyDecision struct {
	Step Step
	// Message is the resource's message (why a conflict; that it adopted).
	Message string
	// RecordLiveUID: the live object is the Work's (by recorded UID or by
	// its label): record its UID.
	RecordLiveUID bool
	// ForgetUID: the object the Work created is gone and is about to be
	// created again: forget its UID first (and save), so that a crash
	// before the new one is recorded leaves the label to recognise it by,
	// not a stale UID.
	ForgetUID bool
	// RecordNewUID: the apply creates or adopts it: record the UID the
	// apply returns; the object is the Work's from then on.
	RecordNewUID bool
}

// ApplyObject decides what the apply of one manifest does. Ownership: an
// existing object is applied only when it is the Work's by ClaimOf; the
// Work's label on a manifest counts for nothing (the agent sets it itself).
func ApplyObject(l ApplyLook) ApplyDecision {
	if l.ManifestReconcileDisabled {
		return ApplyDecision{Step: Skip, Message: fleetv1alpha1.AnnotationReconcile + "=" + fleetv1alpha1.ReconcileDisabled + " on the manifest"}
	}
	if !l.Read {
		return ApplyDecision{Step: Read}
	}
	var d ApplyDecision
	if l.Live != nil {
		c, msg := ClaimOf(l.WorkLabel, l.RecordedUID, l.Live.UID, l.Live.WorkLabel, l.Live.Controller, l.Live.RecordedBy, l.Adoption)
		if c == Conflict {
			return ApplyDecision{Step: LeaveConflict, Message: msg}
		}
		d.Message = msg
		d.RecordLiveUID = c == Owned
		d.RecordNewUID = c == Adopted
		if l.Live.ReconcileDisabled {
			return ApplyDecision{Step: SkipLive, RecordLiveUID: d.RecordLiveUID}
		}
	} else {
		d.ForgetUID = l.RecordedUID != ""
		d.RecordNewUID = true
	}
	if l.InSync && l.Policy == fleetv1alpha1.DriftPolicyReport {
		// Applied before with this very spec: whatever differs now is
		// drift, and Report never touches it.
		d.Step, d.RecordNewUID, d.Message = Judge, false, ""
		return d
	}
	d.Step = ApplyIt
	return d
}

// Applied summarises what the agent remembers of an object the last pass
// handled, as a check needs it.
type Applied struct {
	// Result is the object's result in that pass.
	Result fleetv1alpha1.ApplyResult
	// UID is the UID it was applied as.
	UID types.UID
	// Healthy: its health was Current, and nothing more was wrong with it.
	Healthy bool
	// Drifted: unexplained drift is recorded on it; Accepted: drift an
	// exception accepts.
	Drifted, Accepted bool
	// Fingerprint is the agent's managedFields entry when the object was
	// last known to be as applied; "" when not known.
	Fingerprint string
	// Unmanaged: Skipped for reconcile: disabled on the live object.
	Unmanaged bool
}

// CheckLook is what the agent knows of one object during a check.
type CheckLook struct {
	Applied Applied
	// Policy is the Work's drift policy; CanJudge: the member can judge
	// drift (dry-run an apply); Desired: the object's manifest is valid.
	Policy   fleetv1alpha1.DriftPolicy
	CanJudge bool
	Desired  bool
	// Read: the live object was read; ReadFailed: that failed (other than
	// not found); Live is nil when it does not exist; LiveFingerprint is
	// its agent's managedFields entry.
	Read, ReadFailed bool
	Live             *Live
	LiveFingerprint  string
	// Judged: its drift was judged; Drift is what is left once the
	// DriftExceptions accepted their part.
	Judged, Drift bool
}

// MaySkipRead reports whether a check need not read an object, if the drift
// watch confirms that nobody changed it since it was read: it was healthy
// and as applied then (no drift, none accepted).
func MaySkipRead(a Applied) bool {
	return a.Result == fleetv1alpha1.ApplyResultApplied && a.Healthy && !a.Drifted && !a.Accepted && a.Fingerprint != ""
}

// CheckObject decides what a check does with an object the last pass
// handled: read it, judge its drift, correct it. A check never creates an
// object nor touches one that is not the one the last pass applied (its
// UID): it answers Reapply instead.
func CheckObject(l CheckLook) Step {
	a := l.Applied
	if a.Result != fleetv1alpha1.ApplyResultApplied && a.Result != fleetv1alpha1.ApplyResultSkipped {
		return Leave
	}
	switch {
	case !l.Read:
		return Read
	case l.ReadFailed:
		return Unknown
	case l.Live != nil && a.Result == fleetv1alpha1.ApplyResultApplied && l.Live.UID != a.UID:
		// Not the object applied: deleted and created again by someone,
		// maybe someone else. The full apply decides whose it is.
		return Reapply
	case a.Unmanaged && l.Live != nil && !l.Live.ReconcileDisabled:
		// Handed back: the Work's revision is applied to it only now.
		return Reapply
	case a.Unmanaged && l.Live != nil:
		// Still left alone: its drift is judged (and reported) again.
		return SkipLive
	}
	if a.Result != fleetv1alpha1.ApplyResultApplied || !l.Desired || !l.CanJudge {
		return Leave // health alone
	}
	if l.Live != nil && l.Live.ReconcileDisabled {
		return SkipLive
	}
	if !l.Judged {
		if l.Live != nil && !a.Drifted && !a.Accepted && a.Fingerprint != "" && a.Fingerprint == l.LiveFingerprint {
			// As applied when last seen, and nobody has changed the object
			// (its status aside) since: the fingerprint holds the agent's
			// managedFields entry and the object's content.
			return Leave
		}
		return Judge
	}
	switch {
	case !l.Drift || l.Policy == fleetv1alpha1.DriftPolicyReport:
		return Leave
	case l.Live == nil:
		return Reapply // deleted: creating it again is the full apply's job
	default:
		return Correct
	}
}

// TakenAlong reports whether an object that deleting a Namespace or CRD of
// Work workLabel would take along stops that delete: the Work did not
// create it (no label, or another Work's), or it opts out of prune, as an
// object marked prune: disabled to keep a database's data must not go with
// its Namespace.
func TakenAlong(workLabel string, labels, annotations map[string]string) bool {
	return labels[fleetv1alpha1.LabelWork] != workLabel ||
		annotations[fleetv1alpha1.AnnotationPrune] == fleetv1alpha1.PruneDisabled ||
		annotations[fleetv1alpha1.AnnotationReconcile] == fleetv1alpha1.ReconcileDisabled
}

// PruneLook is what the agent knows of an object that left a Work.
type PruneLook struct {
	// Orphan: the Work's prunePolicy is Orphan.
	Orphan bool
	// RecordedUID is the UID the inventory recorded for it; WorkLabel the
	// Work's label value.
	RecordedUID types.UID
	WorkLabel   string
	// Container: a Namespace or CRD, whose deletion deletes what it holds.
	Container bool
	// Read: the live object was read; Live is nil when it does not exist.
	Read bool
	Live *Live
	// ForeignChecked: what deleting it would take along was listed;
	// Foreign names those objects the Work did not create.
	ForeignChecked bool
	Foreign        []string
}

// PruneObject decides what prune does with an object that left a Work. It
// deletes only an object the Work created or adopted: its live UID is the
// one the inventory recorded, it still carries the Work's label and does
// not opt out by annotation; a Namespace or CRD only when deleting it takes
// along nothing the Work did not create. The delete itself carries the UID
// as a precondition.
func PruneObject(l PruneLook) (Step, string) {
	switch {
	case l.Orphan:
		return Keep, "left in place: prunePolicy is Orphan"
	case !l.Read:
		return Read, ""
	case l.Live == nil:
		return Gone, "already gone"
	case l.RecordedUID == "":
		return Keep, "left in place: no UID was recorded for it, so the agent cannot tell that this Work created it"
	case l.Live.UID != l.RecordedUID:
		return Keep, "left in place: it is not the object this Work created (that was uid " + string(l.RecordedUID) + "; someone replaced it)"
	case l.Live.WorkLabel == "":
		return Keep, "left in place: it no longer carries the " + fleetv1alpha1.LabelWork + " label"
	case l.Live.WorkLabel != l.WorkLabel:
		return Keep, "left in place: it now belongs to Work " + l.Live.WorkLabel
	case l.Live.RecordedBy != "":
		return Keep, "left in place: Work " + l.Live.RecordedBy + " records it too"
	case l.Live.PruneDisabled:
		return Keep, "left in place: " + fleetv1alpha1.AnnotationPrune + "=" + fleetv1alpha1.PruneDisabled
	case l.Live.ReconcileDisabled:
		return Keep, "left in place: " + fleetv1alpha1.AnnotationReconcile + "=" + fleetv1alpha1.ReconcileDisabled
	case l.Live.Deleting:
		return Gone, "being deleted"
	case l.Container && !l.ForeignChecked:
		return CheckForeign, ""
	case len(l.Foreign) > 0:
		return Keep, "left in place: deleting it would delete objects this Work did not create or leaves in place: " + strings.Join(l.Foreign, ", ")
	}
	return Delete, ""
}
