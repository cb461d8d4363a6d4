package actions

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apsql/apsql/emulator"
)

// syncAll runs a plain SYNC and returns the last sync_id of changes before
// it.
func (e *env) syncAll() int {
	e.t.Helper()
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	res, err := e.s.Run(e.t.Context(), `SYNC`)
	if err != nil {
		e.t.Fatalf("SYNC: %v", err)
	}
	if res.Rows != nil {
		res.Rows.Release()
	}
	return last
}

// folderOf returns the id of the service's available folder at path.
func (e *env) folderOf(path string) string {
	e.t.Helper()
	id, ok := e.srv.FolderID(path)
	if !ok {
		e.t.Fatalf("the service has no folder %s", path)
	}
	return id
}

// TestFolderActionsRecordChanges (issue 23 item 3): CREATE FOLDER, MOVE and
// RENAME of files and folders record in changes, with by_apsql, exactly
// the rows they changed in the mirror and the fields (a file's name or
// parents; a folder's name, parent and path, the paths below it), the
// nodes and folders taken from the emulator's state. A SYNC afterwards
// finds nothing more to record for any of them: the mirror holds the rows
// as the service has them.
func TestFolderActionsRecordChanges(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 80, Seed: 7}, 0)
	e.syncAll() // the mirror as SYNC writes it
	e.run(`CREATE FOLDER 'Dest'`)
	e.run(`CREATE FOLDER 'Src/Sub'`)
	dest, src, sub := e.folderOf("Dest"), e.folderOf("Src"), e.folderOf("Src/Sub")
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 3`)

	rows, sum := e.run(`MOVE ` + idsTarget(files[:2]) + ` TO 'Dest'`)
	if st := byStatus(rows); len(st[StatusOK]) != 2 {
		t.Fatalf("MOVE: %v (%s)", rows, sum)
	}
	for _, id := range files[:2] {
		if folder, _, _ := e.srv.PathOf(id); folder != "Dest" {
			t.Fatalf("%s is in %q on the service, want Dest", id, folder)
		}
	}
	e.first(`RENAME '`+files[2]+`' TO 'renamed.jpg'`, StatusOK, "")
	// The folders' fields as the service changed them (modifiedDate too,
	// when the clock moved on).
	f0 := e.serviceFolders()
	e.first(`MOVE '`+src+`' TO 'Dest'`, StatusOK, "")
	f1 := e.serviceFolders()
	e.first(`RENAME '`+src+`' TO 'Source'`, StatusOK, "")
	f2 := e.serviceFolders()
	fields := func(a, b map[string]svcFolder, id string) string { return strings.Join(folderDiff(a[id], b[id]), ",") }
	if e.folderOf("Dest/Source") != src || e.folderOf("Dest/Source/Sub") != sub {
		t.Fatal("the service's tree is not Dest/Source/Sub")
	}
	e.sameFolders()
	if n, _ := e.node(files[2]); n.Name != "renamed.jpg" {
		t.Fatalf("the service names %s %q", files[2], n.Name)
	}

	want := []string{
		"CREATE FOLDER folders " + dest + " Dest added ",
		"CREATE FOLDER folders " + src + " Src added ",
		"CREATE FOLDER folders " + sub + " Sub added ",
		"MOVE folders " + src + " Src changed " + fields(f0, f1, src),
		"MOVE folders " + sub + " Sub changed " + fields(f0, f1, sub),
		"RENAME folders " + src + " Source changed " + fields(f1, f2, src),
		"RENAME folders " + sub + " Sub changed " + fields(f1, f2, sub),
		"RENAME nodes " + files[2] + " renamed.jpg changed name",
	}
	for _, id := range files[:2] {
		name := e.ids(`SELECT name FROM nodes WHERE id = ?`, id)[0]
		want = append(want, "MOVE nodes "+id+" "+name+" changed parentId,parents")
	}
	got := e.ids(`SELECT concat_ws(' ', statement, in_table, id, name, change, coalesce(array_to_string(list_sort(fields), ','), ''))
FROM changes WHERE statement IN ('CREATE FOLDER', 'MOVE', 'RENAME') AND by_apsql ORDER BY 1`)
	if slices.Sort(want); !slices.Equal(got, want) {
		t.Errorf("changes of the actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := e.count(`SELECT count(*) FROM changes WHERE statement IN ('CREATE FOLDER', 'MOVE', 'RENAME') AND NOT by_apsql`); n != 0 {
		t.Errorf("%d action rows are not by_apsql", n)
	}

	last := e.syncAll()
	touched := append([]string{dest, src, sub}, files...)
	if got := e.ids(fmt.Sprintf(`SELECT concat_ws(' ', in_table, id, change, array_to_string(fields, ',')) FROM changes
WHERE sync_id > %d AND id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1`, last), touched); len(got) != 0 {
		t.Errorf("the SYNC after the actions recorded again: %v", got)
	}
	e.sameFolders()
}

// TestMoveRenameUnderResets: MOVE and RENAME under 500/503 answers and
// connections cut after the service applied the change read the nodes back
// instead of guessing: after at most two re-runs every node is where the
// statement put it on the service, the mirror says the same, and each
// change is recorded in changes once.
func TestMoveRenameUnderResets(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 300, Seed: 48}, 0)
	e.syncFolders()
	e.run(`CREATE FOLDER 'Dest'`)
	e.run(`CREATE FOLDER 'Tree/Sub'`)
	dest, tree := e.folderOf("Dest"), e.folderOf("Tree")
	files := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 40`)
	e.srv.SetFaults(0, 0.2, 0.4, 0)
	stmts := []string{`MOVE ` + idsTarget(append([]string{tree}, files[:30]...)) + ` TO 'Dest'`}
	for i, id := range files[30:] {
		stmts = append(stmts, fmt.Sprintf(`RENAME '%s' TO 'under faults %d.jpg'`, id, i))
	}
	for _, stmt := range stmts {
		for try := 0; ; try++ {
			rows, sum := e.run(stmt)
			if len(byStatus(rows)[StatusFailed]) == 0 {
				break
			}
			if try == 2 {
				t.Fatalf("%s: still failed after two re-runs: %+v (%s)", stmt, rows, sum)
			}
		}
	}
	e.srv.SetFaults(0, 0, 0, 0)
	if st := e.srv.Stats(); st.Failed+st.Resets == 0 {
		t.Fatalf("no fault was injected (%+v): the test proves nothing", st)
	}
	for _, id := range files[:30] {
		n, _ := e.node(id)
		local := e.ids(`SELECT parentId FROM nodes WHERE id = ?`, id)
		if len(n.Parents) != 1 || n.Parents[0] != dest || len(local) != 1 || local[0] != dest {
			t.Errorf("%s: the service's parents %v, the mirror's %v; want %s", id, n.Parents, local, dest)
		}
	}
	for i, id := range files[30:] {
		want := fmt.Sprintf("under faults %d.jpg", i)
		if n, _ := e.node(id); n.Name != want || e.ids(`SELECT name FROM nodes WHERE id = ?`, id)[0] != want {
			t.Errorf("%s: the service names it %q, want %q", id, n.Name, want)
		}
	}
	e.sameFolders()
	if got := e.ids(`SELECT id FROM changes WHERE statement IN ('MOVE', 'RENAME') AND in_table = 'nodes' GROUP BY id HAVING count(*) > 1`); len(got) != 0 {
		t.Errorf("changes records these nodes more than once: %v", got)
	}
	if n := e.count(`SELECT count(DISTINCT id) FROM changes WHERE statement IN ('MOVE', 'RENAME') AND in_table = 'nodes'`); n != len(files) {
		t.Errorf("changes records %d nodes, want the %d moved or renamed", n, len(files))
	}
}

// TestMoveSettlesEarlierUnknown: a MOVE whose request went but whose
// outcome was never journaled (the process died: 'sending' is the last
// entry) is read back by the next MOVE, journaled ok without a request,
// and the mirror and changes learn it.
func TestMoveSettlesEarlierUnknown(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 40, Seed: 49}, 0)
	e.syncFolders()
	e.run(`CREATE FOLDER 'Dest'`)
	dest := e.folderOf("Dest")
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.Move(id, "Dest"); err != nil {
		t.Fatal(err)
	}
	e.exec(`INSERT INTO actions_log (seq, "at", action, target, status, detail) VALUES ((SELECT max(seq) + 1 FROM actions_log), now(), 'MOVE', ?, 'sending', 'about to be sent')`, id)
	e.rec.reset()
	e.first(`MOVE '`+id+`' TO 'Dest'`, StatusOK, "done by an earlier run")
	if n := e.rec.changes(); n != 0 {
		t.Errorf("%d changes sent", n)
	}
	if got := e.ids(`SELECT parentId FROM nodes WHERE id = ?`, id); len(got) != 1 || got[0] != dest {
		t.Errorf("the mirror's parent %v, want %s", got, dest)
	}
	if got := e.ids(`SELECT id FROM changes WHERE statement = 'MOVE' AND in_table = 'nodes' AND by_apsql`); !slices.Equal(got, []string{id}) {
		t.Errorf("changes of the MOVE: %v, want %s", got, id)
	}
}

// TestRenameGone: RENAME of a node purged elsewhere since the last SYNC
// (PATCH /nodes/{id} answers 404) says it is gone and the mirror forgets
// it, as FAVORITE and MOVE do, rather than failing and keeping it.
func TestRenameGone(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 20, Seed: 50}, 0)
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.TrashIDs(id); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(id); err != nil {
		t.Fatal(err)
	}
	if _, there := e.node(id); there {
		t.Fatalf("%s is still on the service", id)
	}
	e.first(`RENAME '`+id+`' TO 'gone.jpg'`, StatusSkipped, goneDetail)
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id); n != 0 {
		t.Errorf("the mirror still holds %s", id)
	}
}
