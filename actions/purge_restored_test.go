package actions

import (
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// TestPurgeRestoredRecorded (issue 23): a node a PURGE finds restored
// elsewhere goes back into nodes (and out of trash) recorded in changes
// under the PURGE statement, as added by the service (by_apsql false: it
// came back by the service's doing, the statement merely found it), so
// that changes tells the story and the SYNC after records nothing more
// for it.
func TestPurgeRestoredRecorded(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 77}, 2)
	e.syncAll()
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.TrashIDs(id); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	if res, err := e.s.Run(t.Context(), `SYNC TRASH`); err != nil {
		t.Fatal(err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Fatalf("the mirror's trash holds %s %d times, want once", id, n)
	}
	if err := e.srv.RestoreIDs(id); err != nil {
		t.Fatal(err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.s.Yes = true
	rows, sum := e.run(`PURGE '` + id + `'`)
	if len(rows) != 1 || rows[0].status != StatusSkipped || !strings.Contains(rows[0].detail, notInTrashDetail) {
		t.Fatalf("PURGE: %+v (%s), want %s skipped, %s", rows, sum, id, notInTrashDetail)
	}
	if _, st, ok := e.srv.PathOf(id); !ok || st != "AVAILABLE" {
		t.Fatalf("the service shows %s %q, want it available (not purged)", id, st)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id) + 2*e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Errorf("after the PURGE %s is in nodes and trash as %d (1: nodes only)", id, n)
	}
	n, _ := e.node(id)
	if got, want := e.nodeChangeRows(last), []string{"added " + id + " " + n.Name + " false "}; !slices.Equal(got, want) {
		t.Errorf("changes after the PURGE: %q, want %q", got, want)
	}
	if n := e.count(`SELECT count(*) FROM changes WHERE sync_id > ? AND statement <> 'PURGE'`, last); n != 0 {
		t.Errorf("%d change rows are not the PURGE's", n)
	}
	e.nodesQuiet("the PURGE")
}

// runQuiet runs a statement whose rows the test does not read.
func (e *env) runQuiet(stmt string) {
	e.t.Helper()
	res, err := e.s.Run(e.t.Context(), stmt)
	if err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
	if res.Rows != nil {
		res.Rows.Release()
	}
}

// TestPurgeRestoredFolderRecorded (issue 23): a folder a PURGE finds
// restored elsewhere goes back into folders as the service shows it (its
// dates too), recorded in changes under the PURGE as added by the service,
// so that the SYNC FOLDERS after records nothing more for it.
func TestPurgeRestoredFolderRecorded(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 79}, 2)
	if _, err := e.srv.MkdirAll("P"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	p := e.folderOf("P")
	if err := e.srv.TrashIDs(p); err != nil {
		t.Fatal(err)
	}
	e.runQuiet(`SYNC FOLDERS`)
	e.runQuiet(`SYNC TRASH`)
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, p) + 2*e.count(`SELECT count(*) FROM folders WHERE id = ?`, p); n != 1 {
		t.Fatalf("the mirror holds P in trash and folders as %d, want 1 (trash only)", n)
	}
	if err := e.srv.RestoreIDs(p); err != nil {
		t.Fatal(err)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.s.Yes = true
	rows, sum := e.run(`PURGE '` + p + `'`)
	if len(rows) != 1 || rows[0].status != StatusSkipped || !strings.Contains(rows[0].detail, notInTrashDetail) {
		t.Fatalf("PURGE: %+v (%s), want P skipped, %s", rows, sum, notInTrashDetail)
	}
	got := e.ids(`SELECT concat_ws(' ', statement, in_table, change, id, name, by_apsql) FROM changes WHERE sync_id > ? ORDER BY 1`, last)
	if want := []string{"PURGE folders added " + p + " P false"}; !slices.Equal(got, want) {
		t.Errorf("changes after the PURGE: %q, want %q", got, want)
	}
	last = e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.runQuiet(`SYNC FOLDERS`)
	if got := e.ids(`SELECT concat_ws(' ', in_table, change, id, array_to_string(fields, ',')) FROM changes WHERE sync_id > ? ORDER BY 1`, last); len(got) != 0 {
		t.Errorf("the SYNC FOLDERS after the PURGE recorded %q", got)
	}
	e.sameFolders()
}

// TestPurgeRestoredFolderFiles (issue 23): a folder a PURGE finds
// restored elsewhere comes back into the mirror with what the service
// restored with it, read from the service: the folders and files it
// shows available below it (those trashed with the folder), recorded in
// changes under the PURGE as added by the service; a file trashed on its
// own before the folder stays in the service's trash, so in the mirror's.
// The SYNC FOLDERS, SYNC and SYNC TRASH after record and add nothing.
func TestPurgeRestoredFolderFiles(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 80}, 2)
	if _, err := e.srv.MkdirAll("P/S"); err != nil {
		t.Fatal(err)
	}
	a := e.serviceHas("P", "a.jpg", "restored with its folder")
	b := e.serviceHas("P", "b.jpg", "trashed on its own first")
	c := e.serviceHas("P/S", "c.jpg", "restored with the folder above")
	e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	p, s := e.folderOf("P"), e.folderOf("P/S")
	if err := e.srv.TrashIDs(b); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(p); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	e.runQuiet(`SYNC FOLDERS`)
	e.runQuiet(`SYNC TRASH`)
	if got := e.ids(`SELECT id FROM trash WHERE id IN (?, ?, ?, ?, ?) ORDER BY id`, p, s, a, b, c); len(got) != 5 {
		t.Fatalf("the mirror's trash holds %q of P, S and the three files", got)
	}
	if err := e.srv.RestoreIDs(p); err != nil {
		t.Fatal(err)
	}
	// The emulator's truth: what was trashed with P came back, b did not.
	for id, want := range map[string]string{p: "AVAILABLE", s: "AVAILABLE", a: "AVAILABLE", c: "AVAILABLE", b: "TRASH"} {
		if _, st, ok := e.srv.PathOf(id); !ok || st != want {
			t.Fatalf("the service shows %s %q, want %s", id, st, want)
		}
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.s.Yes = true
	rows, sum := e.run(`PURGE '` + p + `'`)
	t.Logf("PURGE: %+v (%s)", rows, sum)
	if st := byStatus(rows); len(st[StatusSkipped]) != len(rows) || rows[0].id != p || !strings.Contains(rows[0].detail, notInTrashDetail) {
		t.Fatalf("PURGE: %+v (%s), want P skipped, %s", rows, sum, notInTrashDetail)
	}
	if _, st, ok := e.srv.PathOf(b); !ok || st != "TRASH" {
		t.Fatalf("the service shows b.jpg %q, want it still in trash (not purged)", st)
	}
	na, _ := e.node(a)
	nc, _ := e.node(c)
	got := e.ids(`SELECT concat_ws(' ', statement, in_table, change, id, name, by_apsql) FROM changes WHERE sync_id > ? ORDER BY 1`, last)
	want := sorted([]string{"PURGE folders added " + p + " P false", "PURGE folders added " + s + " S false",
		"PURGE nodes added " + a + " " + na.Name + " false", "PURGE nodes added " + c + " " + nc.Name + " false"})
	if !slices.Equal(got, want) {
		t.Errorf("changes after the PURGE: %q, want %q", got, want)
	}
	for _, id := range []string{a, c} {
		e.sameRow("the PURGE", id)
	}
	if got := e.ids(`SELECT id FROM nodes WHERE id IN (SELECT id FROM trash)`); len(got) != 0 {
		t.Errorf("after the PURGE %q are in nodes and trash at once", got)
	}
	e.sameFolders()
	e.sameTrash()
	last = e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	e.runQuiet(`SYNC FOLDERS`)
	if got := e.ids(`SELECT concat_ws(' ', in_table, change, id, array_to_string(fields, ',')) FROM changes WHERE sync_id > ? ORDER BY 1`, last); len(got) != 0 {
		t.Errorf("the SYNC FOLDERS after the PURGE recorded %q", got)
	}
	e.nodesQuiet("the PURGE")
	if st := e.syncTrash(); st.inserted != 0 || st.removed != 0 || st.updated != 0 {
		t.Errorf("the SYNC TRASH after the PURGE changed trash: %+v", st)
	}
}
