package mirror_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apsql/apsql/emulator"
)

// folderTruth is one available folder as the service holds it, read from
// the emulator's own state (its folder map and node JSON), not over HTTP.
type folderTruth struct {
	name, parentID, path      string
	createdDate, modifiedDate time.Time
}

// folderTruths returns every available folder of the emulator, the root
// included (path "/"), by id.
func folderTruths(t *testing.T, srv *emulator.Server) map[string]folderTruth {
	t.Helper()
	paths := map[string]string{srv.RootID(): "/"}
	for p, id := range srv.State().Folders {
		paths[id] = "/" + p
	}
	out := map[string]folderTruth{}
	for id, p := range paths {
		raw, ok := srv.Node(id)
		if !ok {
			t.Fatalf("the emulator has no node for folder %s (%s)", id, p)
		}
		var n struct {
			Name         string   `json:"name"`
			Parents      []string `json:"parents"`
			CreatedDate  string   `json:"createdDate"`
			ModifiedDate string   `json:"modifiedDate"`
		}
		if err := json.Unmarshal(raw, &n); err != nil {
			t.Fatal(err)
		}
		f := folderTruth{name: n.Name, path: p}
		if id != srv.RootID() && len(n.Parents) > 0 {
			f.parentID = n.Parents[0]
		}
		var err error
		if f.createdDate, err = time.Parse(time.RFC3339Nano, n.CreatedDate); err != nil {
			t.Fatalf("folder %s: createdDate: %v", id, err)
		}
		if f.modifiedDate, err = time.Parse(time.RFC3339Nano, n.ModifiedDate); err != nil {
			t.Fatalf("folder %s: modifiedDate: %v", id, err)
		}
		out[id] = f
	}
	return out
}

// folderFields names the columns of folders whose values differ between
// a and b, sorted.
func folderFields(a, b folderTruth) []string {
	var f []string
	if a.name != b.name {
		f = append(f, "name")
	}
	if a.parentID != b.parentID {
		f = append(f, "parentId")
	}
	if a.path != b.path {
		f = append(f, "path")
	}
	if !a.createdDate.Equal(b.createdDate) {
		f = append(f, "createdDate")
	}
	if !a.modifiedDate.Equal(b.modifiedDate) {
		f = append(f, "modifiedDate")
	}
	slices.Sort(f)
	return f
}

// wantFolderChanges are the rows of changes, as "change id name fields",
// that turning the service's folders before into after is.
func wantFolderChanges(before, after map[string]folderTruth) []string {
	var want []string
	for id, a := range after {
		b, ok := before[id]
		switch {
		case !ok:
			want = append(want, fmt.Sprintf("added %s %s ", id, a.name))
		case len(folderFields(b, a)) > 0:
			want = append(want, fmt.Sprintf("changed %s %s %s", id, a.name, strings.Join(folderFields(b, a), ",")))
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

// strings runs q and returns its first column as text.
func (e *dedupeEnv) strings(t *testing.T, q string, args ...any) []string {
	t.Helper()
	rows, err := e.db.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// lastSyncID is the newest sync_id of changes (0 when it is empty).
func (e *dedupeEnv) lastSyncID(t *testing.T) string {
	t.Helper()
	return e.strings(t, `SELECT coalesce(max(sync_id), 0)::VARCHAR FROM changes`)[0]
}

// folderChangesSince are the folders rows of changes newer than sync id
// last, as "change id name fields", with the statement and by_apsql of
// any row that is not a SYNC's own, unjournaled find.
func (e *dedupeEnv) folderChangesSince(t *testing.T, last, statement string) (rows, odd []string) {
	t.Helper()
	rows = e.strings(t, `SELECT concat_ws(' ', change, id, name, coalesce(array_to_string(list_sort(fields), ','), '')) FROM changes
WHERE in_table = 'folders' AND sync_id > `+last+` ORDER BY 1`)
	odd = e.strings(t, `SELECT concat_ws(' ', statement, change, id, by_apsql) FROM changes
WHERE in_table = 'folders' AND sync_id > `+last+` AND (statement <> ? OR by_apsql) ORDER BY 1`, statement)
	return rows, odd
}

// sameFolderMirror checks the folders table against the service's folders.
func (e *dedupeEnv) sameFolderMirror(t *testing.T, truth map[string]folderTruth) {
	t.Helper()
	var want []string
	for id, f := range truth {
		want = append(want, strings.Join([]string{id, f.name, f.parentID, f.path}, "|"))
	}
	slices.Sort(want)
	got := e.strings(t, `SELECT concat_ws('|', id, name, coalesce("parentId", ''), path) FROM folders ORDER BY 1`)
	if !slices.Equal(got, want) {
		t.Errorf("the folders table differs from the service's folders:\n got %q\nwant %q", got, want)
	}
}

// TestSyncRecordsFolderChanges (issue 23 item 4): folders changed on the
// service behind apsql's back (made, renamed with folders below, moved
// under another with folders below, trashed, purged) are recorded by the
// next SYNC in changes, one row per folder with the columns that differ,
// by_apsql false (true for the one a journaled RENAME of apsql changed),
// exactly as the emulator's state before and after differs, and nothing
// else; the first SYNC into the empty table records
// nothing. Folders that CREATE FOLDER, MOVE and RENAME changed (a folder
// CREATE FOLDER found made elsewhere and reused included) are recorded by
// the statements, and the SYNC after them records nothing more.
func TestSyncRecordsFolderChanges(t *testing.T) {
	e := newDedupeEnv(t, emulator.Options{Nodes: 200, Seed: 41})
	for _, p := range []string{"T/A/A1", "T/A/A2/Deep", "T/B", "T/C", "T/D", "T/E"} {
		if _, err := e.srv.MkdirAll(p); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t, "SYNC")
	if got := e.strings(t, `SELECT id FROM changes WHERE in_table = 'folders'`); len(got) != 0 {
		t.Errorf("the first SYNC recorded %d folders as changes: %v", len(got), got)
	}
	before := folderTruths(t, e.srv)
	e.sameFolderMirror(t, before)
	id := func(p string) string {
		t.Helper()
		f, ok := e.srv.FolderID(p)
		if !ok {
			t.Fatalf("the service has no folder %s", p)
		}
		return f
	}
	a, a2, c, d, ee := id("T/A"), id("T/A/A2"), id("T/C"), id("T/D"), id("T/E")

	// Behind apsql's back: a rename with folders below, a move under
	// another folder with one below, a trash, a purge, two new folders.
	if err := e.srv.Rename(a, "Alpha"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Move(a2, "T/B"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.TrashIDs(c, d); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.PurgeIDs(d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.MkdirAll("T/New/Inner"); err != nil {
		t.Fatal(err)
	}
	// apsql renamed T/E itself (journaled), but its mirror update did not
	// happen (an interrupted statement): SYNC finds it changed, by apsql.
	if err := e.srv.Rename(ee, "Echo"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(context.Background(), `INSERT INTO actions_log (seq, "at", action, target, status, detail) VALUES (1000, now()::TIMESTAMP + INTERVAL 1 HOUR, 'RENAME', ?, 'ok', '')`, ee); err != nil {
		t.Fatal(err)
	}
	after := folderTruths(t, e.srv)
	want := wantFolderChanges(before, after)
	for _, w := range []string{"changed " + a + " Alpha", "changed " + id("T/Alpha/A1") + " A1 path", "changed " + a2 + " A2",
		"changed " + id("T/B/A2/Deep") + " Deep path", "removed " + c + " C ", "removed " + d + " D ", "added " + id("T/New") + " New ", "added " + id("T/New/Inner") + " Inner ", "changed " + ee + " Echo"} {
		if !slices.ContainsFunc(want, func(x string) bool { return strings.HasPrefix(x, w) }) {
			t.Fatalf("the emulator's own diff lacks %q (it is %q): the test's changes did not happen", w, want)
		}
	}
	if len(want) != 9 {
		t.Fatalf("the emulator's own diff is %q, want 9 folders changed", want)
	}

	last := e.lastSyncID(t)
	e.run(t, "SYNC")
	got, odd := e.folderChangesSince(t, last, "SYNC")
	if !slices.Equal(got, want) {
		t.Errorf("the SYNC's folders rows of changes:\n%s\nwant, from the emulator's state:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w := []string{"SYNC changed " + ee + " true"}; !slices.Equal(odd, w) {
		t.Errorf("rows not by the SYNC, or by_apsql: %q, want only the journaled rename %q", odd, w)
	}
	e.sameFolderMirror(t, after)

	// Nothing changed since: nothing recorded.
	last = e.lastSyncID(t)
	e.run(t, "SYNC FOLDERS")
	if got, _ := e.folderChangesSince(t, last, "SYNC FOLDERS"); len(got) != 0 {
		t.Errorf("a SYNC FOLDERS with nothing changed recorded %q", got)
	}

	// apsql's own statements: each records its folders itself, and the
	// next SYNC finds nothing more. T/Held is made on the service after the
	// SYNC, so CREATE FOLDER finds it taken (409) and reuses it.
	if _, err := e.srv.MkdirAll("T/Held"); err != nil {
		t.Fatal(err)
	}
	last = e.lastSyncID(t)
	b, alpha := id("T/B"), id("T/Alpha")
	for _, stmt := range []string{
		`CREATE FOLDER 'T/Made/Below'`,
		`CREATE FOLDER 'T/Held/Kid'`,
		`MOVE '` + alpha + `' TO 'T/Made'`,
		`RENAME '` + b + `' TO 'Beta'`,
	} {
		rows, _ := e.run(t, stmt)
		for _, r := range rows {
			if s := r["status"]; s != "ok" && s != "skipped" {
				t.Fatalf("%s: %v", stmt, rows)
			}
		}
	}
	actions := folderTruths(t, e.srv)
	for _, p := range []string{"T/Made/Below", "T/Held/Kid", "T/Made/Alpha/A1", "T/Beta/A2/Deep"} {
		id(p) // the statements did what they say on the service
	}
	e.sameFolderMirror(t, actions)
	byActions := e.strings(t, `SELECT DISTINCT id FROM changes WHERE in_table = 'folders' AND by_apsql AND sync_id > `+last+` ORDER BY 1`)
	for _, p := range []string{"T/Made", "T/Made/Below", "T/Held", "T/Held/Kid", "T/Made/Alpha", "T/Beta"} {
		if !slices.Contains(byActions, id(p)) {
			t.Errorf("no action recorded %s (%s); recorded %v", p, id(p), byActions)
		}
	}
	last = e.lastSyncID(t)
	e.run(t, "SYNC")
	if got, _ := e.folderChangesSince(t, last, "SYNC"); len(got) != 0 {
		t.Errorf("the SYNC after CREATE FOLDER, MOVE and RENAME recorded again:\n%s", strings.Join(got, "\n"))
	}
	e.sameFolderMirror(t, folderTruths(t, e.srv))
}
