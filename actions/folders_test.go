package actions

import (
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// syncFolders replaces the folders table with the service's tree, as SYNC
// FOLDERS does.
func (e *env) syncFolders() {
	e.t.Helper()
	fs, err := e.c.Folders(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	e.exec(`DELETE FROM folders`)
	for _, f := range fs {
		var parent any
		if f.ParentID != "" {
			parent = f.ParentID
		}
		e.exec(`INSERT INTO folders VALUES (?, ?, ?, ?, ?, ?)`, f.ID, f.Name, parent, f.Path, f.CreatedDate, f.ModifiedDate)
	}
	e.rec.reset()
}

// sameFolders checks that the mirror's folders are the service's: every
// path (the root aside) with the same id.
func (e *env) sameFolders() {
	e.t.Helper()
	truth := e.srv.State().Folders
	got := map[string]string{}
	rows, err := e.db.Query(e.t.Context(), `SELECT path, id FROM folders WHERE path <> '/'`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p, id string
		if err := rows.Scan(&p, &id); err != nil {
			e.t.Fatal(err)
		}
		got[strings.TrimPrefix(p, "/")] = id
	}
	for p, id := range truth {
		if got[p] != id {
			e.t.Errorf("folder %s: mirror has %q, the service %q", p, got[p], id)
		}
	}
	for p, id := range got {
		if truth[p] != id {
			e.t.Errorf("folder %s (%s) is in the mirror, not on the service", p, id)
		}
	}
}

// first runs stmt and stops the test unless its first row has status st
// and a detail that holds want.
func (e *env) first(stmt string, st Status, want string) row {
	e.t.Helper()
	rows, sum := e.run(stmt)
	if len(rows) == 0 || rows[0].status != st || !strings.Contains(rows[0].detail, want) {
		e.t.Fatalf("%s: %+v (%s), want %s with %q", stmt, rows, sum, st, want)
	}
	return rows[0]
}

func statuses(rows []row) string {
	var b []string
	for _, r := range rows {
		b = append(b, r.name+"="+string(r.status))
	}
	return strings.Join(b, " ")
}

func TestCreateFolder(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40}, 0)
	e.syncFolders()
	// On the service but not in the mirror: the create answers 409 and
	// the folder is reused.
	projects, err := e.srv.MkdirAll("Projects")
	if err != nil {
		t.Fatal(err)
	}
	rows, sum := e.run(`EXPLAIN CREATE FOLDER 'Projects/2024/Trip'`)
	if got := statuses(rows); got != "/Projects/=planned /Projects/2024/=planned /Projects/2024/Trip/=planned" {
		t.Errorf("EXPLAIN rows: %s (%s)", got, sum)
	}
	if n := len(e.rec.matching("POST", "/nodes")); n != 0 {
		t.Fatalf("EXPLAIN sent %d requests", n)
	}
	rows, sum = e.run(`CREATE FOLDER 'Projects/2024/Trip'`)
	if got := statuses(rows); got != "/Projects/=skipped /Projects/2024/=ok /Projects/2024/Trip/=ok" {
		t.Fatalf("rows: %s (%s) %v", got, sum, rows)
	}
	if rows[0].id != projects || !strings.Contains(rows[0].detail, "409") {
		t.Errorf("reused folder row: %+v, want id %s and a 409 detail", rows[0], projects)
	}
	e.sameFolders()
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action = 'CREATE FOLDER' AND status <> 'sending'`); n != 3 {
		t.Errorf("journal holds %d rows, want 3", n)
	}
	// A re-run (any case: names are compared without case) sends nothing.
	e.rec.reset()
	rows, _ = e.run(`CREATE FOLDER 'projects/2024/TRIP'`)
	if got := statuses(rows); got != "/Projects/=skipped /Projects/2024/=skipped /Projects/2024/Trip/=skipped" {
		t.Errorf("re-run rows: %s", got)
	}
	if n := e.rec.changes(); n != 0 { // it reads the folders back
		t.Errorf("re-run sent %d changes", n)
	}
	for _, bad := range []string{`CREATE FOLDER ''`, `CREATE FOLDER '../x'`, `CREATE FOLDER 'a' 'b'`, `CREATE FOLDER`} {
		if _, _, err := e.try(t.Context(), bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestMoveAndRename(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40}, 0)
	e.syncFolders()
	e.run(`CREATE FOLDER 'Dest'`)
	e.run(`CREATE FOLDER 'F1/Sub'`)
	dest, _ := e.srv.FolderID("Dest")
	f1, _ := e.srv.FolderID("F1")
	ids := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	// The third photo's name is taken in Dest on the service.
	clash := e.ids(`SELECT name FROM nodes WHERE id = ?`, ids[2])[0]
	if _, err := e.srv.Upload("Dest", strings.ToUpper(clash), []byte("other bytes")); err != nil {
		t.Fatal(err)
	}
	e.rec.reset()
	e.run(`EXPLAIN MOVE (SELECT id FROM nodes ORDER BY id LIMIT 3) TO 'Dest'`)
	if len(e.rec.reqs) != 0 {
		t.Fatalf("EXPLAIN MOVE sent %d requests", len(e.rec.reqs))
	}
	rows, sum := e.run(`MOVE (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3) TO 'Dest'`)
	st := byStatus(rows)
	if len(st[StatusOK]) != 2 || len(st[StatusFailed]) != 1 || st[StatusFailed][0] != ids[2] {
		t.Fatalf("rows %v (%s)", rows, sum)
	}
	if d := rows[2].detail; !strings.Contains(d, "409") || !strings.Contains(d, "taken in /Dest") {
		t.Errorf("conflict detail %q", d)
	}
	for i, id := range ids {
		folder, _, _ := e.srv.PathOf(id)
		local := e.ids(`SELECT parentId FROM nodes WHERE id = ?`, id)[0]
		if want := i < 2; (folder == "Dest") != want || (local == dest) != want {
			t.Errorf("%s: service folder %q, mirror parent %s (Dest is %s)", id, folder, local, dest)
		}
	}
	// Safe re-run: the moved ones are skipped, the clash fails again.
	e.rec.reset()
	rows, _ = e.run(`MOVE (SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3) TO 'Dest'`)
	if st := byStatus(rows); len(st[StatusSkipped]) != 2 || len(e.rec.matching("POST", "/children")) != 1 {
		t.Errorf("re-run rows %v, %d moves sent", rows, len(e.rec.matching("POST", "/children")))
	}
	// A folder moves with its subtree; not into itself.
	e.first(`MOVE '`+f1+`' TO 'Dest'`, StatusOK, "")
	e.sameFolders()
	e.first(`MOVE '`+f1+`' TO 'Dest/F1/Sub'`, StatusFailed, "into itself")
	if _, _, err := e.try(t.Context(), `MOVE '`+f1+`' TO 'Nowhere'`); err == nil || !strings.Contains(err.Error(), "CREATE FOLDER") {
		t.Errorf("unknown destination: %v", err)
	}
	// RENAME a file, a folder (its subtree follows), and a clash.
	e.first(`RENAME '`+ids[0]+`' TO 'renamed.jpg'`, StatusOK, "")
	if n, _ := e.node(ids[0]); n.Name != "renamed.jpg" || e.ids(`SELECT name FROM nodes WHERE id = ?`, ids[0])[0] != "renamed.jpg" {
		t.Errorf("rename file: service name %q", n.Name)
	}
	e.first(`RENAME '`+ids[0]+`' TO 'renamed.jpg'`, StatusSkipped, "already named")
	e.first(`RENAME '`+f1+`' TO 'F2'`, StatusOK, "")
	e.sameFolders()
	e.first(`RENAME '`+ids[1]+`' TO 'RENAMED.JPG'`, StatusFailed, "409")
	if _, _, err := e.try(t.Context(), `RENAME '`+ids[1]+`' TO 'a/b'`); err == nil || !strings.Contains(err.Error(), "MOVE") {
		t.Errorf("rename with a slash: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM actions_log WHERE action IN ('MOVE', 'RENAME')`); n == 0 {
		t.Error("nothing journaled")
	}
}

// sameTrash checks that the mirror's trash holds exactly the service's.
func (e *env) sameTrash() {
	e.t.Helper()
	got := strings.Join(e.ids(`SELECT id FROM trash ORDER BY id`), " ")
	if want := strings.Join(e.srv.State().TrashIDs, " "); got != want {
		e.t.Errorf("trash: mirror %s, service %s", got, want)
	}
}

func TestTrashRestorePurgeFolder(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40}, 0)
	if _, err := e.srv.MkdirAll("Tree/Sub"); err != nil {
		t.Fatal(err)
	}
	ps := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)
	for _, p := range ps {
		if err := e.srv.Move(p, "Tree/Sub"); err != nil {
			t.Fatal(err)
		}
	}
	// Trashed before its folder: a RESTORE of the folder leaves it there.
	if err := e.srv.TrashIDs(ps[2]); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	e.syncFolders()
	tree, _ := e.srv.FolderID("Tree")
	e.s.Yes = true

	rows, sum := e.run(`TRASH '` + tree + `'`)
	// The folder, Sub and the two files still in it (issue 16 item 2).
	if len(rows) != 4 || len(byStatus(rows)[StatusOK]) != 4 || rows[0].id != tree {
		t.Fatalf("trash folder: %v (%s)", rows, sum)
	}
	e.sameFolders()
	e.sameTrash()
	if n := e.count(`SELECT count(*) FROM nodes WHERE id IN ` + idList(ps)); n != 0 {
		t.Errorf("%d files of the trashed folder are still in nodes", n)
	}

	rows, sum = e.run(`RESTORE '` + tree + `'`)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("restore folder: %v (%s)", rows, sum)
	}
	e.sameFolders()
	e.sameTrash()
	if got := e.ids(`SELECT id FROM nodes WHERE id IN ` + idList(ps) + ` ORDER BY id`); strings.Join(got, " ") != ps[0]+" "+ps[1] {
		t.Errorf("nodes after restore: %v, want %v", got, ps[:2])
	}

	e.run(`TRASH '` + tree + `'`)
	rows, sum = e.run(`PURGE '` + tree + `'`)
	// Now the file trashed on its own before goes too: 5 nodes.
	if len(rows) != 5 || len(byStatus(rows)[StatusOK]) != 5 || rows[0].id != tree {
		t.Fatalf("purge folder: %v (%s)", rows, sum)
	}
	e.sameFolders()
	e.sameTrash()
	if _, _, ok := e.srv.PathOf(ps[0]); ok {
		t.Errorf("%s survived the purge of its folder", ps[0])
	}
}
