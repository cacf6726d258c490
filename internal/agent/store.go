package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
	"github.com/flotilla-dev/flotilla/internal/agent/checks"
)

// recordFormat versions the files of the store.
const recordFormat = 1

// workRecord is what the agent keeps on local disk about one Work: the last
// desired state it received and the inventory of what it applied. It is
// enough to keep the member as it was, and to prune later, without the hub.
type workRecord struct {
	Format int `json:"format"`
	// Work is the last Work received from the hub, without status.
	Work *fleetv1alpha1.Work `json:"work"`
	// Inventory lists the objects the Work may have created on the member.
	Inventory inventory `json:"inventory,omitempty"`
	// AppliedHash is the hash of the spec last applied in full.
	AppliedHash string `json:"appliedHash,omitempty"`
	// Checks are the states of the Work's verification checks, as
	// status.checks reports them: measuring goes on without the hub, and
	// a restart loses no count.
	Checks []fleetv1alpha1.WorkCheckStatus `json:"checks,omitempty"`
	// CheckJobs are the test Jobs the agent created for the checks and has
	// not deleted yet: recorded before each is created, its UID right after.
	CheckJobs []checks.JobRef `json:"checkJobs,omitempty"`
}

// store keeps one file per Work under dir. Writes are atomic (a temporary
// file, synced, then renamed over the old one), so a crash leaves either the
// old record or the new one, never half of each.
type store struct {
	dir string
}

func newStore(stateDir, cluster string) (*store, error) {
	// One directory per cluster, so agents of different clusters sharing a
	// state directory (several in one process) never mix their records.
	dir := filepath.Join(stateDir, cluster, "works")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	return &store{dir: dir}, nil
}

// fileName is the record's file: the Work's label value, which is unique per
// Work name and short enough for any file system.
func (s *store) fileName(work string) string {
	return filepath.Join(s.dir, fleetv1alpha1.WorkLabelValue(work)+".json")
}

// load reads every record. Records that cannot be read are returned as
// errors, keyed by file, and left on disk for a person to inspect.
func (s *store) load() (map[string]*workRecord, map[string]error, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading state directory %s: %w", s.dir, err)
	}
	records := map[string]*workRecord{}
	bad := map[string]error{}
	for _, e := range entries {
		if !e.IsDir() && strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			// A write interrupted by a crash; the record it was replacing is intact.
			_ = os.Remove(filepath.Join(s.dir, e.Name()))
			continue
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(s.dir, e.Name())
		rec, err := readRecord(path)
		if err != nil {
			bad[path] = err
			continue
		}
		records[rec.Work.Name] = rec
	}
	return records, bad, nil
}

func readRecord(path string) (*workRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	rec := &workRecord{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if rec.Format != recordFormat {
		return nil, fmt.Errorf("decoding %s: unknown format %d", path, rec.Format)
	}
	if rec.Work == nil || rec.Work.Name == "" {
		return nil, fmt.Errorf("decoding %s: no work", path)
	}
	return rec, nil
}

// save writes a record atomically.
func (s *store) save(rec *workRecord) error {
	rec.Format = recordFormat
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding state of work %s: %w", rec.Work.Name, err)
	}
	if err := writeFileAtomic(s.fileName(rec.Work.Name), data); err != nil {
		return fmt.Errorf("saving state of work %s: %w", rec.Work.Name, err)
	}
	return nil
}

// remove deletes a Work's record; a missing record is not an error.
func (s *store) remove(work string) error {
	if err := os.Remove(s.fileName(work)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing state of work %s: %w", work, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file in the same directory,
// fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}
