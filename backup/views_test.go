package backup

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/naming"
)

// viewLinks walks Albums/ and People/ of dir: link path (relative, '/')
// → the file it resolves to (relative); a dangling or absolute link fails
// the test.
func viewLinks(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, top := range viewDirs {
		err := filepath.WalkDir(filepath.Join(dir, top), func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			to, err := os.Readlink(p)
			if err != nil {
				t.Errorf("%s is not a link", p)
				return nil
			}
			if filepath.IsAbs(to) {
				t.Errorf("%s links to the absolute %s", p, to)
			}
			real := filepath.Join(filepath.Dir(p), to)
			if _, err := os.Stat(real); err != nil {
				t.Errorf("%s dangles: %v", p, err)
			}
			rel, _ := filepath.Rel(dir, p)
			target, _ := filepath.Rel(dir, real)
			out[filepath.ToSlash(rel)] = filepath.ToSlash(target)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// wantViews is what Albums/ and People/ must hold by the emulator's
// truth: folder → the paths of the member files in the backup.
func (e *env) wantViews(m *manifest) map[string][]string {
	want := map[string][]string{}
	for aid, name := range e.srv.Albums() {
		ids, _ := e.srv.AlbumMembers(aid)
		for _, id := range ids {
			if r := m.byID[id]; r != nil {
				k := "Albums/" + naming.Clean(name)
				want[k] = append(want[k], r.Path)
			}
		}
	}
	for _, p := range e.srv.People() {
		if p.Name == "" {
			continue
		}
		ids, _ := e.srv.IDs("people:(" + p.ClusterID + ")")
		for _, id := range ids {
			if r := m.byID[id]; r != nil {
				k := "People/" + naming.Clean(p.Name)
				want[k] = append(want[k], r.Path)
			}
		}
	}
	return want
}

func (e *env) checkViews(dir string) {
	e.t.Helper()
	m := readManifestT(e.t, dir)
	got := map[string][]string{}
	for link, target := range viewLinks(e.t, dir) {
		got[filepath.ToSlash(filepath.Dir(link))] = append(got[filepath.ToSlash(filepath.Dir(link))], target)
	}
	want := e.wantViews(m)
	for k, w := range want {
		if !equalSets(got[k], w) {
			e.t.Errorf("%s holds %d links %v, want %d %v", k, len(got[k]), got[k], len(w), w)
		}
	}
	for k := range got {
		if want[k] == nil {
			e.t.Errorf("%s should not exist", k)
		}
	}
}

func equalSets(a, b []string) bool {
	return strings.Join(sorted(a), "\x00") == strings.Join(sorted(b), "\x00")
}

// TestViewsAndMirror: VIEWS true makes Albums/<album>/ and People/<name>/
// hold one relative link per member file, as the emulator has them; after
// nodes are trashed and purged in the cloud, EXPLAIN BACKUP (MIRROR true)
// lists exactly those, and BACKUP moves their files (with the sidecars)
// into .deleted/<date>/ with their bytes, drops them from the manifest and
// from the views; MIRROR over a target that selects nothing is refused.
func TestViewsAndMirror(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 300, Seed: 9}, "SYNC", "SYNC TAGS people")
	dir := filepath.Join(t.TempDir(), "bk")
	opts := ` (SIDECAR 'xmp', VIEWS true, MIRROR true)`
	e.run(`BACKUP TO '` + dir + `'` + opts)
	e.checkViews(dir)
	m := readManifestT(t, dir)

	// One album member trashed, one node purged.
	var trashed, purged string
	for aid := range e.srv.Albums() {
		ids, _ := e.srv.AlbumMembers(aid)
		for _, id := range ids {
			if m.byID[id] != nil && trashed == "" {
				trashed = id
			}
		}
	}
	for _, id := range e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id DESC`) {
		if id != trashed && m.byID[id] != nil {
			purged = id
			break
		}
	}
	want := map[string][]byte{}
	for _, id := range []string{trashed, purged} {
		want[id], _ = os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.byID[id].Path)))
	}
	if err := e.srv.TrashIDs(trashed, purged); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(purged); err != nil {
		t.Fatal(err)
	}
	e.run(`SYNC`)
	e.run(`SYNC TAGS people`)
	rows, _ := e.run(`EXPLAIN BACKUP TO '` + dir + `'` + opts)
	var listed []string
	for _, r := range rows {
		if strings.Contains(r["detail"], deletedDir) {
			listed = append(listed, r["id"])
		}
	}
	if !equalSets(listed, []string{trashed, purged}) {
		t.Errorf("EXPLAIN lists %v to move, want %s and %s", listed, trashed, purged)
	}
	if _, err := os.Stat(filepath.Join(dir, deletedDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("EXPLAIN moved files")
	}
	rows, _ = e.run(`BACKUP TO '` + dir + `'` + opts)
	date := time.Now().Format("2006-01-02")
	for _, id := range []string{trashed, purged} {
		rec := m.byID[id]
		moved := filepath.Join(dir, deletedDir, date, filepath.FromSlash(rec.Path))
		if b, err := os.ReadFile(moved); err != nil || !bytes.Equal(b, want[id]) {
			t.Errorf("%s: %s holds %d bytes (%v), want its %d", id, moved, len(b), err, len(want[id]))
		}
		if _, err := os.Stat(moved + ".xmp"); err != nil {
			t.Errorf("%s: its sidecar did not move: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rec.Path))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: still at %s", id, rec.Path)
		}
	}
	m2 := readManifestT(t, dir)
	if m2.byID[trashed] != nil || m2.byID[purged] != nil || len(m2.byID) != len(m.byID)-2 {
		t.Errorf("the manifest holds %d files (was %d)", len(m2.byID), len(m.byID))
	}
	e.checkViews(dir)
	t.Logf("rows %v", rows)

	if _, _, err := e.try(`BACKUP WHERE false TO '` + dir + `'` + opts); err == nil || !strings.Contains(err.Error(), "run SYNC first") {
		t.Errorf("MIRROR over an empty target: %v", err)
	}
}
