package actions

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// albumTruth returns the members the service lists for album, sorted.
func (e *env) albumTruth(album string) []string {
	e.t.Helper()
	ids, ok := e.srv.AlbumMembers(album)
	if !ok {
		e.t.Fatalf("album %s is not on the service", album)
	}
	slices.Sort(ids)
	return ids
}

// TestAlbumTablesFollowActions: CREATE ALBUM, ALBUM ADD/REMOVE and RENAME
// ALBUM keep albums and album_members equal to the service's album; a full
// SYNC keeps them; ALBUM 'name' is a target for DOWNLOAD, EXPLAIN TRASH and
// LABEL; an unknown album name is an error naming SYNC ALBUMS.
func TestAlbumTablesFollowActions(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 400, Seed: 41}, 0)
	photos := e.ids(`SELECT id FROM nodes WHERE width IS NOT NULL AND contentType LIKE 'image/%' ORDER BY id LIMIT 12`)
	rows, sum := e.run(`CREATE ALBUM 'Trip' FROM (SELECT id FROM nodes WHERE id IN ` + idList(photos[:10]) + `)`)
	if st := byStatus(rows); len(st[StatusOK]) != 11 {
		t.Fatalf("CREATE ALBUM: %v (%s)", st, sum)
	}
	album, ok := e.srv.AlbumID("Trip")
	if !ok {
		t.Fatal("the service has no album Trip")
	}
	check := func(step string, wantName string) {
		t.Helper()
		truth := e.albumTruth(album)
		got := e.ids(`SELECT id FROM album_members WHERE albumId = ? ORDER BY id`, album)
		if !slices.Equal(got, truth) {
			t.Fatalf("%s: album_members %v, want the service's %v", step, got, truth)
		}
		var name string
		var count int
		if err := e.db.QueryRow(t.Context(), `SELECT name, count FROM albums WHERE id = ?`, album).Scan(&name, &count); err != nil {
			t.Fatalf("%s: albums row: %v", step, err)
		}
		if name != wantName || count != len(truth) {
			t.Fatalf("%s: albums row %q with count %d, want %q with %d", step, name, count, wantName, len(truth))
		}
		if n := e.count(`SELECT count(*) FROM nodes WHERE kind = 'VISUAL_COLLECTION'`); n != 0 {
			t.Fatalf("%s: %d albums in nodes, want them only in albums", step, n)
		}
	}
	check("create", "Trip")
	rows, _ = e.run(`ALBUM 'Trip' REMOVE '` + photos[0] + `', '` + photos[1] + `', '` + photos[2] + `'`)
	if st := byStatus(rows); len(st[StatusOK]) != 3 {
		t.Fatalf("ALBUM REMOVE: %v", st)
	}
	check("remove", "Trip")
	rows, _ = e.run(`ALBUM 'Trip' ADD '` + photos[10] + `', '` + photos[0] + `'`)
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Fatalf("ALBUM ADD: %v", st)
	}
	check("add", "Trip")
	e.run(`RENAME ALBUM 'Trip' TO 'Trip 2024'`)
	check("rename", "Trip 2024")
	// A full SYNC (nodes, then albums) keeps the album.
	res, err := e.s.Run(t.Context(), "SYNC")
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	check("after SYNC", "Trip 2024")

	dir := t.TempDir()
	rows, sum = e.run(`DOWNLOAD ALBUM 'Trip 2024' TO '` + dir + `'`)
	truth := e.albumTruth(album)
	if st := byStatus(rows); len(st[StatusOK]) != len(truth) || len(rows) != len(truth) {
		t.Fatalf("DOWNLOAD ALBUM: %v (%s), want %d ok", st, sum, len(truth))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != len(truth) {
		t.Errorf("DOWNLOAD ALBUM wrote %d files, want %d", len(files), len(truth))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		id := filepath.Base(f)[:22] // NAMING {id}_{name}; ids are 22 characters
		if want, ok := e.srv.Content(id); !ok || !slices.Equal(b, want) || !slices.Contains(truth, id) {
			t.Errorf("%s: not the bytes of album member %s", f, id)
		}
	}
	before := len(e.rec.reqs)
	rows, _ = e.run(`EXPLAIN TRASH ALBUM 'Trip 2024'`)
	if st := byStatus(rows); len(st[statusPlanned]) != len(truth) || len(e.rec.reqs) != before {
		t.Errorf("EXPLAIN TRASH ALBUM: %v, %d requests sent, want %d planned and none", st, len(e.rec.reqs)-before, len(truth))
	}
	if st, err := parseLabelNodes(`ALBUM 'Trip 2024' USING 'm.onnx'`); err != nil || st.target.kind != targetAlbum || st.target.album != "Trip 2024" {
		t.Errorf("LABEL ALBUM target: %+v, %v", st.target, err)
	}
	_, _, err = e.try(t.Context(), `DOWNLOAD ALBUM 'Nope' TO '`+dir+`'`)
	if err == nil || !strings.Contains(err.Error(), "SYNC ALBUMS") || !strings.Contains(err.Error(), "'Nope'") {
		t.Errorf("unknown album: %v, want an error naming the album and SYNC ALBUMS", err)
	}
}
