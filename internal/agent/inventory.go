package agent

import (
	"sort"

	"k8s.io/apimachinery/pkg/types"
)

// inventory is the set of member objects a Work may have created: everything
// the agent ever tried to apply for it and has not yet pruned. Each entry
// carries the UID of the object this Work created (or adopted), once known:
// prune only ever deletes an object listed here whose live UID is that one,
// and apply only ever changes an existing object that is the Work's by it
// (see claim in ownership.go).
type inventory []objectRef

// newInventory returns the refs sorted and without duplicates (by key; the
// last version wins, but a recorded UID is kept when the later ref has none).
func newInventory(refs ...objectRef) inventory {
	byKey := make(map[refKey]objectRef, len(refs))
	for _, r := range refs {
		if old, ok := byKey[r.key()]; ok && r.UID == "" {
			r.UID = old.UID
		}
		byKey[r.key()] = r
	}
	out := make(inventory, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// union returns the refs of both, later versions from other; the UIDs
// recorded in inv stay unless other records another.
func (inv inventory) union(other ...objectRef) inventory {
	return newInventory(append(append([]objectRef(nil), inv...), other...)...)
}

// without returns the refs of inv whose key is not among keep: the objects
// that left the Work.
func (inv inventory) without(keep ...objectRef) []objectRef {
	kept := make(map[refKey]bool, len(keep))
	for _, r := range keep {
		kept[r.key()] = true
	}
	var out []objectRef
	for _, r := range inv {
		if !kept[r.key()] {
			out = append(out, r)
		}
	}
	return out
}

// uid returns the UID recorded for ref's object; empty when none is.
func (inv inventory) uid(ref objectRef) types.UID {
	k := ref.key()
	for _, r := range inv {
		if r.key() == k {
			return r.UID
		}
	}
	return ""
}

// withUID returns inv with uid recorded for ref's object (added when absent;
// an empty uid forgets the recorded one).
func (inv inventory) withUID(ref objectRef, uid types.UID) inventory {
	out := make(inventory, 0, len(inv)+1)
	found := false
	for _, r := range inv {
		if r.key() == ref.key() {
			r.UID, found = uid, true
		}
		out = append(out, r)
	}
	if !found {
		ref.UID = uid
		return newInventory(append(out, ref)...)
	}
	return out
}

// forget returns inv without ref's object.
func (inv inventory) forget(ref objectRef) inventory {
	out := make(inventory, 0, len(inv))
	for _, r := range inv {
		if r.key() != ref.key() {
			out = append(out, r)
		}
	}
	return out
}

// equal reports whether two inventories hold the same refs and UIDs.
func (inv inventory) equal(other inventory) bool {
	if len(inv) != len(other) {
		return false
	}
	for i := range inv {
		if inv[i] != other[i] {
			return false
		}
	}
	return true
}

// ledger is a Work's inventory during one pass, with the callback that
// persists it. Changes that only record UIDs of objects already created
// are kept in memory until flush: a crash before it loses nothing that
// matters, as the agent recognises its own objects by their Work label
// when no UID is recorded.
type ledger struct {
	inv   inventory
	save  func(inventory) error
	dirty bool
}

// add records refs (keeping their UIDs) and saves the inventory at once if
// that changed it: done before any of them is created.
func (l *ledger) add(refs ...objectRef) error {
	next := l.inv.union(refs...)
	if next.equal(l.inv) && !l.dirty {
		return nil
	}
	if err := l.save(next); err != nil {
		return err
	}
	l.inv, l.dirty = next, false
	return nil
}

// uid is the UID recorded for ref's object.
func (l *ledger) uid(ref objectRef) types.UID { return l.inv.uid(ref) }

// setUID records (in memory) the UID of ref's object.
func (l *ledger) setUID(ref objectRef, uid types.UID) {
	if next := l.inv.withUID(ref, uid); !next.equal(l.inv) {
		l.inv, l.dirty = next, true
	}
}

// forget drops ref's object (in memory): it is not the Work's.
func (l *ledger) forget(ref objectRef) {
	if next := l.inv.forget(ref); !next.equal(l.inv) {
		l.inv, l.dirty = next, true
	}
}

// flush saves the inventory if it changed since the last save.
func (l *ledger) flush() error {
	if !l.dirty {
		return nil
	}
	if err := l.save(l.inv); err != nil {
		return err
	}
	l.dirty = false
	return nil
}
