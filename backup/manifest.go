package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// The backup's own files live in metaDir inside the backup folder.
const (
	metaDir      = ".apsql-backup"
	manifestName = "manifest.jsonl"
	lockName     = "lock"
	deletedDir   = ".deleted"
	// formatVersion is the manifest format this apsql writes; a manifest
	// with a higher one comes from a newer apsql and is refused.
	formatVersion = 1
	formatName    = "apsql-backup"
)

// Errors of the manifest; errors.Is tells them apart.
var (
	ErrNewerManifest   = errors.New("the backup's manifest was written by a newer apsql")
	ErrDamagedManifest = errors.New("the backup's manifest is damaged")
	ErrLocked          = errors.New("another BACKUP is writing into this folder")
	ErrNestedBackup    = errors.New("the folder is inside another backup")
)

// record is one line of the manifest (JSON lines). The first line is the
// header ({"format":"apsql-backup","version":1}); then every line is an
// event, and for one id the last line wins:
//
//   - "file": the node's file was written (or found already there with the
//     node's md5) at path, with size, md5, contentDate and mtime (what
//     apsql set, to notice local edits), by run;
//   - "gone": the node left the backup (MIRROR); its file moved to moved.
//   - "run": a BACKUP run started (run, at, target).
type record struct {
	Format      string     `json:"format,omitempty"`
	Version     int        `json:"version,omitempty"`
	Event       string     `json:"event,omitempty"`
	ID          string     `json:"id,omitempty"`
	Path        string     `json:"path,omitempty"`
	Size        int64      `json:"size,omitempty"`
	MD5         string     `json:"md5,omitempty"`
	ContentDate *time.Time `json:"contentDate,omitempty"`
	MTime       *time.Time `json:"mtime,omitempty"`
	Meta        string     `json:"meta,omitempty"` // digest of the sidecars' content
	Moved       string     `json:"moved,omitempty"`
	Run         string     `json:"run,omitempty"`
	At          *time.Time `json:"at,omitempty"`
	Target      string     `json:"target,omitempty"`
}

// manifest is a backup folder's record of its files.
type manifest struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	byID   map[string]*record
	byPath map[string]string // folded path → id
	lines  int
	good   int // bytes of whole, valid lines read
}

// fold is the key paths are compared by: case-insensitive file systems
// (macOS, Windows, many USB disks) would make "A.jpg" and "a.jpg" one file.
func fold(p string) string { return strings.ToLower(p) }

// openManifest reads dir's manifest (creating it when absent) and opens it
// for appending. A last line cut short by a crash (no newline, not JSON)
// is dropped; any other bad line, or a header of another format or a newer
// version, is refused.
func openManifest(dir string) (*manifest, error) {
	m, err := readManifest(dir)
	if err != nil {
		return nil, err
	}
	p, good := m.path, m.good
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(p), err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the manifest: %w", err)
	}
	if err := f.Truncate(int64(good)); err != nil {
		f.Close()
		return nil, fmt.Errorf("drop the torn last line of the manifest: %w", err)
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	m.f, m.w = f, bufio.NewWriterSize(f, 256<<10)
	if good == 0 {
		if err := m.append(record{Format: formatName, Version: formatVersion}); err != nil {
			f.Close()
			return nil, err
		}
	}
	return m, nil
}

// readManifest reads dir's manifest without opening it for writing (an
// absent one is empty).
func readManifest(dir string) (*manifest, error) {
	p := filepath.Join(dir, metaDir, manifestName)
	m := &manifest{path: p, byID: map[string]*record{}, byPath: map[string]string{}}
	data, err := os.ReadFile(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = nil
	case err != nil:
		return nil, fmt.Errorf("read the manifest %s: %w", p, err)
	}
	// Lines are parsed in parallel (a 100k-file manifest is ~20 MB of
	// JSON), then applied in order.
	type line struct {
		start, end int // end excludes the newline
		torn       bool
		rec        record
		err        error
	}
	var lines []line
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			lines = append(lines, line{start: off, end: len(data), torn: true})
			break
		}
		lines = append(lines, line{start: off, end: off + end})
		off += end + 1
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(lines)/4096))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(lines); i += workers {
				l := &lines[i]
				l.err = json.Unmarshal(data[l.start:l.end], &l.rec)
			}
		}()
	}
	wg.Wait()
	good := 0 // bytes of whole, valid lines
	for i := range lines {
		l := &lines[i]
		n := i + 1
		if l.torn {
			break // the last write was cut short: dropped (the next run finds its file by md5)
		}
		if l.err != nil {
			return nil, fmt.Errorf("%w: %s line %d is not a manifest record (%v); move %s aside (or restore it from a copy) and run BACKUP again: files already in the folder are kept when their md5 matches",
				ErrDamagedManifest, p, n, l.err, filepath.Join(dir, metaDir))
		}
		if n == 1 {
			if l.rec.Format != formatName {
				return nil, fmt.Errorf("%w: %s does not start with the apsql-backup header; move %s aside and run BACKUP again", ErrDamagedManifest, p, filepath.Join(dir, metaDir))
			}
			if l.rec.Version > formatVersion {
				return nil, fmt.Errorf("%w (format %d; this apsql reads up to %d): upgrade apsql to back up into %s", ErrNewerManifest, l.rec.Version, formatVersion, dir)
			}
		} else {
			m.apply(&l.rec)
		}
		good = l.end + 1
		m.lines++
	}
	m.good = good
	return m, nil
}

// apply folds one event into the in-memory view.
func (m *manifest) apply(r *record) {
	switch r.Event {
	case "file":
		if old := m.byID[r.ID]; old != nil && fold(old.Path) != fold(r.Path) {
			delete(m.byPath, fold(old.Path))
		}
		c := *r
		m.byID[r.ID] = &c
		m.byPath[fold(r.Path)] = r.ID
	case "gone":
		if old := m.byID[r.ID]; old != nil {
			delete(m.byPath, fold(old.Path))
			delete(m.byID, r.ID)
		}
	}
}

// append writes records (buffered; flush makes them durable).
func (m *manifest) append(rs ...record) error {
	for i := range rs {
		b, err := json.Marshal(&rs[i])
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if _, err := m.w.Write(b); err != nil {
			return fmt.Errorf("write the manifest: %w", err)
		}
		if rs[i].Event != "" {
			m.apply(&rs[i])
		}
		m.lines++
	}
	return nil
}

// flush writes the buffer and syncs the manifest to disk.
func (m *manifest) flush() error {
	if err := m.w.Flush(); err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	if err := m.f.Sync(); err != nil {
		return fmt.Errorf("sync the manifest: %w", err)
	}
	return nil
}

// compact rewrites the manifest with one line per file when superseded
// lines outnumber the live ones: into a new file, synced, then renamed
// over the old one, so a crash leaves one or the other whole.
func (m *manifest) compact() error {
	if m.lines < 2*len(m.byID)+1000 {
		return nil
	}
	if err := m.flush(); err != nil {
		return err
	}
	tmp := m.path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("compact the manifest: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	enc := json.NewEncoder(w)
	lines := 1
	err = enc.Encode(record{Format: formatName, Version: formatVersion})
	for _, id := range sortedIDs(m.byID) {
		if err == nil {
			err = enc.Encode(m.byID[id])
			lines++
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact the manifest: %w", err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact the manifest: %w", err)
	}
	syncDir(filepath.Dir(m.path))
	m.f.Close()
	m.f, m.w, m.lines = f, bufio.NewWriterSize(f, 256<<10), lines
	return nil
}

// close flushes and closes the manifest.
func (m *manifest) close() error {
	err := m.flush()
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes renames in dir durable; failures are ignored (some file
// systems cannot sync a directory, and the files themselves are).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
