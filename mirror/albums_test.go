package mirror

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// albumTruth is the emulator's albums: album id → sorted member ids.
func albumTruth(t *testing.T, srv *emulator.Server) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for id := range srv.Albums() {
		m, ok := srv.AlbumMembers(id)
		if !ok {
			t.Fatalf("album %s vanished", id)
		}
		slices.Sort(m)
		out[id] = m
	}
	return out
}

// albumMirror is album_members as album id → sorted member ids.
func (e *env) albumMirror(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := e.db.Query(t.Context(), `SELECT albumId, id FROM album_members ORDER BY albumId, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var a, id string
		if err := rows.Scan(&a, &id); err != nil {
			t.Fatal(err)
		}
		out[a] = append(out[a], id)
	}
	// Albums without members have no rows: take them from albums.
	for _, a := range e.strings(t, `SELECT id FROM albums`) {
		if _, ok := out[a]; !ok {
			out[a] = nil
		}
	}
	return out
}

func (e *env) strings(t *testing.T, q string) []string {
	t.Helper()
	rows, err := e.db.Query(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func diffAlbums(got, want map[string][]string) string {
	var b strings.Builder
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			fmt.Fprintf(&b, "album %s missing; ", id)
		} else if !slices.Equal(g, w) {
			fmt.Fprintf(&b, "album %s: %d members, want %d; ", id, len(g), len(w))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			fmt.Fprintf(&b, "album %s is not on the service; ", id)
		}
	}
	return b.String()
}

// TestSyncAlbumsDifferential: album_members after SYNC ALBUMS equals the
// emulator's albums exactly, with albums of several pages (one past 200,
// one past 600), listed 4 at a time under injected faults, 20 times over
// while the albums change between runs.
func TestSyncAlbumsDifferential(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 3000, Seed: 11})
	e.mustSync(t, "SYNC NODES")
	// Albums take processed photos (with image properties) only.
	ids := e.strings(t, `SELECT id FROM nodes WHERE width IS NOT NULL AND status = 'AVAILABLE' ORDER BY id`)
	if len(ids) < 1300 {
		t.Fatalf("only %d processed photos and videos", len(ids))
	}
	big, err := e.srv.CreateAlbum("Big", ids[:650]...)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := e.srv.CreateAlbum("Mid", ids[1000:1201]...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.CreateAlbum("Empty"); err != nil {
		t.Fatal(err)
	}
	// Pages fail now and then (500, 503, cut connections): retried pages
	// must not add or lose a member.
	e.srv.SetFaults(0, 0.03, 0.02, 0)
	for k := range 20 {
		switch k % 4 {
		case 1: // more members, one more page
			if err := e.srv.AddAlbumMembers(big, ids[650+k*10:660+k*10]...); err != nil {
				t.Fatal(err)
			}
		case 2: // a member trashed stays listed; one purged leaves
			if err := e.srv.TrashIDs(ids[1000+k]); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.PurgeIDs(ids[1000+k]); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := e.srv.Rename(mid, fmt.Sprintf("Mid %d", k)); err != nil {
				t.Fatal(err)
			}
		}
		e.mustSync(t, "SYNC ALBUMS")
		e.srv.SetFaults(0, 0, 0, 0)
		want := albumTruth(t, e.srv)
		if d := diffAlbums(e.albumMirror(t), want); d != "" {
			t.Fatalf("run %d: %s", k, d)
		}
		for id, m := range want {
			if n := e.queryInt(t, fmt.Sprintf(`SELECT count FROM albums WHERE id = '%s'`, id)); n != int64(len(m)) {
				t.Fatalf("run %d: albums.count of %s = %d, want %d", k, id, n, len(m))
			}
		}
		e.srv.SetFaults(0, 0.03, 0.02, 0)
	}
	e.srv.SetFaults(0, 0, 0, 0)
	if got := e.strings(t, `SELECT name FROM albums WHERE id = '`+mid+`'`); len(got) != 1 || !strings.HasPrefix(got[0], "Mid ") {
		t.Errorf("renamed album: %v", got)
	}
	if n := e.queryInt(t, `SELECT count(*) FROM albums WHERE coverNodeId IS NULL AND count > 0`); n != 0 {
		t.Errorf("%d albums with members have no cover", n)
	}
}

// TestFullSyncKeepsAlbums: a plain SYNC fills albums and people and a
// second one keeps them (albums are not nodes of the photo listing).
func TestFullSyncKeepsAlbums(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 1500, Seed: 5})
	got := e.mustSync(t, "SYNC")
	for _, tb := range []string{"nodes", "folders", "albums", "album_members", "people", "usage"} {
		if _, ok := got[tb]; !ok {
			t.Errorf("plain SYNC: no row for %s in %v", tb, got)
		}
	}
	n := e.queryInt(t, `SELECT count(*) FROM albums`)
	if n != int64(len(e.srv.Albums())) || n == 0 {
		t.Fatalf("albums: %d rows, want %d", n, len(e.srv.Albums()))
	}
	e.mustSync(t, "SYNC")
	if m := e.queryInt(t, `SELECT count(*) FROM albums`); m != n {
		t.Errorf("second SYNC: %d albums, want %d", m, n)
	}
	if d := diffAlbums(e.albumMirror(t), albumTruth(t, e.srv)); d != "" {
		t.Error(d)
	}
}

// TestPeopleAndSearchData: SYNC PEOPLE fills people from the service's
// clusters, and aggregations.searchData is a JSON object (->> reads it).
func TestPeopleAndSearchData(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 2000, Seed: 3})
	e.mustSync(t, "SYNC AGGREGATIONS")
	if n := e.queryInt(t, `SELECT count(*) FROM aggregations WHERE category = 'people' AND (searchData->>'clusterId') = value`); n == 0 {
		t.Errorf("no people aggregation has searchData->>'clusterId' equal to its value")
	}
	if n := e.queryInt(t, `SELECT count(*) FROM aggregations WHERE category = 'location' AND (searchData->'locationInfo'->>'city') IS NOT NULL`); n == 0 {
		t.Errorf("no location aggregation has searchData->'locationInfo'->>'city'")
	}
	e.mustSync(t, "SYNC PEOPLE")
	want := e.srv.People()
	if n := e.queryInt(t, `SELECT count(*) FROM people`); n != int64(len(want)) || n == 0 {
		t.Fatalf("people: %d rows, want %d", n, len(want))
	}
	for _, p := range want {
		var name string
		var count int64
		if err := e.db.QueryRow(t.Context(), `SELECT name, count FROM people WHERE clusterId = ? AND (raw->>'value') = clusterId`, p.ClusterID).Scan(&name, &count); err != nil {
			t.Fatalf("person %s: %v", p.ClusterID, err)
		}
		if name != p.Name || count != int64(p.Count) {
			t.Errorf("person %s: %q %d, want %q %d", p.ClusterID, name, count, p.Name, p.Count)
		}
	}
}
