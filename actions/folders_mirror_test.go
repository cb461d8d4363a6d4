package actions

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// The folders that actions write into the mirror, checked against the
// emulator's own state: each row as the service holds it (dates
// included), one changes row per folder the statement added, removed or
// changed with the columns that differ, and a SYNC right after that
// records no folder at all.

// svcFolder is one available folder as the emulator holds it, read from
// its state (folder map and node JSON), not over HTTP; dates in ms.
type svcFolder struct {
	name, parentID, path string
	created, modified    int64
}

// serviceFolders returns every available folder of the emulator, the
// root (path "/") included, by id.
func (e *env) serviceFolders() map[string]svcFolder {
	e.t.Helper()
	paths := map[string]string{e.srv.RootID(): "/"}
	for p, id := range e.srv.State().Folders {
		paths[id] = "/" + p
	}
	out := map[string]svcFolder{}
	for id, p := range paths {
		raw, ok := e.srv.Node(id)
		if !ok {
			e.t.Fatalf("the emulator has no node for folder %s (%s)", id, p)
		}
		var n struct {
			Name         string   `json:"name"`
			Parents      []string `json:"parents"`
			CreatedDate  string   `json:"createdDate"`
			ModifiedDate string   `json:"modifiedDate"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			e.t.Fatal(err)
		}
		f := svcFolder{name: n.Name, path: p}
		if id != e.srv.RootID() && len(n.Parents) > 0 {
			f.parentID = n.Parents[0]
		}
		for _, d := range []struct {
			s  string
			to *int64
		}{{n.CreatedDate, &f.created}, {n.ModifiedDate, &f.modified}} {
			t, err := time.Parse(time.RFC3339Nano, d.s)
			if err != nil {
				e.t.Fatalf("folder %s: %v", id, err)
			}
			*d.to = t.UnixMilli()
		}
		out[id] = f
	}
	return out
}

// mirroredFolders returns the folders table by id (a NULL date is -1).
func (e *env) mirroredFolders() map[string]svcFolder {
	e.t.Helper()
	rows, err := e.db.Query(e.t.Context(), `SELECT id, coalesce(name, ''), coalesce(parentId, ''), path,
  coalesce(epoch_ms(createdDate), -1), coalesce(epoch_ms(modifiedDate), -1) FROM folders`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]svcFolder{}
	for rows.Next() {
		var id string
		var f svcFolder
		if err := rows.Scan(&id, &f.name, &f.parentID, &f.path, &f.created, &f.modified); err != nil {
			e.t.Fatal(err)
		}
		out[id] = f
	}
	return out
}

// folderDiff names the folders columns whose values differ between a and
// b, sorted as list_sort sorts them.
func folderDiff(a, b svcFolder) []string {
	var f []string
	for _, c := range []struct {
		col  string
		same bool
	}{{"createdDate", a.created == b.created}, {"modifiedDate", a.modified == b.modified},
		{"name", a.name == b.name}, {"parentId", a.parentID == b.parentID}, {"path", a.path == b.path}} {
		if !c.same {
			f = append(f, c.col)
		}
	}
	return f
}

// folderChangeRows are the changes rows, as "change id name fields", that
// turning the folders before into after is.
func folderChangeRows(before, after map[string]svcFolder) []string {
	var want []string
	for id, a := range after {
		b, ok := before[id]
		switch {
		case !ok:
			want = append(want, fmt.Sprintf("added %s %s ", id, a.name))
		case len(folderDiff(b, a)) > 0:
			want = append(want, fmt.Sprintf("changed %s %s %s", id, a.name, strings.Join(folderDiff(b, a), ",")))
		}
	}
	for id, b := range before {
		if _, ok := after[id]; !ok {
			want = append(want, fmt.Sprintf("removed %s %s ", id, b.name))
		}
	}
	slices.Sort(want)
	return want
}

// folderTrack follows, through a test, the folders as the mirror should
// hold them: the service's as of the last SYNC or action.
type folderTrack struct {
	e    *env
	held map[string]svcFolder
}

// trackFolders runs a plain SYNC and starts tracking from it.
func (e *env) trackFolders() *folderTrack {
	e.t.Helper()
	e.syncAll()
	ft := &folderTrack{e: e, held: e.serviceFolders()}
	ft.sameRows("the first SYNC")
	return ft
}

// sameRows checks every row of the folders table, dates included,
// against the service's folders.
func (ft *folderTrack) sameRows(after string) {
	ft.e.t.Helper()
	show := func(m map[string]svcFolder) []string {
		var out []string
		for id, f := range m {
			out = append(out, fmt.Sprintf("%s|%s|%s|%s|%d|%d", id, f.name, f.parentID, f.path, f.created, f.modified))
		}
		slices.Sort(out)
		return out
	}
	got, want := show(ft.e.mirroredFolders()), show(ft.e.serviceFolders())
	var only []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			only = append(only, "mirror:  "+g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			only = append(only, "service: "+w)
		}
	}
	if len(only) > 0 {
		ft.e.t.Errorf("after %s, the folders table differs from the service's folders (id|name|parentId|path|created|modified, ms):\n%s",
			after, strings.Join(only, "\n"))
	}
}

// changeRows are the folders rows of changes newer than sync id last, as
// "change id name fields", and of them as "change id by_apsql".
func (ft *folderTrack) changeRows(last int) (rows, by []string) {
	ft.e.t.Helper()
	rows = ft.e.ids(`SELECT concat_ws(' ', change, id, name, coalesce(array_to_string(list_sort(fields), ','), '')) FROM changes
WHERE in_table = 'folders' AND sync_id > ? ORDER BY 1`, last)
	by = ft.e.ids(`SELECT concat_ws(' ', change, id, by_apsql) FROM changes WHERE in_table = 'folders' AND sync_id > ? ORDER BY 1`, last)
	return rows, by
}

// step runs stmt and checks that it recorded in changes exactly the
// folders it changed between the service as last mirrored and as it is
// now, and that the folders table holds the service's rows. It returns
// the statement's rows and, as "change id by_apsql", its folder changes.
func (ft *folderTrack) step(stmt string) ([]row, []string) {
	e := ft.e
	e.t.Helper()
	last := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	rows, sum := e.run(stmt)
	for _, r := range rows {
		if r.status != StatusOK && r.status != StatusSkipped {
			e.t.Fatalf("%s: %+v (%s)", stmt, rows, sum)
		}
	}
	now := e.serviceFolders()
	want := folderChangeRows(ft.held, now)
	got, by := ft.changeRows(last)
	if !slices.Equal(got, want) {
		e.t.Errorf("%s recorded in changes:\n%s\nwant, from the emulator's state:\n%s", stmt, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if stmts := e.ids(`SELECT DISTINCT statement FROM changes WHERE in_table = 'folders' AND sync_id > ?`, last); len(stmts) > 1 {
		e.t.Errorf("%s: folder changes by %v", stmt, stmts)
	}
	ft.sameRows(stmt)
	ft.held = now
	return rows, by
}

// syncQuiet runs a plain SYNC and checks that it records no folder and
// leaves the folders table as the service has it.
func (ft *folderTrack) syncQuiet(after string) {
	ft.e.t.Helper()
	last := ft.e.syncAll()
	if got, by := ft.changeRows(last); len(got) != 0 {
		ft.e.t.Errorf("the SYNC after %s recorded folders again:\n%s\n(by_apsql: %s)", after, strings.Join(got, "\n"), strings.Join(by, "; "))
	}
	ft.sameRows("the SYNC after " + after)
	ft.held = ft.e.serviceFolders()
}

// byAPSQL checks the "change id by_apsql" rows of a step: every row by
// apsql but those of the ids in behind (the service's own changes, found
// by the statement).
func (ft *folderTrack) byAPSQL(stmt string, by []string, behind ...string) {
	ft.e.t.Helper()
	for _, b := range by {
		f := strings.Fields(b)
		if want := fmt.Sprint(!slices.Contains(behind, f[1])); f[2] != want {
			ft.e.t.Errorf("%s: changes row %q, want by_apsql %s", stmt, b, want)
		}
	}
}

// TestUploadRecordsFolders (issue 23): the folders UPLOAD makes, and those
// it reuses because the service has them already (made elsewhere since
// the last SYNC, one spelled in another case than the local folder), go
// into the folders table as the service holds them (its spelling) and
// into changes as added by apsql; the SYNC right after records no folder.
// A second UPLOAD records only the folder it made.
func TestUploadRecordsFolders(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 61}, 0)
	ft := e.trackFolders()
	// Behind apsql's back, after the SYNC.
	if _, err := e.srv.MkdirAll("Dest/up/Held"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "up")
	writeFile(t, filepath.Join(dir, "HELD", "a.jpg"), "photo a")
	writeFile(t, filepath.Join(dir, "New", "Deep", "b.jpg"), "photo b")
	writeFile(t, filepath.Join(dir, "c.jpg"), "photo c")
	_, by := ft.step(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false)`)
	for _, p := range []string{"Dest/up/Held", "Dest/up/New/Deep"} {
		e.folderOf(p)
	}
	if n := len(e.serviceFolders()); n != len(ft.held) {
		t.Fatalf("the service holds %d folders after the UPLOAD, the test expected %d", n, len(ft.held))
	}
	ft.byAPSQL("UPLOAD", by)
	ft.syncQuiet("UPLOAD")

	// Again, with a new folder, into a folder renamed elsewhere (only its
	// case: the UPLOAD reuses it): the rename is recorded as the service's.
	newID := e.folderOf("Dest/up/New")
	time.Sleep(2 * time.Millisecond)
	if err := e.srv.Rename(newID, "NEW"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "New", "Deep", "More", "d.jpg"), "photo d")
	_, by = ft.step(`UPLOAD '` + dir + `' TO 'Dest' (DEDUP false)`)
	ft.byAPSQL("the second UPLOAD", by, newID, e.folderOf("Dest/up/NEW/Deep"))
	if len(by) != 3 {
		t.Errorf("the second UPLOAD recorded %v, want NEW, its folder Deep and the new More", by)
	}
	ft.syncQuiet("the second UPLOAD")
}

// TestCreateFolderRecords (issue 23): CREATE FOLDER writes the folders it
// makes and reuses as the service holds them: a reused folder spelled in
// another case than the statement's path keeps the service's spelling,
// and so do the paths of the folders made below it or below a mirrored
// folder spelled otherwise. A mirrored folder trashed elsewhere since the
// last SYNC leaves the mirror with its subtree, each recorded as removed
// (by the service: by_apsql false), before it is made again. The SYNC
// right after records no folder.
func TestCreateFolderRecords(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 62}, 0)
	for _, p := range []string{"T/A/B", "T/Gone/Below/Deeper"} {
		if _, err := e.srv.MkdirAll(p); err != nil {
			t.Fatal(err)
		}
	}
	ft := e.trackFolders()
	// Behind apsql's back, after the SYNC.
	if _, err := e.srv.MkdirAll("T/Held"); err != nil {
		t.Fatal(err)
	}
	_, by := ft.step(`CREATE FOLDER 't/HELD/Kid'`)
	ft.byAPSQL("CREATE FOLDER 't/HELD/Kid'", by)
	e.folderOf("T/Held/Kid")
	_, by = ft.step(`CREATE FOLDER 't/a/b/New'`)
	ft.byAPSQL("CREATE FOLDER 't/a/b/New'", by)
	e.folderOf("T/A/B/New")
	gone := e.folderOf("T/Gone")
	below := []string{gone, e.folderOf("T/Gone/Below"), e.folderOf("T/Gone/Below/Deeper")}
	if err := e.srv.TrashIDs(gone); err != nil { // behind apsql's back
		t.Fatal(err)
	}
	_, by = ft.step(`CREATE FOLDER 'T/Gone/Again'`)
	ft.byAPSQL("CREATE FOLDER 'T/Gone/Again'", by, below...)
	if id := e.folderOf("T/Gone"); id == gone {
		t.Fatalf("T/Gone is still %s on the service", id)
	}
	if n := e.count(`SELECT count(*) FROM changes WHERE in_table = 'folders' AND change = 'removed'`); n != len(below) {
		t.Errorf("%d folders recorded removed, want the %d of the subtree trashed elsewhere", n, len(below))
	}
	ft.syncQuiet("CREATE FOLDER")
}

// TestRestoreFolderRecords (issue 23): RESTORE of a folder writes it and
// the folders restored with it as the service holds them (dates as the
// restore left them) and records each as added, and the file below it
// too; TRASH of a folder records each folder of its subtree and the file
// below as removed. The SYNC right after each records nothing more.
func TestRestoreFolderRecords(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 63}, 0)
	if _, err := e.srv.MkdirAll("R/S/T"); err != nil {
		t.Fatal(err)
	}
	x, err := e.srv.Upload("R/S", "x.jpg", []byte("photo x"))
	if err != nil {
		t.Fatal(err)
	}
	// x's rows of changes since sync id last, as "statement change".
	fileRows := func(last int) []string {
		return e.ids(`SELECT statement || ' ' || change FROM changes WHERE in_table = 'nodes' AND id = ? AND sync_id > ? ORDER BY sync_id`, x, last)
	}
	r := e.folderOf("R")
	if err := e.srv.TrashIDs(r); err != nil { // behind apsql's back
		t.Fatal(err)
	}
	ft := e.trackFolders()
	start := e.count(`SELECT coalesce(max(sync_id), 0) FROM changes`)
	if res, err := e.s.Run(t.Context(), `SYNC TRASH`); err != nil {
		t.Fatal(err)
	} else if res.Rows != nil {
		res.Rows.Release()
	}
	time.Sleep(2 * time.Millisecond) // the restore's dates differ from the trash's
	_, by := ft.step(`RESTORE '` + r + `'`)
	ft.byAPSQL("RESTORE", by)
	if len(by) != 3 {
		t.Errorf("RESTORE recorded %v, want R, R/S and R/S/T", by)
	}
	ft.syncQuiet("RESTORE")

	time.Sleep(2 * time.Millisecond)
	_, by = ft.step(`TRASH '` + r + `'`)
	ft.byAPSQL("TRASH", by)
	ft.syncQuiet("TRASH")
	time.Sleep(2 * time.Millisecond)
	ft.step(`RESTORE '` + r + `'`)
	ft.syncQuiet("the second RESTORE")
	if folder, status, _ := e.srv.PathOf(x); folder != "R/S" || status != "AVAILABLE" {
		t.Fatalf("x.jpg is %s in %q on the service", status, folder)
	}
	if got, want := fileRows(start), []string{"RESTORE added", "TRASH removed", "RESTORE added"}; !slices.Equal(got, want) {
		t.Errorf("changes of x.jpg, in the folder restored, trashed and restored: %q, want %q (and nothing by a SYNC)", got, want)
	}
}

// TestMoveRenameFolderFields (issue 23): MOVE and RENAME of a folder
// record the fields of the folder that changed as the service changed
// them (its modifiedDate too), and the paths below; the SYNC right after
// records no folder.
func TestMoveRenameFolderFields(t *testing.T) {
	e := setup(t, emulator.Options{Nodes: 30, Seed: 64}, 0)
	for _, p := range []string{"Dest", "Src/Sub"} {
		if _, err := e.srv.MkdirAll(p); err != nil {
			t.Fatal(err)
		}
	}
	ft := e.trackFolders()
	src := e.folderOf("Src")
	time.Sleep(2 * time.Millisecond) // the move's modifiedDate differs
	ft.step(`MOVE '` + src + `' TO 'Dest'`)
	e.folderOf("Dest/Src/Sub")
	time.Sleep(2 * time.Millisecond)
	ft.step(`RENAME '` + src + `' TO 'Source'`)
	e.folderOf("Dest/Source/Sub")
	if n := e.count(`SELECT count(*) FROM changes WHERE id = ? AND list_contains(fields, 'modifiedDate')`, src); n != 2 {
		t.Errorf("%d rows record %s's modifiedDate, want the MOVE's and the RENAME's", n, src)
	}
	ft.syncQuiet("MOVE and RENAME")
}
