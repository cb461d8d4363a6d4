package mirror

import (
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// libSnap is the emulator's own state of what the changes table covers,
// read without HTTP: the truth the changes of a SYNC are checked against.
type libSnap struct {
	nodes   map[string]truthNode // photos and videos
	members map[string]bool      // "albumId/id"
	albums  map[string]string    // album id → its node JSON and member count
	people  map[string]string    // cluster id → name, count, cover
}

func (e *env) snap(t *testing.T) libSnap {
	t.Helper()
	ids, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	s := libSnap{nodes: map[string]truthNode{}, members: map[string]bool{}, albums: map[string]string{}, people: map[string]string{}}
	for _, n := range e.truth(t, ids) {
		s.nodes[n.ID] = n
	}
	for a, m := range albumTruth(t, e.srv) {
		for _, id := range m {
			s.members[a+"/"+id] = true
		}
		raw, _ := e.srv.Node(a)
		s.albums[a] = fmt.Sprintf("%s %d", raw, len(m))
	}
	for _, p := range e.srv.People() {
		s.people[p.ClusterID] = fmt.Sprintf("%s|%d|%s", p.Name, p.Count, p.Cover)
	}
	return s
}

// diffKeys returns what was added, removed and changed from before to after.
func diffKeys[V comparable](before, after map[string]V) (added, removed, changed []string) {
	for k, v := range after {
		if w, ok := before[k]; !ok {
			added = append(added, k)
		} else if w != v {
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			removed = append(removed, k)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return
}

// wantChanges are the rows of one SYNC in changes, as "table change key".
func wantChanges(before, after libSnap) []string {
	var want []string
	add := func(table string, a, r, c []string) {
		for _, k := range a {
			want = append(want, table+" added "+k)
		}
		for _, k := range r {
			want = append(want, table+" removed "+k)
		}
		for _, k := range c {
			want = append(want, table+" changed "+k)
		}
	}
	// A node changes when its version does (Amazon bumps it on every change).
	bv, av := map[string]int64{}, map[string]int64{}
	for id, n := range before.nodes {
		bv[id] = n.Version
	}
	for id, n := range after.nodes {
		av[id] = n.Version
	}
	a, r, c := diffKeys(bv, av)
	add("nodes", a, r, c)
	a, r, c = diffKeys(before.members, after.members)
	add("album_members", a, r, c)
	a, r, c = diffKeys(before.albums, after.albums)
	add("albums", a, r, c)
	a, r, c = diffKeys(before.people, after.people)
	add("people", a, r, c)
	sort.Strings(want)
	return want
}

// gotChanges reads the rows of sync id from changes in the same form.
func (e *env) gotChanges(t *testing.T, id int64) []string {
	t.Helper()
	got := e.strings(t, fmt.Sprintf(`SELECT in_table || ' ' || change || ' ' || CASE WHEN in_table = 'album_members' THEN album_id || '/' || id ELSE id END FROM changes WHERE sync_id = %d ORDER BY 1`, id))
	return got
}

func diffLists(got, want []string) string {
	var missing, extra []string
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		if g[x] {
			extra = append(extra, x+" (twice)")
		}
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
		if !g[x] {
			missing = append(missing, x)
		}
	}
	for _, x := range got {
		if !w[x] {
			extra = append(extra, x)
		}
	}
	if len(missing)+len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %d %v; not changed by the service %d %v", len(missing), missing[:min(len(missing), 8)], len(extra), extra[:min(len(extra), 8)])
}

// TestChangesNameWhatTheServiceChanged changes the library on the service
// between two SYNCs (uploads, trashes, purges, renames, album moves, a
// journaled TRASH of apsql) and checks that the second SYNC's rows in
// changes are exactly the difference of the emulator's own state before
// and after, with the right fields and by_apsql, and that unchanged nodes
// were not rewritten.
func TestChangesNameWhatTheServiceChanged(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 3000, Seed: 23})
	ctx := t.Context()
	e.mustSync(t, "SYNC")
	ids := e.strings(t, `SELECT id FROM nodes WHERE width IS NOT NULL AND status = 'AVAILABLE' ORDER BY id`)
	if len(ids) < 400 {
		t.Fatalf("only %d processed photos", len(ids))
	}
	albumA, err := e.srv.CreateAlbum("A", ids[0:10]...)
	if err != nil {
		t.Fatal(err)
	}
	albumB, err := e.srv.CreateAlbum("B", ids[10:15]...)
	if err != nil {
		t.Fatal(err)
	}
	e.mustSync(t, "SYNC")
	last := e.queryInt(t, `SELECT coalesce(max(sync_id), 0) FROM changes`)
	if n := e.queryInt(t, `SELECT count(*) FROM changes WHERE in_table = 'albums' AND change = 'added' AND id IN ('`+albumA+`', '`+albumB+`')`); n != 2 {
		t.Errorf("the two new albums are in changes %d times, want 2", n)
	}
	before := e.snap(t)
	var synced string
	if err := e.db.QueryRow(ctx, `SELECT CAST(max("syncedAt") AS VARCHAR) FROM nodes`).Scan(&synced); err != nil {
		t.Fatal(err)
	}

	// The service changes behind apsql's back.
	trashed := []string{ids[100], ids[101], ids[102]}
	if err := e.srv.TrashIDs(trashed...); err != nil {
		t.Fatal(err)
	}
	purged := ids[2] // a member of A: it leaves the album too
	if err := e.srv.TrashIDs(purged); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(purged); err != nil {
		t.Fatal(err)
	}
	renamed := []string{ids[200], ids[201]}
	for _, id := range renamed {
		if err := e.srv.Rename(id, "renamed-"+id+".jpg"); err != nil {
			t.Fatal(err)
		}
	}
	jpeg, _ := e.srv.Content(ids[300])
	uploaded, err := e.srv.Upload("Pictures/Web", "fresh.jpg", jpeg)
	if err != nil {
		t.Fatal(err)
	}
	moved := ids[5] // from album A to album B
	if err := e.srv.RemoveAlbumMembers(albumA, moved); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AddAlbumMembers(albumB, moved); err != nil {
		t.Fatal(err)
	}
	// apsql trashed ids[100] itself (journaled), but its mirror update did
	// not happen (an interrupted statement): SYNC finds it gone, by apsql.
	if _, err := e.db.Exec(ctx, `INSERT INTO actions_log (seq, "at", action, target, status, detail) VALUES (1000, now()::TIMESTAMP + INTERVAL 1 HOUR, 'TRASH', ?, 'ok', '')`, ids[100]); err != nil {
		t.Fatal(err)
	}
	after := e.snap(t)

	got := e.mustSync(t, "SYNC")
	id := e.queryInt(t, `SELECT coalesce(max(sync_id), 0) FROM changes`)
	if id <= last {
		t.Fatalf("the SYNC recorded no changes (sync_id %d, before %d)", id, last)
	}
	want := wantChanges(before, after)
	if d := diffLists(e.gotChanges(t, id), want); d != "" {
		t.Errorf("changes of the SYNC differ from what the emulator changed: %s", d)
	}
	for _, w := range []string{"nodes removed " + purged, "nodes added " + uploaded, "album_members removed " + albumA + "/" + moved, "album_members added " + albumB + "/" + moved} {
		if !slices.Contains(want, w) {
			t.Errorf("the emulator's own diff lacks %q: the test's mutations did not happen", w)
		}
	}
	if n := got["nodes"]; n.inserted != 1 || n.updated != 2 || n.removed != 4 {
		t.Errorf("SYNC nodes = %+v, want +1 ~2 -4", n)
	}
	// Fields and by_apsql.
	for _, r := range renamed {
		f := e.strings(t, fmt.Sprintf(`SELECT unnest(fields) FROM changes WHERE sync_id = %d AND id = '%s' AND in_table = 'nodes' ORDER BY 1`, id, r))
		if !slices.Contains(f, "name") || !slices.Contains(f, "version") || slices.Contains(f, "syncedAt") || slices.Contains(f, "md5") {
			t.Errorf("fields of renamed %s = %v, want name and version, not md5 or syncedAt", r, f)
		}
	}
	by := e.strings(t, fmt.Sprintf(`SELECT id FROM changes WHERE sync_id = %d AND change = 'removed' AND in_table = 'nodes' AND by_apsql ORDER BY id`, id))
	if !slices.Equal(by, []string{ids[100]}) {
		t.Errorf("removed by apsql: %v, want only the journaled %s", by, ids[100])
	}
	if n := e.queryInt(t, `SELECT count(*) FROM changes WHERE change = 'removed' AND NOT by_apsql AND in_table = 'nodes'`); n != 3 {
		t.Errorf("SELECT * FROM changes WHERE change = 'removed' AND NOT by_apsql finds %d nodes, want 3", n)
	}
	// Only the new and changed rows were written.
	if n := e.queryInt(t, `SELECT count(*) FROM nodes WHERE "syncedAt" > TIMESTAMP '`+synced+`'`); n != 3 {
		t.Errorf("%d rows were rewritten, want 3 (1 upload, 2 renames)", n)
	}

	// Nothing changed: nothing recorded.
	e.mustSync(t, "SYNC")
	if n := e.queryInt(t, fmt.Sprintf(`SELECT count(*) FROM changes WHERE sync_id > %d`, id)); n != 0 {
		t.Errorf("a SYNC with nothing changed recorded %d changes: %v", n, e.strings(t, fmt.Sprintf(`SELECT in_table || ' ' || change || ' ' || id FROM changes WHERE sync_id > %d`, id)))
	}
}

// TestActionChanges: what an action records through ActionChanges lands in
// changes with by_apsql true and one sync_id for the statement, and a
// later SYNC, which finds the mirror already matching the service, adds
// nothing for those nodes.
func TestActionChanges(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 600, Seed: 5})
	ctx := t.Context()
	e.mustSync(t, "SYNC")
	ids := e.strings(t, `SELECT id FROM nodes WHERE width IS NOT NULL ORDER BY id LIMIT 3`)
	album := e.strings(t, `SELECT id FROM albums ORDER BY id LIMIT 1`)
	if len(ids) < 3 || len(album) != 1 {
		t.Fatalf("need 3 photos and an album, have %d, %d", len(ids), len(album))
	}
	// As TRASH would: the service trashes, the action records and applies.
	if err := e.srv.TrashIDs(ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	ac := NewActionChanges("TRASH")
	var tx *sql.Tx
	var err error
	for _, batch := range [][]string{{ids[0]}, {ids[1]}} {
		tx, err = e.db.Conn().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ac.Nodes(ctx, tx, "nodes", ChangeRemoved, batch); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE id = ?`, batch[0]); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// ids[2] joins the album; ids[0] is a member already (not a change).
	if _, err := e.db.Exec(ctx, `DELETE FROM album_members WHERE id = ?`, ids[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `INSERT INTO album_members VALUES (?, ?)`, album[0], ids[0]); err != nil {
		t.Fatal(err)
	}
	tx, err = e.db.Conn().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewActionChanges("ALBUM ADD").Members(ctx, tx, ChangeAdded, album[0], ids[:3:3][2:]); err != nil {
		t.Fatal(err)
	}
	if err := NewActionChanges("ALBUM ADD").Members(ctx, tx, ChangeAdded, album[0], ids[0:1]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := e.strings(t, `SELECT statement || ' ' || in_table || ' ' || change || ' ' || id || ' ' || by_apsql || ' ' || coalesce(album_id, '-') || ' ' || (name IS NOT NULL) FROM changes WHERE statement <> 'SYNC' ORDER BY statement, id`)
	want := []string{
		"ALBUM ADD album_members added " + ids[2] + " true " + album[0] + " true",
		"TRASH nodes removed " + ids[0] + " true - true",
		"TRASH nodes removed " + ids[1] + " true - true",
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes = %q, want %q", got, want)
	}
	if n := e.queryInt(t, `SELECT count(DISTINCT sync_id) FROM changes WHERE statement = 'TRASH'`); n != 1 {
		t.Errorf("one TRASH statement has %d sync ids", n)
	}
	last := e.queryInt(t, `SELECT max(sync_id) FROM changes`)
	e.mustSync(t, "SYNC")
	if got := e.strings(t, fmt.Sprintf(`SELECT id FROM changes WHERE sync_id > %d AND in_table = 'nodes'`, last)); len(got) != 0 {
		t.Errorf("the SYNC after the action recorded %v again", got)
	}
}

// versions reads the service's version of each node matching a node-dialect
// filter (the files SYNC ALL lists), from the emulator's own JSON.
func (e *env) versions(t *testing.T, filter string) map[string]int64 {
	t.Helper()
	ids, err := e.srv.NodeIDs(filter)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range e.truth(t, ids) {
		out[n.ID] = n.Version
	}
	return out
}

// TestChangesOfSyncAllAndSyncNodes: SYNC ALL (documents too) records
// exactly what the emulator changed among the files, and SYNC NODES FILTER
// records the upserted nodes that changed, and removes nothing.
func TestChangesOfSyncAllAndSyncNodes(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 400, Seed: 17})
	docs := upload(t, e.srv, "Documents", "report", "txt", 12)
	e.mustSync(t, "SYNC ALL")
	before := e.versions(t, AllFilter)
	fresh := upload(t, e.srv, "Documents", "memo", "pdf", 3)
	if err := e.srv.Rename(docs[0], "renamed.txt"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(docs[1], docs[2]); err != nil {
		t.Fatal(err)
	}
	after := e.versions(t, AllFilter)
	last := e.queryInt(t, `SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.mustSync(t, "SYNC ALL")
	id := e.queryInt(t, `SELECT coalesce(max(sync_id), 0) FROM changes`)
	if id <= last {
		t.Fatalf("SYNC ALL recorded nothing")
	}
	a, r, c := diffKeys(before, after)
	var want []string
	for _, k := range a {
		want = append(want, "nodes added "+k)
	}
	for _, k := range r {
		want = append(want, "nodes removed "+k)
	}
	for _, k := range c {
		want = append(want, "nodes changed "+k)
	}
	if len(a) != len(fresh) || len(r) != 2 || len(c) != 1 {
		t.Fatalf("the emulator's diff: +%d -%d ~%d, want +3 -2 ~1", len(a), len(r), len(c))
	}
	if d := diffLists(e.gotChanges(t, id), want); d != "" {
		t.Errorf("SYNC ALL's changes differ from what the emulator changed: %s", d)
	}
	if n := e.queryInt(t, fmt.Sprintf(`SELECT count(*) FROM changes WHERE sync_id = %d AND statement <> 'SYNC ALL'`, id)); n != 0 {
		t.Errorf("%d rows of SYNC ALL name another statement", n)
	}

	// SYNC NODES FILTER upserts: a renamed photo is a change, a trashed
	// one stays (nothing is removed on a filter's evidence).
	photos, err := e.srv.IDs(DefaultFilter)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Rename(photos[3], "other.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(photos[4]); err != nil {
		t.Fatal(err)
	}
	e.mustSync(t, "SYNC NODES")
	got := e.strings(t, fmt.Sprintf(`SELECT statement || ' ' || change || ' ' || id FROM changes WHERE sync_id > %d AND in_table = 'nodes' ORDER BY 1`, id))
	if w := []string{"SYNC NODES changed " + photos[3]}; !slices.Equal(got, w) {
		t.Errorf("SYNC NODES recorded %v, want %v", got, w)
	}
}

// TestFirstSyncOfSmallTablesRecordsNothing: the first SYNC of a library
// fills albums, album_members, people and folders without a changes row
// (every row would be "added" by the service), as the first SYNC of nodes
// does; a table that an earlier SYNC left empty records its first rows as
// added. Expectations come from the emulator's albums and people.
func TestFirstSyncOfSmallTablesRecordsNothing(t *testing.T) {
	e := newEnv(t, emulator.Options{Nodes: 400, Seed: 41})
	ids, err := e.srv.IDs("type:(PHOTOS)")
	if err != nil || len(ids) < 20 {
		t.Fatalf("photos of the emulator: %d, %v", len(ids), err)
	}
	if _, err := e.srv.CreateAlbum("First", ids[:5]...); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.People()) == 0 {
		t.Fatal("the emulator's library has no people: the check checks little")
	}
	e.mustSync(t, "SYNC")
	if got := e.strings(t, `SELECT DISTINCT in_table FROM changes ORDER BY 1`); len(got) != 0 {
		t.Errorf("the first SYNC recorded rows of %v, want none", got)
	}
	if n := e.queryInt(t, `SELECT count(*) FROM albums`); int(n) != len(e.srv.Albums()) {
		t.Fatalf("albums holds %d rows, the emulator %d", n, len(e.srv.Albums()))
	}

	// A SYNC that leaves albums empty (every album trashed on the
	// service) is not a first SYNC: the next album made there is a change.
	var albums []string
	for id := range e.srv.Albums() {
		albums = append(albums, id)
	}
	if err := e.srv.TrashIDs(albums...); err != nil {
		t.Fatal(err)
	}
	e.mustSync(t, "SYNC")
	if n := e.queryInt(t, `SELECT count(*) FROM albums`); n != 0 || len(e.srv.Albums()) != 0 {
		t.Fatalf("albums: %d rows, %d on the emulator after every album was trashed", n, len(e.srv.Albums()))
	}
	if n := e.queryInt(t, `SELECT count(*) FROM changes WHERE in_table = 'albums' AND change = 'removed' AND NOT by_apsql`); int(n) != len(albums) {
		t.Errorf("%d albums recorded removed, want the %d trashed on the service", n, len(albums))
	}
	later, err := e.srv.CreateAlbum("Later", ids[5:8]...)
	if err != nil {
		t.Fatal(err)
	}
	e.mustSync(t, "SYNC")
	last := e.queryInt(t, `SELECT max(sync_id) FROM changes`)
	got := e.strings(t, fmt.Sprintf(`SELECT in_table || ' ' || change || ' ' || by_apsql FROM changes WHERE sync_id = %d AND in_table IN ('albums', 'album_members') ORDER BY 1`, last))
	want := []string{"album_members added false", "album_members added false", "album_members added false", "albums added false"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the album %s was made on the service: %v, want %v", later, got, want)
	}
}
