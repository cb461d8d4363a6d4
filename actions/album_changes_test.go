package actions

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
	"github.com/apsql/apsql/model"
)

// rowsOf returns each row of a small table (albums, people) by key, every
// column as text.
func (e *env) rowsOf(table string) map[string]map[string]string {
	e.t.Helper()
	tb, _ := model.Lookup(table)
	var cols []string
	for _, c := range tb.Columns {
		cols = append(cols, fmt.Sprintf(`coalesce(CAST(%q AS VARCHAR), '<null>')`, c.Name))
	}
	rows, err := e.db.Query(e.t.Context(), `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		r := map[string]string{}
		for i, c := range tb.Columns {
			r[c.Name] = vals[i]
		}
		out[r[tb.Key]] = r
	}
	return out
}

// diffRows is what changed between two snapshots of a table: "added",
// "removed" or "changed [fields]" by key, fields in the table's order.
func diffRows(table string, before, after map[string]map[string]string) map[string]string {
	tb, _ := model.Lookup(table)
	out := map[string]string{}
	for k, a := range after {
		b, ok := before[k]
		if !ok {
			out[k] = "added"
			continue
		}
		var fields []string
		for _, c := range tb.Columns {
			if a[c.Name] != b[c.Name] {
				fields = append(fields, c.Name)
			}
		}
		if len(fields) > 0 {
			out[k] = "changed [" + strings.Join(fields, ", ") + "]"
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = "removed"
		}
	}
	return out
}

// recorded returns the change rows of statement in table, as diffRows
// writes them, and how many sync ids they have.
func (e *env) recorded(statement, table string) (map[string]string, int) {
	e.t.Helper()
	out := map[string]string{}
	for _, s := range e.ids(`SELECT id || '|' || change || coalesce(' [' || array_to_string(fields, ', ') || ']', '') FROM changes
WHERE statement = ? AND in_table = ? AND by_apsql`, statement, table) {
		id, what, _ := strings.Cut(s, "|")
		if _, dup := out[id]; dup {
			e.t.Errorf("%s recorded %s in %s twice", statement, id, table)
		}
		out[id] = what
	}
	return out, e.count(`SELECT count(DISTINCT sync_id) FROM changes WHERE statement = ? AND in_table = ?`, statement, table)
}

// TestAlbumAndPeopleActionsRecordChanges: CREATE ALBUM, ALBUM REMOVE,
// RENAME ALBUM, RENAME PERSON, MERGE PEOPLE and SET COVER record in
// changes (by_apsql, one sync id per statement) exactly the rows of
// albums, album_members and people they changed: the members the
// emulator's album gained or lost, and for each row the fields that
// differ; the tables then equal the service's, so a SYNC right after
// records nothing more for them.
func TestAlbumAndPeopleActionsRecordChanges(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 1500, Seed: 43}, 0)
	e.syncPeople()
	photos := e.ids(`SELECT id FROM nodes WHERE width IS NOT NULL AND contentType LIKE 'image/%' ORDER BY id LIMIT 10`)

	// step runs stmt and checks that the changes it recorded in table are
	// exactly the difference of the table before and after.
	step := func(stmt, statement string, tables ...string) {
		t.Helper()
		before := map[string]map[string]map[string]string{}
		for _, tb := range tables {
			before[tb] = e.rowsOf(tb)
		}
		if rows, sum := e.run(stmt); len(byStatus(rows)[StatusFailed]) > 0 {
			t.Fatalf("%s: %+v (%s)", stmt, rows, sum)
		}
		for _, tb := range tables {
			want := diffRows(tb, before[tb], e.rowsOf(tb))
			got, ids := e.recorded(statement, tb)
			if len(want) == 0 || !maps.Equal(got, want) || ids != 1 {
				t.Errorf("%s recorded in %s (%d sync ids):\n%v\nwant the table's change:\n%v", statement, tb, ids, got, want)
			}
		}
	}
	step(`CREATE ALBUM 'Trip' FROM (SELECT id FROM nodes WHERE id IN `+idList(photos)+`)`, "CREATE ALBUM", "albums")
	album, ok := e.srv.AlbumID("Trip")
	if !ok {
		t.Fatal("the service has no album Trip")
	}
	members := func(statement, change string) []string {
		return e.ids(`SELECT id FROM changes WHERE statement = ? AND in_table = 'album_members' AND album_id = ? AND change = ? AND by_apsql ORDER BY id`, statement, album, change)
	}
	if got := members("CREATE ALBUM", "added"); !slices.Equal(got, e.albumTruth(album)) {
		t.Errorf("CREATE ALBUM recorded members %v, want the service's %v", got, e.albumTruth(album))
	}
	step(`ALBUM 'Trip' REMOVE '`+photos[0]+`', '`+photos[1]+`'`, "ALBUM REMOVE", "albums")
	if got, truth := members("ALBUM REMOVE", "removed"), e.albumTruth(album); !slices.Equal(got, sorted(photos[:2])) || slices.Contains(truth, photos[0]) || len(truth) != 8 {
		t.Errorf("ALBUM REMOVE recorded members %v, want %v (the service holds %d)", got, sorted(photos[:2]), len(truth))
	}
	step(`RENAME ALBUM 'Trip' TO 'Trip 2024'`, "RENAME ALBUM", "albums")
	if id, ok := e.srv.AlbumID("Trip 2024"); !ok || id != album {
		t.Errorf("the service has no album Trip 2024 after RENAME ALBUM")
	}

	var mom, dad emulator.Person
	for _, p := range e.srv.People() {
		switch p.Name {
		case "Mom":
			mom = p
		case "Dad":
			dad = p
		}
	}
	step(`RENAME PERSON 'Mom' TO 'Mother'`, "RENAME PERSON", "people")
	step(`MERGE PEOPLE 'Mother', 'Dad' INTO 'Parents'`, "MERGE PEOPLE", "people")
	if got, _ := e.recorded("MERGE PEOPLE", "people"); got[dad.ClusterID] != "removed" || !strings.HasPrefix(got[mom.ClusterID], "changed [name, count") {
		t.Errorf("MERGE PEOPLE recorded %v, want Dad's cluster removed and Mom's renamed with a new count", got)
	}
	e.peopleTable("merge")
	photosOf, _ := e.srv.IDs("people:(" + mom.ClusterID + ")")
	var cover string
	for _, id := range photosOf {
		if n, ok := e.node(id); ok && n.Status == "AVAILABLE" && id != e.ids(`SELECT coalesce(coverNodeId, '') FROM people WHERE clusterId = ?`, mom.ClusterID)[0] {
			cover = id
		}
	}
	step(`SET COVER OF PERSON 'Parents' TO '`+cover+`'`, "SET COVER", "people")
	e.peopleTable("cover")

	last := e.count(`SELECT max(sync_id) FROM changes`)
	res, err := e.s.Run(t.Context(), "SYNC")
	if err != nil {
		t.Fatal(err)
	}
	res.Rows.Release()
	if got := e.ids(fmt.Sprintf(`SELECT statement || ' ' || in_table || ' ' || id || ' ' || change FROM changes WHERE sync_id > %d AND in_table IN ('albums', 'album_members', 'people')`, last)); len(got) != 0 {
		t.Errorf("the SYNC after the actions recorded %v again", got)
	}
}

// TestRenameAlbumRechecksTheService: RENAME ALBUM reads the album back
// right before renaming it: an album renamed elsewhere since the last
// SYNC ALBUMS is not renamed on the mirror's stale word (the other
// device's name stands), one already named as asked is skipped, and one
// deleted elsewhere fails naming SYNC ALBUMS; no PATCH is sent for any.
func TestRenameAlbumRechecksTheService(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 200, Seed: 9}, 0)
	for _, n := range []string{"A", "B", "C"} {
		if _, err := e.srv.CreateAlbum(n); err != nil {
			t.Fatal(err)
		}
	}
	e.mirror()
	a, _ := e.srv.AlbumID("A")
	b, _ := e.srv.AlbumID("B")
	c, _ := e.srv.AlbumID("C")
	if err := e.srv.Rename(a, "Elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(b, "B2"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(c); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(c); err != nil {
		t.Fatal(err)
	}
	e.rec.reset()
	for _, tc := range []struct {
		stmt   string
		status Status
		want   string
	}{
		{`RENAME ALBUM 'A' TO 'Mine'`, StatusFailed, "'Elsewhere'"},
		{`RENAME ALBUM 'B' TO 'B2'`, StatusSkipped, "already named 'B2'"},
		{`RENAME ALBUM 'C' TO 'C2'`, StatusFailed, "SYNC ALBUMS"},
	} {
		rows, sum, _ := e.try(t.Context(), tc.stmt)
		if len(rows) != 1 || rows[0].status != tc.status || !strings.Contains(rows[0].detail, tc.want) {
			t.Errorf("%s: %+v (%s), want one %s row naming %s", tc.stmt, rows, sum, tc.status, tc.want)
		}
	}
	if n := len(e.rec.matching("PATCH", "/nodes/")); n != 0 {
		t.Errorf("%d PATCH requests sent, want none", n)
	}
	if id, ok := e.srv.AlbumID("Elsewhere"); !ok || id != a {
		t.Errorf("the album renamed elsewhere lost its name: %v", e.srv.Albums())
	}
}

// TestMergePeopleMergedElsewhere: MERGE PEOPLE of a person merged away on
// another device since the last SYNC PEOPLE sends nothing (the merge would
// mean something else), fails each row naming the person gone, and leaves
// the people table equal to the service's.
func TestMergePeopleMergedElsewhere(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 1500, Seed: 43}, 0)
	e.syncPeople()
	people := e.srv.People()
	if len(people) < 3 {
		t.Fatalf("the library has %d people, want 3 or more", len(people))
	}
	a, b, c := people[0], people[1], people[2]
	if err := e.c.MergePeople(t.Context(), []string{c.ClusterID, b.ClusterID}, "Elsewhere", nil); err != nil {
		t.Fatal(err)
	}
	e.rec.reset()
	rows, sum, _ := e.try(t.Context(), `MERGE PEOPLE '`+a.ClusterID+`', '`+b.ClusterID+`' INTO 'Both'`)
	if st := byStatus(rows); len(st[StatusFailed]) != 2 || !strings.Contains(rows[1].detail, b.ClusterID+" is no longer on the service") {
		t.Errorf("MERGE PEOPLE of a person merged elsewhere: %+v (%s), want 2 failed rows naming %s", rows, sum, b.ClusterID)
	}
	if n := len(e.rec.matching("POST", "/cluster")); n != 0 {
		t.Errorf("%d POST /cluster requests sent, want none", n)
	}
	for _, p := range e.srv.People() {
		if p.ClusterID == a.ClusterID && p.Name != a.Name {
			t.Errorf("%s was renamed to %q", a.ClusterID, p.Name)
		}
	}
	e.peopleTable("after the refused merge")
}
