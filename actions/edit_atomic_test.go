package actions

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/apsql/apsql/emulator"
)

// blockOutcome makes the journal write of the outcome of the first
// request matching method and path fail: when the request goes (its
// 'sending' entry journaled), a row another writer put takes the seq the
// outcome would take, as a full disk would fail it. The returned func
// removes the hook and the row.
func (e *env) blockOutcome(method, path string) func() {
	var once sync.Once
	e.rec.mu.Lock()
	e.rec.before = func(r *http.Request) {
		if r.Method == method && strings.Contains(r.URL.Path, path) {
			once.Do(func() {
				e.exec(`INSERT INTO actions_log (seq, "at", action, target, status, detail)
SELECT max(seq) + 1, now(), 'TEST', 'blocker', 'ok', 'takes the seq of the outcome' FROM actions_log`)
			})
		}
	}
	e.rec.mu.Unlock()
	return func() {
		e.rec.mu.Lock()
		e.rec.before = nil
		e.rec.mu.Unlock()
		e.exec(`DELETE FROM actions_log WHERE action = 'TEST'`)
	}
}

// TestFavoriteRowWithJournal (issue 23): the node a FAVORITE's PATCH
// answered replaces the mirror's row in the transaction that journals the
// outcome and records the change. Here that journal write fails: the row
// stays as it was (not a favorite) and changes holds nothing, so the
// re-run settles the earlier request by reading the node back and records
// the change. Before, the answered row was written in a transaction of
// its own: the mirror said favorite with no outcome and no change row,
// the re-run skipped the node as already a favorite, and changes never
// said it became one.
func TestFavoriteRowWithJournal(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 72}, 2)
	last := e.syncAll()
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' AND NOT favorite ORDER BY id LIMIT 1`)[0]
	unblock := e.blockOutcome(http.MethodPatch, "/nodes/"+id)
	_, sum, err := e.try(t.Context(), `FAVORITE '`+id+`'`)
	unblock()
	t.Logf("the FAVORITE whose journal failed: %s (%v)", sum, err)
	if n, _ := e.node(id); !n.Settings.Favorite {
		t.Fatalf("the service shows %s not a favorite, want the PATCH done", id)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ? AND favorite`, id); n != 0 {
		t.Errorf("nodes says %s is a favorite though its outcome was not journaled", id)
	}
	if got := e.nodeChangeRows(last); len(got) != 0 {
		t.Errorf("changes holds %q though the outcome was not journaled", got)
	}

	rows, sum := e.run(`FAVORITE '` + id + `'`)
	if len(rows) != 1 || rows[0].status != StatusOK {
		t.Fatalf("the re-run: %+v (%s), want %s ok", rows, sum, id)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ? AND favorite`, id); n != 1 {
		t.Errorf("after the re-run nodes says %s is not a favorite", id)
	}
	name := e.ids(`SELECT name FROM nodes WHERE id = ?`, id)[0]
	if got, want := e.nodeChangeRows(last), []string{"changed " + id + " " + name + " true favorite"}; !slices.Equal(got, want) {
		t.Errorf("changes after the re-run: %q, want %q", got, want)
	}
}

// TestTrashSubtreeWithJournal (issue 23): the nodes of a trashed folder's
// subtree that the mirror did not hold (uploaded since the last SYNC) go
// into trash from the listing in the transaction that journals the
// outcomes. Here that journal write fails: trash holds none of them, and
// the folder and its mirrored file stay where the mirror had them; the
// re-run settles the request by reading the folder back, moves them into
// trash, and lists again what the service shows trashed with the folder:
// a row each, and the node uploaded behind the mirror's back goes into
// trash as the service shows it, so that a SYNC TRASH right after adds
// nothing (a node trashed before the folder is not among them). Before, the listed
// nodes were put into trash in a transaction of their own: they stayed
// there, the mirrored file in nodes and trash at once, with no outcome;
// and the re-run left the uploaded node out of trash until a SYNC TRASH.
func TestTrashSubtreeWithJournal(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 73}, 2)
	if _, err := e.srv.MkdirAll("Box/inner"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	box := e.folderOf("Box")
	inner := e.folderOf("Box/inner")
	file := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.Move(file, "Box"); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	// Trashed on its own before its folder: not a row of the re-run.
	early := e.serviceHas("Box/inner", "early.jpg", "trashed before its folder")
	if err := e.srv.TrashIDs(early); err != nil {
		t.Fatal(err)
	}
	e.runQuiet(`SYNC TRASH`)
	e.s.Yes = true
	late := e.serviceHas("Box/inner", "late.jpg", "uploaded behind the mirror's back")
	unblock := e.blockOutcome(http.MethodPatch, "/trash")
	_, sum, err := e.try(t.Context(), `TRASH '`+box+`'`)
	unblock()
	t.Logf("the TRASH whose journal failed: %s (%v)", sum, err)
	for _, id := range []string{box, inner, file, late} {
		if _, st, ok := e.srv.PathOf(id); !ok || st != "TRASH" {
			t.Fatalf("the service shows %s %q, want it trashed", id, st)
		}
	}
	if got := e.ids(`SELECT id FROM trash WHERE id IN (?, ?, ?, ?) ORDER BY id`, box, inner, file, late); len(got) != 0 {
		t.Errorf("trash holds %q though no outcome was journaled", got)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, file); n != 1 {
		t.Errorf("nodes lost %s though no outcome was journaled", file)
	}

	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum := e.run(`TRASH '` + box + `'`)
	// The re-run confirms the folder by reading it back, and moves what the
	// mirror held of it into trash; what went with the folder has a row
	// each, the node the mirror never held as the service shows it.
	if got, want := sorted(byStatus(rows)[StatusOK]), sorted([]string{box, inner, file, late}); len(rows) != 4 || !slices.Equal(got, want) {
		t.Fatalf("the re-run: %+v (%s), want %q ok", rows, sum, want)
	}
	if got := e.ids(`SELECT id FROM trash WHERE id IN (?, ?, ?, ?) ORDER BY id`, box, inner, file, late); len(got) != 4 {
		t.Errorf("after the re-run trash holds %q of %s, %s, %s, %s", got, box, inner, file, late)
	}
	e.sameRowIn("trash", "the re-run", late)
	// changes: the folders and the file leave the mirror by the TRASH; the
	// node never mirrored changed no table that changes follows.
	got := e.ids(`SELECT concat_ws(' ', statement, in_table, change, id, by_apsql) FROM changes WHERE sync_id > ? ORDER BY 1`, last)
	want := sorted([]string{"TRASH folders removed " + box + " true", "TRASH folders removed " + inner + " true", "TRASH nodes removed " + file + " true"})
	if !slices.Equal(got, want) {
		t.Errorf("changes after the re-run: %q, want %q", got, want)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, file); n != 0 {
		t.Errorf("after the re-run nodes still holds %s", file)
	}
	if got := e.ids(`SELECT id FROM nodes WHERE id IN (SELECT id FROM trash)`); len(got) != 0 {
		t.Errorf("after the re-run %q are in nodes and trash at once", got)
	}
	last = e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	if st := e.syncTrash(); st.inserted != 0 || st.removed != 0 {
		t.Errorf("the SYNC TRASH after the re-run added %d and removed %d rows of trash, want none", st.inserted, st.removed)
	}
	e.sameTrash()
	e.sameRowIn("trash", "the SYNC TRASH", late)
	if got := e.ids(`SELECT concat_ws(' ', in_table, change, id) FROM changes WHERE sync_id > ?`, last); len(got) != 0 {
		t.Errorf("the SYNC TRASH after the re-run recorded %q", got)
	}
	e.nodesQuiet("the TRASH re-run")
}

// syncCounts is one row of a SYNC's result.
type syncCounts struct{ fetched, inserted, updated, removed int64 }

// syncTrash runs SYNC TRASH and returns its row of the trash table.
func (e *env) syncTrash() syncCounts {
	e.t.Helper()
	res, err := e.s.Run(e.t.Context(), `SYNC TRASH`)
	if err != nil {
		e.t.Fatalf("SYNC TRASH: %v", err)
	}
	defer res.Rows.Release()
	var st syncCounts
	for res.Rows.Next() {
		b := res.Rows.RecordBatch()
		for r := 0; r < int(b.NumRows()); r++ {
			if b.Column(0).(*array.String).Value(r) != "trash" {
				continue
			}
			n := func(i int) int64 { return b.Column(i).(*array.Int64).Value(r) }
			st = syncCounts{n(1), n(2), n(3), n(4)}
		}
	}
	if err := res.Rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// TestPurgeRestoredWithJournal (issue 23): a node a PURGE finds restored
// elsewhere (the service shows it available, read back right before the
// batch is sent) goes back into nodes in the transaction that journals it
// skipped. Here that journal write fails: the mirror keeps it in trash
// only, and the re-run reads it back again and moves it. Before, it was
// put into nodes in a transaction of its own: it stayed in nodes and
// trash at once, with no outcome.
func TestPurgeRestoredWithJournal(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 74}, 2)
	id := e.ids(`SELECT id FROM nodes WHERE kind = 'FILE' ORDER BY id LIMIT 1`)[0]
	if err := e.srv.TrashIDs(id); err != nil {
		t.Fatal(err)
	}
	e.mirror()
	if err := e.srv.RestoreIDs(id); err != nil {
		t.Fatal(err)
	}
	e.s.Yes = true
	unblock := e.blockOutcome(http.MethodGet, "/nodes/"+id)
	_, sum, err := e.try(t.Context(), `PURGE '`+id+`'`)
	unblock()
	t.Logf("the PURGE whose journal failed: %s (%v)", sum, err)
	if _, st, ok := e.srv.PathOf(id); !ok || st != "AVAILABLE" {
		t.Fatalf("the service shows %s %q, want it available (not purged)", id, st)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id); n != 0 {
		t.Errorf("nodes holds %s though its outcome was not journaled", id)
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Errorf("trash lost %s though its outcome was not journaled", id)
	}

	rows, sum := e.run(`PURGE '` + id + `'`)
	if len(rows) != 1 || rows[0].status != StatusSkipped || !strings.Contains(rows[0].detail, notInTrashDetail) {
		t.Fatalf("the re-run: %+v (%s), want %s skipped, %s", rows, sum, id, notInTrashDetail)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, id) + 2*e.count(`SELECT count(*) FROM trash WHERE id = ?`, id); n != 1 {
		t.Errorf("after the re-run %s is in nodes and trash as %d (1: nodes only)", id, n)
	}
}

// failChanges makes writes to changes fail from the first request
// matching method and path on (the table is renamed away, as a full disk
// would fail the write); the returned func puts it back.
func (e *env) failChanges(method, path string) func() {
	var once sync.Once
	e.rec.mu.Lock()
	e.rec.before = func(r *http.Request) {
		if r.Method == method && strings.Contains(r.URL.Path, path) {
			once.Do(func() { e.exec(`ALTER TABLE changes RENAME TO changes_away`) })
		}
	}
	e.rec.mu.Unlock()
	return func() {
		e.rec.mu.Lock()
		e.rec.before = nil
		e.rec.mu.Unlock()
		e.exec(`ALTER TABLE changes_away RENAME TO changes`)
	}
}

// TestRestoreSubtreeWithChanges (issue 23): the files RESTORE of a folder
// reads back below it go into nodes in the transaction that records them
// added. Here that write fails: nodes does not hold the file, so the SYNC
// after finds it and records it added. Before, the file was put into
// nodes in a transaction of its own: it stayed there with no changes row,
// and the SYNC after found it mirrored and recorded nothing.
func TestRestoreSubtreeWithChanges(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 75}, 2)
	if _, err := e.srv.MkdirAll("R/S"); err != nil {
		t.Fatal(err)
	}
	x := e.serviceHas("R/S", "x.jpg", "photo x, restored with its folder")
	r := e.folderOf("R")
	if err := e.srv.TrashIDs(r); err != nil {
		t.Fatal(err)
	}
	e.syncAll()
	if res, err := e.s.Run(t.Context(), `SYNC TRASH`); err != nil {
		t.Fatal(err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, x); n != 1 {
		t.Fatalf("the mirror's trash holds x.jpg %d times, want once", n)
	}
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	put := e.failChanges(http.MethodGet, "/nodes/"+r)
	rows, sum, err := e.try(t.Context(), `RESTORE '`+r+`'`)
	put()
	t.Logf("the RESTORE whose subtree's changes failed: %+v %s (%v)", rows, sum, err)
	if _, st, ok := e.srv.PathOf(x); !ok || st != "AVAILABLE" {
		t.Fatalf("the service shows x.jpg %q, want it restored with its folder", st)
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, x); n != 0 {
		t.Errorf("nodes holds x.jpg though its add was not recorded in changes")
	}
	if got := e.nodeChangeRows(last); len(got) != 0 {
		t.Errorf("changes holds %q, want nothing of x.jpg", got)
	}
	last = e.syncAll()
	if got, want := e.nodeChangeRows(last), []string{"added " + x + " x.jpg false "}; !slices.Equal(got, want) {
		t.Errorf("the SYNC after recorded %q, want %q", got, want)
	}
}

// TestCreateFolderTrashWithDrop (issue 23): the files CREATE FOLDER finds
// in the service's trash below a mirrored folder trashed elsewhere go into
// trash in the transaction that drops them from nodes and records it.
// Here that write fails: the file stays in nodes only. Before, it was put
// into trash in a transaction of its own: it was in nodes and trash at
// once.
func TestCreateFolderTrashWithDrop(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 10, Seed: 76}, 2)
	a := e.serviceHas("T/Gone", "a.jpg", "photo a, trashed with its folder")
	e.syncAll()
	e.syncFolders()
	gone := e.folderOf("T/Gone")
	if err := e.srv.TrashIDs(gone); err != nil {
		t.Fatal(err)
	}
	// The files below are read back by listing the folder.
	put := e.failChanges(http.MethodGet, "/nodes/"+gone+"/children")
	_, sum, err := e.try(t.Context(), `CREATE FOLDER 'T/Gone/Again'`)
	put()
	t.Logf("the CREATE FOLDER whose drop failed: %s (%v)", sum, err)
	if _, st, ok := e.srv.PathOf(a); !ok || st != "TRASH" {
		t.Fatalf("the service shows a.jpg %q, want it trashed with its folder", st)
	}
	if n := e.count(`SELECT count(*) FROM trash WHERE id = ?`, a); n != 0 {
		t.Errorf("trash holds a.jpg though the drop from nodes failed")
	}
	if n := e.count(`SELECT count(*) FROM nodes WHERE id = ?`, a); n != 1 {
		t.Errorf("nodes lost a.jpg though the drop failed")
	}
}
