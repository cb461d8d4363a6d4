package actions

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/fetch"
)

func TestDownloadBackupFidelity(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40}, 0)
	// Four photos in no album of the synthetic library.
	before, err := albumsOf(t.Context(), e.db, func(context.Context) (*fetch.Client, error) { return e.c, nil })
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, id := range e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND width IS NOT NULL ORDER BY id`) {
		if len(before[id]) == 0 && len(ids) < 4 {
			ids = append(ids, id)
		}
	}
	// Two nodes in two folders take one name: both map to same.jpg.
	if _, err := e.srv.MkdirAll("Other/Deep"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Move(ids[1], "Other/Deep"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:2] {
		if err := e.srv.Rename(id, "same.jpg"); err != nil {
			t.Fatal(err)
		}
	}
	// Albums: ids[2] is in one, ids[3] in two.
	if _, err := e.srv.CreateAlbum("Trip", ids[2], ids[3]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.CreateAlbum("Best", ids[3]); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	e.syncFolders()
	// The fallback of mtime is createdDate.
	e.exec(`UPDATE nodes SET contentDate = NULL WHERE id = ?`, ids[2])
	dir := t.TempDir()
	sel := `(SELECT id FROM nodes WHERE id IN ` + idList(ids) + `)`

	rows, sum := e.run(`DOWNLOAD ` + sel + ` TO '` + dir + `' (NAMING '{name}')`)
	if st := byStatus(rows); len(st[StatusOK]) != 4 {
		t.Fatalf("download: %v (%s)", rows, sum)
	}
	check := func(id, rel string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		want, _ := e.srv.Content(id)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: %s does not hold the node's bytes (%v)", id, rel, err)
		}
		fi, _ := os.Stat(filepath.Join(dir, rel))
		var when time.Time
		if err := e.db.QueryRow(t.Context(), `SELECT coalesce(contentDate, createdDate) FROM nodes WHERE id = ?`, id).Scan(&when); err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(when) {
			t.Errorf("%s: mtime %v, want the node's date %v", rel, fi.ModTime().UTC(), when.UTC())
		}
	}
	// The smaller id keeps the name; the other gets " (2)".
	first, second := ids[0], ids[1]
	check(first, "same.jpg")
	check(second, "same (2).jpg")
	check(ids[2], e.ids(`SELECT name FROM nodes WHERE id = ?`, ids[2])[0])
	// A re-run names them the same way and finds them present.
	rows, _ = e.run(`DOWNLOAD ` + sel + ` TO '` + dir + `' (NAMING '{name}')`)
	if st := byStatus(rows); len(st[StatusSkipped]) != 4 {
		t.Errorf("re-run: %v", rows)
	}

	// {path}: the node's folder path; {album}: its one album, else "_".
	dir2 := t.TempDir()
	rows, sum = e.run(`DOWNLOAD ` + sel + ` TO '` + dir2 + `' (NAMING '{path}/{album}/{id}.{ext}')`)
	if st := byStatus(rows); len(st[StatusOK]) != 4 {
		t.Fatalf("download {path}: %v (%s)", rows, sum)
	}
	for i, id := range ids {
		folder, _, _ := e.srv.PathOf(id)
		album := map[int]string{2: "Trip"}[i]
		if album == "" {
			album = "_"
		}
		ext := e.ids(`SELECT '.' || extension FROM nodes WHERE id = ?`, id)[0]
		rel := filepath.Join(filepath.FromSlash(folder), album, id+ext)
		if _, err := os.Stat(filepath.Join(dir2, rel)); err != nil {
			t.Errorf("%s: want %s: %v", id, rel, err)
		}
	}
	// An ALBUM target names {album} after itself, also for a node that is
	// in another album too (ids[3] is in Trip and Best).
	dir3 := t.TempDir()
	rows, sum = e.run(`DOWNLOAD ALBUM 'Best' TO '` + dir3 + `' (NAMING '{album}/{id}.{ext}')`)
	if st := byStatus(rows); len(st[StatusOK]) != 1 {
		t.Fatalf("download ALBUM 'Best': %v (%s)", rows, sum)
	}
	ext3 := e.ids(`SELECT '.' || extension FROM nodes WHERE id = ?`, ids[3])[0]
	if _, err := os.Stat(filepath.Join(dir3, "Best", ids[3]+ext3)); err != nil {
		t.Errorf("DOWNLOAD ALBUM 'Best' with {album}: %v", err)
	}
	if folder, _, _ := e.srv.PathOf(second); folder != "Other/Deep" {
		t.Errorf("the moved node is in %q", folder)
	}
	if _, _, err := e.try(t.Context(), `DOWNLOAD `+sel+` TO '`+dir2+`' (NAMING '{bogus}/{id}')`); err == nil || !strings.Contains(err.Error(), "{path}") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestDownloadFolderTarget(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40}, 0)
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 2`)
	if _, err := e.srv.MkdirAll("Box/Inner"); err != nil {
		t.Fatal(err)
	}
	_ = e.srv.Move(ids[0], "Box")
	_ = e.srv.Move(ids[1], "Box/Inner")
	e.mirror()
	e.syncFolders()
	box, _ := e.srv.FolderID("Box")
	rows, sum := e.run(`DOWNLOAD '` + box + `' TO '` + t.TempDir() + `'`)
	got := byStatus(rows)[StatusOK]
	if len(got) != 2 || !strings.Contains(strings.Join(got, " "), ids[0]) || !strings.Contains(strings.Join(got, " "), ids[1]) {
		t.Errorf("download of a folder: %v (%s)", rows, sum)
	}
}

func TestUploadTrailingSlash(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20}, 0)
	src := filepath.Join(t.TempDir(), "src")
	for p, body := range map[string]string{"a.txt": "alpha", "sub/b.txt": "beta"} {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	where := func(rows []row) map[string]string {
		out := map[string]string{}
		for _, r := range rows {
			if r.status == StatusOK && r.id != "" && !strings.HasSuffix(r.name, "/") {
				folder, _, _ := e.srv.PathOf(r.id)
				out[filepath.Base(r.name)] = folder
			}
		}
		return out
	}
	rows, _ := e.run(`UPLOAD '` + src + `/' TO 'U1' (DEDUP false)`)
	if got := where(rows); got["a.txt"] != "U1" || got["b.txt"] != "U1/sub" {
		t.Errorf("UPLOAD 'src/' put files in %v, want U1 and U1/sub", got)
	}
	rows, _ = e.run(`UPLOAD '` + src + `' TO 'U2' (DEDUP false)`)
	if got := where(rows); got["a.txt"] != "U2/src" || got["b.txt"] != "U2/src/sub" {
		t.Errorf("UPLOAD 'src' put files in %v, want U2/src and U2/src/sub", got)
	}
}
