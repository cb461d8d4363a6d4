package actions

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// sameAlbums checks albums and album_members against the service: each
// album's members as GET /nodes/{album}/children lists them now, and its
// count, as SYNC ALBUMS would make them.
func (e *env) sameAlbums() {
	e.t.Helper()
	for _, id := range e.ids(`SELECT id FROM albums ORDER BY id`) {
		kids, err := e.c.Children(e.t.Context(), id, "")
		if err != nil {
			e.t.Fatal(err)
		}
		var want []string
		for _, k := range kids {
			want = append(want, k.ID)
		}
		got := e.ids(`SELECT id FROM album_members WHERE albumId = ? ORDER BY id`, id)
		if !slices.Equal(got, sorted(want)) {
			e.t.Errorf("album %s: album_members holds %d members, the service %d", id, len(got), len(want))
		}
		if n := e.count(`SELECT count FROM albums WHERE id = ?`, id); n != len(want) {
			e.t.Errorf("album %s: count %d, the service lists %d members", id, n, len(want))
		}
	}
}

// samePeople checks the people table's counts and covers against the
// service's people aggregation.
func (e *env) samePeople() {
	e.t.Helper()
	ps, err := e.c.People(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	var want []string
	for _, p := range ps {
		want = append(want, fmt.Sprintf("%s:%d:%s", p.ClusterID, p.Count, p.CoverNodeID))
	}
	got := e.ids(`SELECT clusterId || ':' || count || ':' || coalesce(coverNodeId, '') FROM people ORDER BY clusterId`)
	if !slices.Equal(got, sorted(want)) {
		e.t.Errorf("people: mirror %v, service %v", got, sorted(want))
	}
}

// TestDerivedTablesFollowActions (issue 16 item 5): TRASH, RESTORE and
// PURGE of album members keep albums, album_members, people and labels
// equal to the service, so DOWNLOAD ALBUM works after a PURGE without SYNC
// ALBUMS.
func TestDerivedTablesFollowActions(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 400, Seed: 20}, 0)
	members := e.ids(`SELECT id FROM nodes WHERE contentType LIKE 'image/%' ORDER BY id LIMIT 20`)
	if _, err := e.srv.CreateAlbum("Vows 16", members...); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	if res, err := e.s.Run(t.Context(), "SYNC PEOPLE"); err != nil {
		t.Fatal(err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	e.exec(`INSERT INTO labels (source, id, rank, label, prob) SELECT 'node', id, 1, 'cake', 0.9 FROM nodes WHERE id IN (` + quoteIDs(members) + `)`)
	e.sameAlbums()
	e.samePeople()
	e.s.Yes = true
	// People's photos among the members make the counts move.
	gone := members[:5]

	rows, sum := e.run(`TRASH ` + quoteIDs(gone))
	if st := byStatus(rows); len(st[StatusOK]) != 5 {
		t.Fatalf("TRASH: %v (%s)", st, sum)
	}
	e.sameAlbums()
	e.samePeople()
	rows, sum = e.run(`RESTORE ` + quoteIDs(gone[:2]))
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Fatalf("RESTORE: %v (%s)", st, sum)
	}
	e.sameAlbums()
	e.samePeople()
	rows, sum = e.run(`PURGE ` + quoteIDs(gone[2:]))
	if st := byStatus(rows); len(st[StatusOK]) != 3 {
		t.Fatalf("PURGE: %v (%s)", st, sum)
	}
	e.sameAlbums()
	e.samePeople()
	if n := e.count(`SELECT count(*) FROM labels WHERE id IN (` + quoteIDs(gone[2:]) + `)`); n != 0 {
		t.Errorf("%d labels rows of purged nodes are left", n)
	}
	if n := e.count(`SELECT count(*) FROM labels`); n != 17 {
		t.Errorf("labels holds %d rows, want the 17 of the nodes still there", n)
	}
	dir := filepath.Join(t.TempDir(), "wedding")
	rows, sum = e.run(`DOWNLOAD ALBUM 'Vows 16' TO '` + dir + `'`)
	if st := byStatus(rows); len(st[StatusOK]) != 17 || len(st[StatusFailed]) != 0 {
		var bad []string
		for _, r := range rows {
			if r.status != StatusOK {
				bad = append(bad, string(r.status)+": "+r.detail)
			}
		}
		t.Fatalf("DOWNLOAD ALBUM after the PURGE: %d ok, %d failed (%s): %s", len(st[StatusOK]), len(st[StatusFailed]), sum, strings.Join(bad, "; "))
	}
	// The emulator's own count of the album's live members agrees.
	if n := e.srv.State().Albums["Vows 16"]; n != 17 {
		t.Errorf("the service's album holds %d live members, want 17", n)
	}
}
