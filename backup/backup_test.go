package backup

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

// readManifestT reads dir's manifest or fails the test.
func readManifestT(t *testing.T, dir string) *manifest {
	t.Helper()
	m, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkFiles checks that every file of the manifest holds the emulator's
// bytes for its node, and that it has one record per file node.
func (e *env) checkFiles(dir string, want []string) *manifest {
	e.t.Helper()
	m := readManifestT(e.t, dir)
	if len(m.byID) != len(want) {
		e.t.Errorf("the manifest records %d files, want %d", len(m.byID), len(want))
	}
	for _, id := range want {
		rec := m.byID[id]
		if rec == nil {
			e.t.Errorf("%s is not in the manifest", id)
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rec.Path)))
		if err != nil {
			e.t.Errorf("%s: %v", id, err)
			continue
		}
		truth, ok := e.srv.Content(id)
		if !ok || !bytes.Equal(data, truth) {
			e.t.Errorf("%s (%s): %d bytes differ from the emulator's %d", id, rec.Path, len(data), len(truth))
		}
		sum := md5.Sum(data)
		if hex.EncodeToString(sum[:]) != rec.MD5 {
			e.t.Errorf("%s: the manifest's md5 %s is not the file's", id, rec.MD5)
		}
	}
	return m
}

// TestBackup: a first BACKUP writes every file of the library under
// {yyyy}/{mm}/{name}, each md5-verified and recorded; EXPLAIN before it
// sends and writes nothing; a re-run fetches nothing; a file edited
// locally is reported and kept; a file deleted locally is fetched again;
// a new node whose name is taken gets " (2)" while the old one keeps its
// path.
func TestBackup(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 300, Seed: 3}, "SYNC")
	dir := filepath.Join(t.TempDir(), "bk")
	files := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`)

	before := e.srv.Stats().Requests
	rows, sum := e.run(`EXPLAIN BACKUP TO '` + dir + `'`)
	if len(rows) != len(files) || !strings.Contains(sum, "nothing was sent") {
		t.Errorf("EXPLAIN: %d rows (want %d), summary %q", len(rows), len(files), sum)
	}
	if got := e.srv.Stats().Requests - before; got != 0 {
		t.Errorf("EXPLAIN sent %d requests", got)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("EXPLAIN made the folder: %v", err)
	}

	rows, sum = e.run(`BACKUP TO '` + dir + `'`)
	t.Log(sum)
	ok := 0
	for _, r := range rows {
		if r["status"] == "ok" {
			ok++
		} else {
			t.Errorf("row %v", r)
		}
	}
	if ok != len(files) {
		t.Errorf("%d ok rows, want %d", ok, len(files))
	}
	m := e.checkFiles(dir, files)
	// The default NAMING: {yyyy}/{mm}/{name}.
	for _, id := range files[:5] {
		rec := m.byID[id]
		want := rec.ContentDate.Format("2006/01") + "/"
		if !strings.HasPrefix(rec.Path, want) {
			t.Errorf("%s at %s, want under %s", id, rec.Path, want)
		}
	}

	// A re-run with nothing new fetches nothing.
	before = e.srv.Stats().Requests
	rows, sum = e.run(`BACKUP TO '` + dir + `'`)
	if len(rows) != 0 || e.srv.Stats().Requests != before {
		t.Errorf("re-run: %d rows, %d requests; %s", len(rows), e.srv.Stats().Requests-before, sum)
	}

	// Edited locally: reported, kept.
	edited := m.byID[files[0]]
	ep := filepath.Join(dir, filepath.FromSlash(edited.Path))
	if err := os.WriteFile(ep, []byte("my edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Deleted locally: fetched again.
	gone := m.byID[files[1]]
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(gone.Path))); err != nil {
		t.Fatal(err)
	}
	rows, _ = e.run(`BACKUP TO '` + dir + `'`)
	if len(rows) != 2 {
		t.Errorf("after an edit and a removal: %d rows %v, want 2", len(rows), rows)
	}
	for _, r := range rows {
		switch r["id"] {
		case files[0]:
			if r["status"] != "skipped" || !strings.Contains(r["detail"], "edited locally") {
				t.Errorf("edited file: %v", r)
			}
		case files[1]:
			if r["status"] != "ok" || !strings.Contains(r["detail"], "missing locally") {
				t.Errorf("removed file: %v", r)
			}
		}
	}
	if b, _ := os.ReadFile(ep); string(b) != "my edit" {
		t.Errorf("the edited file was overwritten: %q", b)
	}

	// A new node with a taken name: " (2)"; the old one keeps its path.
	old := m.byID[files[2]]
	name := filepath.Base(old.Path)
	id, err := e.srv.Upload("/Elsewhere", strings.ToUpper(name), []byte("new bytes"))
	if err != nil {
		t.Fatal(err)
	}
	e.run(`SYNC`)
	if _, err := e.db.Exec(t.Context(), `UPDATE nodes SET contentDate = ? WHERE id = ?`, *old.ContentDate, id); err != nil {
		t.Fatal(err)
	}
	rows, _ = e.run(`BACKUP TO '` + dir + `'`)
	m = readManifestT(t, dir)
	if m.byID[files[2]].Path != old.Path {
		t.Errorf("the old node moved from %s to %s", old.Path, m.byID[files[2]].Path)
	}
	ext := filepath.Ext(name)
	want := filepath.ToSlash(filepath.Join(filepath.Dir(old.Path), strings.ToUpper(strings.TrimSuffix(name, ext))+" (2)"+strings.ToUpper(ext)))
	if got := m.byID[id]; got == nil || got.Path != want {
		t.Errorf("the new node %s: %+v, want path %s; rows %v", id, got, want, rows)
	}
}

// TestBackupBadInput: a damaged manifest, one from a newer apsql, a
// folder locked by another BACKUP and a folder inside another backup are
// refused with an error naming the fix, and nothing is written; a torn
// last line (a crash mid-write) is dropped and the file it recorded is
// found again by its md5; an interrupted download's part file is resumed.
func TestBackupBadInput(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 60, Seed: 5}, "SYNC")
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP TO '` + dir + `'`)
	mpath := filepath.Join(dir, metaDir, manifestName)
	good, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")

	for _, c := range []struct {
		name, content string
		want          error
	}{
		{"damaged", lines[0] + "{not json\n" + strings.Join(lines[1:], ""), ErrDamagedManifest},
		{"newer", `{"format":"apsql-backup","version":99}` + "\n", ErrNewerManifest},
		{"foreign", `{"hello":1}` + "\n", ErrDamagedManifest},
	} {
		if err := os.WriteFile(mpath, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.try(`BACKUP TO '` + dir + `'`)
		if !errors.Is(err, c.want) {
			t.Errorf("%s manifest: %v, want %v", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
		if b, _ := os.ReadFile(mpath); string(b) != c.content {
			t.Errorf("%s manifest was changed", c.name)
		}
	}

	// A torn last line: dropped; the file it recorded is adopted again.
	last := lines[len(lines)-2]
	torn := strings.Join(lines[:len(lines)-2], "") + last[:len(last)/2]
	if err := os.WriteFile(mpath, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	before := e.srv.Stats().Requests
	rows, sum := e.run(`BACKUP TO '` + dir + `'`)
	if len(rows) != 1 || !strings.Contains(rows[0]["detail"], "already there") || e.srv.Stats().Requests != before {
		t.Errorf("after a torn line: rows %v, %d requests; %s", rows, e.srv.Stats().Requests-before, sum)
	}

	// Locked by another BACKUP.
	lk, err := takeLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.try(`BACKUP TO '` + dir + `'`); !errors.Is(err, ErrLocked) {
		t.Errorf("a locked folder: %v", err)
	}
	lk.release()

	// Inside another backup.
	if _, _, err := e.try(`BACKUP TO '` + filepath.Join(dir, "2020") + `'`); !errors.Is(err, ErrNestedBackup) {
		t.Errorf("a folder inside a backup: %v", err)
	}

	// An interrupted download: its part file is resumed.
	m := readManifestT(t, dir)
	var id string
	for k, r := range m.byID {
		if r.Size > 1000 {
			id = k
			break
		}
	}
	rec := m.byID[id]
	p := filepath.Join(dir, filepath.FromSlash(rec.Path))
	data, _ := os.ReadFile(p)
	os.Remove(p)
	if err := os.WriteFile(fetch.PartName(p), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	rows, _ = e.run(`BACKUP TO '` + dir + `'`)
	if got, _ := os.ReadFile(p); !bytes.Equal(got, data) || len(rows) != 1 || !strings.Contains(rows[0]["detail"], "fetched") {
		t.Errorf("resume: rows %v, file %d bytes of %d", rows, len(got), len(data))
	}
	if _, err := os.Stat(fetch.PartName(p)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the part file is left: %v", err)
	}
}

// TestBackupNames: names that collide only by case get their own files
// (as a case-insensitive file system needs), hostile names stay inside the
// folder, cleaned, and a template that would climb out is refused.
func TestBackupNames(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 17}, "SYNC")
	files := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 5`)
	names := []string{"Photo.JPG", "photo.jpg", "../../escape.jpg", "\u202egpj.exe", ".hidden"}
	for i, id := range files {
		if _, err := e.db.Exec(t.Context(), `UPDATE nodes SET name = ?, contentDate = TIMESTAMP '2020-05-01 10:00:00' WHERE id = ?`, names[i], id); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP ` + `WHERE id IN ('` + strings.Join(files, `', '`) + `') TO '` + dir + `'`)
	m := e.checkFiles(dir, files)
	seen := map[string]string{}
	for _, id := range files {
		p := m.byID[id].Path
		if other, ok := seen[strings.ToLower(p)]; ok {
			t.Errorf("%s and %s share %s (folded)", id, other, p)
		}
		seen[strings.ToLower(p)] = id
		if !strings.HasPrefix(p, "2020/05/") || slices.Contains(strings.Split(p, "/"), "..") || strings.Contains(p, "\u202e") || strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("%s: path %q", id, p)
		}
	}
	t.Log(seen)
	if _, _, err := e.try(`BACKUP TO '` + dir + `' (NAMING '../{name}')`); err == nil || !strings.Contains(err.Error(), "leave the target") {
		t.Errorf("a climbing template: %v", err)
	}
}

// TestBackupChangedInCloud: a node whose content changed in the cloud
// (UPLOAD ... ON CONFLICT REPLACE, a new md5) is fetched again into the
// path it already had, its record updated; nothing else is fetched.
func TestBackupChangedInCloud(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 50, Seed: 23}, "SYNC")
	dir := filepath.Join(t.TempDir(), "bk")
	e.run(`BACKUP TO '` + dir + `'`)
	m := readManifestT(t, dir)
	id := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	folder, _, _ := e.srv.PathOf(id)
	name := e.strings(`SELECT name FROM nodes WHERE id = ?`, id)[0]
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, []byte("the new content"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.run(`UPLOAD '` + src + `' TO '` + strings.TrimPrefix(folder, "/") + `' ON CONFLICT REPLACE`)
	e.run(`SYNC`)
	rows, _ := e.run(`BACKUP TO '` + dir + `'`)
	if len(rows) != 1 || rows[0]["id"] != id || !strings.Contains(rows[0]["detail"], "changed in the cloud") {
		t.Errorf("rows %v", rows)
	}
	m2 := e.checkFiles(dir, e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id`))
	if m2.byID[id].Path != m.byID[id].Path {
		t.Errorf("the changed node moved from %s to %s", m.byID[id].Path, m2.byID[id].Path)
	}
}

// TestBackupNeverWritesThroughLinks: a dated folder of the backup that
// became a symbolic link (to a folder outside) is never written through:
// the file whose folder it is fails, naming the link; nothing lands
// outside.
func TestBackupNeverWritesThroughLinks(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 29}, "SYNC")
	id := e.strings(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if _, err := e.db.Exec(t.Context(), `UPDATE nodes SET contentDate = TIMESTAMP '2019-07-01 10:00:00' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bk")
	outside := t.TempDir()
	os.MkdirAll(dir, 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "2019")); err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`BACKUP '` + id + `' TO '` + dir + `'`)
	if len(rows) != 1 || rows[0]["status"] != "failed" || !strings.Contains(rows[0]["detail"], "2019 in "+dir+" is a symbolic link") {
		t.Errorf("rows %v (%s), want one failed naming the link", rows, sum)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("%d entries written through the linked folder", len(ents))
	}
}
