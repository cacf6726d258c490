package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := newStore(dir, "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	w := unitWork(strings.Repeat("long-name-", 20), configMapObj("ns", "a", nil))
	w.UID, w.Generation = "uid-1", 3
	rec := &workRecord{Work: w, Inventory: newInventory(cmA, depB)}
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	// Another cluster's agent sharing the state directory sees nothing of it.
	other, err := newStore(dir, "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := other.load(); len(recs) != 0 {
		t.Errorf("edge-2 sees %d records", len(recs))
	}

	recs, bad, err := s.load()
	if err != nil || len(bad) != 0 {
		t.Fatalf("load: %v %v", err, bad)
	}
	got := recs[w.Name]
	if got == nil || got.Work.UID != "uid-1" || got.Work.Generation != 3 || !got.Inventory.equal(rec.Inventory) || specHash(got.Work) != specHash(w) {
		t.Fatalf("loaded %+v", got)
	}

	// Saving again replaces the record; removing deletes it (twice is fine).
	rec.Inventory = newInventory(cmA)
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	recs, _, _ = s.load()
	if len(recs[w.Name].Inventory) != 1 {
		t.Errorf("inventory after resave %v", recs[w.Name].Inventory)
	}
	if err := s.remove(w.Name); err != nil {
		t.Fatal(err)
	}
	if err := s.remove(w.Name); err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := s.load(); len(recs) != 0 {
		t.Errorf("records after remove: %d", len(recs))
	}
}

func TestStoreLoadSkipsBadFilesAndCleansTemporaries(t *testing.T) {
	s, err := newStore(t.TempDir(), "edge-1")
	if err != nil {
		t.Fatal(err)
	}
	good := &workRecord{Work: &fleetv1alpha1.Work{}}
	good.Work.Name = "good"
	if err := s.save(good); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"garbage.json":         "{not json",
		"future.json":          `{"format": 99, "work": {"metadata": {"name": "x"}}}`,
		"empty.json":           `{"format": 1}`,
		".good.json.tmp-12345": "half written",
		"README":               "not a record",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	recs, bad, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs["good"] == nil {
		t.Errorf("records %v", recs)
	}
	if len(bad) != 3 {
		t.Errorf("bad files %v, want garbage, future and empty", bad)
	}
	if _, err := os.Stat(filepath.Join(s.dir, ".good.json.tmp-12345")); !os.IsNotExist(err) {
		t.Error("temporary file of an interrupted write left behind")
	}
	if _, err := os.Stat(filepath.Join(s.dir, "garbage.json")); err != nil {
		t.Error("unreadable record removed; it should stay for inspection")
	}
}
